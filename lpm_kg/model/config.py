"""The LPM's settings, with the paper's presets (docs/lpm-model.md) looked up by name."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer

from lpm_kg.errors import ConfigError
from lpm_kg.priors.encoder import PriorSpec
from lpm_kg.registry import Registry


class LPMConfig(BaseModel):
    # Finite numbers only: an infinite learning rate or init trains NaN (issue 24).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    embedding_dim: int = Field(128, ge=1, description="width d of each of the three embedding tables")
    hidden: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [256, 256],
                                                      description="MLP hidden layer widths")
    dropout: float = Field(0.1, ge=0, lt=1)
    batch_size: int = Field(1000, ge=1, description="tuples per batch")
    learning_rate: float = Field(0.002, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    lr_decay: float = Field(0.97, gt=0, le=1, description="learning-rate factor applied once per epoch")
    max_epochs: int = Field(50, ge=1)
    patience: int | None = Field(5, ge=1, description="stop after this many epochs without a better validation "
                                                      "loss (None: never stop early)")
    seeds: list[int] = Field(default_factory=lambda: [13, 14, 15, 16, 17], min_length=1)
    # The reference keeps torch's N(0, 1) for the tables. In benchmarks/bench_accuracy.py, N(0, 0.1)
    # beat it on every real set tried (sci-Plex, Replogle, L1000), so it is our default; pass 1.0 to
    # reproduce the reference.
    embedding_init_std: float = Field(0.1, gt=0, description="std of the normal init of the embedding tables "
                                                             "(1.0 reproduces the reference's torch default)")
    device: str = Field("auto", description="auto (CUDA when present), cpu, or cuda[:n]")
    # Both loops train the same function; "fast" skips work the paper's loop repeats per tuple
    # (lpm_kg.model.fast; measured in benchmarks/bench_train.py against "reference").
    loop: Literal["fast", "reference"] = Field("fast", description="fast: first layer once per distinct symbol, "
                                               "fused AdamW, cheap CPU dropout masks; reference: the paper's loop")
    # A top list (Replogle's top-1000-up genes) says of every gene it leaves out that it was not
    # among the top; trained on the listed values alone the LPM never learns which genes a
    # perturbation leaves unchanged (benchmarks/bench_discovery.py measured the embeddings).
    implicit_zeros: float = Field(0.0, ge=0, le=10, description="for top-list experiments (value_kind top_*): "
                                  "also train on this many zeros per listed value, drawn among the readouts an "
                                  "experiment left out of its list (0: the listed values only)")
    shared_rank: int = Field(0, ge=0, le=1024, description="paper's LPM: rank of a perturbation x readout term "
                             "that no context enters, a perturbation's effect shared across contexts (0: the paper's "
                             "model)")
    shared_dropout: float = Field(0.0, ge=0, lt=1, description="paper's LPM with shared_rank: chance a training "
                                  "tuple's MLP does not see the perturbation, so the shared term learns to carry its "
                                  "effect alone")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # A setting added after runs were named: left out while at its default, so the run id (a
        # digest of the dumped config) of every run made before it existed stays the same.
        out = handler(self)
        for key in ("implicit_zeros", "shared_rank", "shared_dropout"):
            if out.get(key) == 0:
                del out[key]
        return out

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds {seeds} repeat a seed: an ensemble of one seed twice is that seed")
        return seeds

    @field_validator("device")
    @classmethod
    def _device_name(cls, device: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
            raise ValueError(f"device {device!r} is not auto, cpu, cuda or cuda:N")
        return device

    # The graph-informed LPM (lpm_kg.model.graph_module): None is the paper's model.
    priors: PriorSpec | None = Field(None, description="gene priors from the graph's reference relations "
                                                       "(None: the paper's LPM, no priors)")
    free_dropout: float = Field(0.5, ge=0, lt=1, description="graph LPM: chance a learned (free) embedding is "
                                                             "dropped whole in a training step")
    interaction_rank: int = Field(32, ge=1, description="graph LPM: rank of the perturbation x readout term")
    # lpm-kg's default (lpm_kg.stacked): this LPM and its graph-informed twin stacked with the linear
    # models, weights fitted on validation (benchmarks/bench_default.py measured it against the bar).
    stack: bool = Field(False, description="train the paper's LPM and (when the graph has reference relations) "
                                           "the graph LPM, and stack them with linear, linear-priors, additive and "
                                           "sibling transfer and the median, weights fitted on validation")


PRESETS: Registry[LPMConfig] = Registry("model preset", "lpm-kg presets")
PRESETS.update({
    "l1000": LPMConfig(),
    "replogle-k562": LPMConfig(embedding_dim=32, hidden=[512, 512], dropout=0.0, batch_size=5000,
                               learning_rate=0.002, lr_decay=0.99),
    "replogle-rpe1": LPMConfig(embedding_dim=32, hidden=[512, 512], dropout=0.0, batch_size=5000,
                               learning_rate=0.005, lr_decay=0.99),
    # Small and quick, for the demo and tests: a few seeds, small tables.
    "small": LPMConfig(embedding_dim=32, hidden=[128, 128], dropout=0.0, batch_size=512, learning_rate=0.003,
                       lr_decay=0.98, max_epochs=40, patience=5, seeds=[13, 14, 15], embedding_init_std=0.1),
})


# Each preset again with graph priors: the graph-informed LPM ("graph-l1000", ...), and as the
# stacked default ("stack-l1000", ...: lpm_kg.stacked), whose graph LPM has the priors.
_PAPER = list(PRESETS.items())
PRESETS.update({f"graph-{name}": cfg.model_copy(update={"priors": PriorSpec()}) for name, cfg in _PAPER})
PRESETS.update({f"stack-{name}": cfg.model_copy(update={"priors": PriorSpec(), "stack": True}) for name, cfg in _PAPER})
#: The preset a sync trains when its config names none: the model that measured best
#: (benchmarks/results/bench_default.md).
DEFAULT_PRESET = "stack-l1000"


def preset(name: str, **overrides) -> LPMConfig:
    """Preset ``name`` with ``overrides`` validated. A table for a nested setting (``priors``)
    updates the preset's table rather than replacing it: ``priors = {annotations = ["HAS_MOA"]}``
    keeps the preset's relations."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; presets: {', '.join(PRESETS)}")
    merged = PRESETS[name].model_dump()
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        return LPMConfig.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(part) for part in err["loc"])
        fields = LPMConfig.model_fields
        hint = f" ({fields[key].description})" if key in fields and fields[key].description else ""
        raise ConfigError(f"model preset {name!r}: override '{key}' = {err.get('input')!r}: {err['msg']}{hint}; "
                          "fix it under [model] overrides") from None
