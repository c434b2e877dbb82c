"""The training pipeline on the graph: pull tuples, build vocabularies, hold out a validation
share of experiments for early stopping, train the seed ensemble. Its config is saved with the
results (the ModelRun and the checkpoint), so a run can be replayed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lpm_kg.graph.connection import Graph
from lpm_kg.graph.datasets import measurement_datasets
from lpm_kg.graph.pull import TupleSet, average_replicate_tuples, implicit_zeros, pull_tuples, top_list_contexts
from lpm_kg.graph.runs import WritebackError, check_run_id, get_model_run
from lpm_kg.model import LPM, LPMConfig, Vocabulary
from lpm_kg.model.config import DEFAULT_PRESET
from lpm_kg.model.config import preset as get_preset
from lpm_kg.priors import fit_gene_priors, read_knowledge
from lpm_kg.priors.inputs import PriorSource
from lpm_kg.stacked import StackedModel, make_model


class TrainConfig(BaseModel):
    """What to train on and how: the replayable part of a model run."""

    model_config = ConfigDict(extra="forbid")

    datasets: list[str] | None = Field(None, description="measurement datasets (default: every complete one)")
    preset: str = Field(DEFAULT_PRESET, description="model preset; `lpm-kg presets` lists them (default: the "
                                                    "stacked model, which measured best)")
    overrides: dict = Field(default_factory=dict, description="LPMConfig fields that override the preset")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share of experiments held out for early stopping")
    split_seed: int = 0

    def lpm_config(self) -> LPMConfig:
        return get_preset(self.preset, **self.overrides)


def data_fingerprint(graph: Graph, datasets: list[str] | None) -> tuple[str, list[str]]:
    """A hash of the (dataset, checksum) pairs a run trains on: equal exactly when the data is."""
    pairs = measurement_datasets(graph, datasets)
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16], [p[0] for p in pairs]


#: Bump when what a run spec holds, or how its run id is derived, changes: the ModelRun stores it.
RUN_SPEC_VERSION = 1


class RunSpec(BaseModel):
    """A run's *resolved* settings: the data it trains on (by checksum), the model settings its
    preset and overrides resolved to, the validation split, and the reference knowledge of a
    graph-informed model. Its digest is the run id and it is stored on the ``ModelRun``, so a
    preset or a default that changes gives a new run, never a stale "up to date"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec_version: int = RUN_SPEC_VERSION
    data_fingerprint: str
    datasets: list[str]
    model: LPMConfig
    validation_fraction: float
    split_seed: int
    knowledge_fingerprint: str | None = None

    @property
    def run_id(self) -> str:
        """Deterministic: an interrupted run resumes its own checkpoint, a changed one starts anew."""
        return f"lpm-{hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]}"


def legacy_run_id(fingerprint: str, config: TrainConfig, knowledge_fingerprint: str | None = None) -> str:
    """The run id of a run made before run specs (lpm-kg <= 0.x stored no ``spec``): a digest of
    the preset's *name* and overrides. Only read, to recognise such a run (lpm_kg.sync)."""
    digest = hashlib.sha256((fingerprint + config.model_dump_json() + (knowledge_fingerprint or "")).encode()
                            ).hexdigest()[:12]
    return f"lpm-{digest}"


def checkpoint_path(runs_dir: Path, run_id: str) -> Path:
    """Where run ``run_id``'s checkpoint lives: ``runs_dir/<run_id>.pt``. The run id is checked
    first (run ids come back from the graph, which anyone with write access can edit), so no run id
    can name a file outside ``runs_dir``; an invalid one raises a :class:`WritebackError`."""
    try:
        check_run_id(run_id)
    except WritebackError as e:
        raise WritebackError(f"refusing to build a checkpoint path under {runs_dir}: {e}; the ModelRun in the "
                             "graph is not one lpm-kg wrote: delete it (`lpm-kg prune`) and retrain "
                             "(`lpm-kg sync`)") from None
    path = Path(runs_dir) / f"{run_id}.pt"
    if path.parent != Path(runs_dir):  # belt and braces: RUN_ID allows no separator
        raise WritebackError(f"run id {run_id!r} names a checkpoint outside {runs_dir}")
    return path


def file_digest(path: Path) -> str:
    """SHA-256 of a file (a checkpoint), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def validation_mask(tuples: TupleSet, fraction: float, seed: int) -> np.ndarray:
    """Hold out whole experiments ((perturbation, context) pairs) for early stopping, never Control
    and never a perturbation's last experiment: a perturbation seen only in validation would keep
    its random embedding, be written back as if learned, and make early stopping meaningless."""
    if fraction <= 0:
        return np.zeros(len(tuples), bool)
    nc = len(tuples.contexts)
    exp = tuples.perturbation.astype(np.int64) * nc + tuples.context
    uniq = np.unique(exp)
    control = tuples.perturbations.index("Control") if "Control" in tuples.perturbations else -1
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    kept: set[int] = set()
    candidates = []
    for e in uniq[order]:  # the first experiment of each perturbation, in random order, stays in training
        p = int(e // nc)
        if p == control:
            continue
        if p in kept:
            candidates.append(e)
        else:
            kept.add(p)
    n_held = min(len(candidates), int(round(fraction * len(uniq))))
    held = np.asarray(candidates[:n_held], dtype=np.int64)
    return np.isin(exp, held)


@dataclass
class TrainResult:
    model: LPM | StackedModel
    tuples: TupleSet
    val_mask: np.ndarray
    fingerprint: str
    datasets: list[str]
    run_id: str
    metrics: dict
    spec: RunSpec
    knowledge: object | None = None  # lpm_kg.priors.Knowledge, for a graph-informed model
    priors: object | None = None  # lpm_kg.priors.GenePriors


def read_model_knowledge(graph: Graph, config: TrainConfig):
    """The reference knowledge a graph-informed model's priors come from (None for the paper's LPM)."""
    prior_spec = config.lpm_config().priors
    if prior_spec is None:
        return None
    return read_knowledge(graph, prior_spec.relations, prior_spec.annotations)


@dataclass(frozen=True)
class RunIdentity:
    """What names a run before it trains: its resolved spec and, for a graph-informed model, the
    reference knowledge its priors come from (read once, reused by the training)."""

    spec: RunSpec
    knowledge: object | None  # lpm_kg.priors.Knowledge

    @property
    def run_id(self) -> str:
        return self.spec.run_id


def resolve_run(graph: Graph, config: TrainConfig) -> RunIdentity:
    """Resolve ``config`` against the graph (its datasets and their checksums, the preset's
    settings, the reference knowledge) into the run it names."""
    fingerprint, datasets = data_fingerprint(graph, config.datasets)
    knowledge = read_model_knowledge(graph, config)
    spec = RunSpec(data_fingerprint=fingerprint, datasets=datasets, model=config.lpm_config(),
                   validation_fraction=config.validation_fraction, split_seed=config.split_seed,
                   knowledge_fingerprint=knowledge.fingerprint() if knowledge else None)
    return RunIdentity(spec, knowledge)


def legacy_run_for(graph: Graph, config: TrainConfig, identity: RunIdentity) -> tuple[str | None, str | None]:
    """A complete run made before run specs under ``config`` on the same data (its old run id), whose
    stored resolved settings are the spec's: that run *is* this one, kept under its old id rather
    than trained again. Returns ``(its run id, None)``; ``(None, why)`` when such a run exists but
    cannot stand for this one (its preset resolves otherwise today: the stale "up to date" a run id
    of preset names gave); ``(None, None)`` when there is none."""
    spec = identity.spec
    old_id = legacy_run_id(spec.data_fingerprint, config, spec.knowledge_fingerprint)
    run = get_model_run(graph, old_id)
    if run is None or run.get("spec") is not None or run.get("status") != "complete":
        return None, None
    stored = run.get("resolved_config")
    if stored is None:
        return None, (f"model run {old_id} predates run specs and stored no resolved settings, so it cannot be "
                      f"shown to be this run: training {identity.run_id}")
    today = spec.model.model_dump()
    changed = sorted(k for k in set(stored) | set(today) if stored.get(k) != today.get(k))
    if not changed:
        return old_id, None
    return None, (f"model run {old_id} was trained with settings its preset no longer resolves to "
                  f"({', '.join(changed)}): training {identity.run_id}")


def train_from_graph(graph: Graph, config: TrainConfig, *, checkpoint_dir: Path | None = None,
                     show_progress: bool = True, identity: RunIdentity | None = None) -> TrainResult:
    """``identity``: what :func:`resolve_run` returned for this graph and config, when the caller
    already has it (the reference knowledge is then not read a second time)."""
    identity = identity or resolve_run(graph, config)
    spec, knowledge, run_id = identity.spec, identity.knowledge, identity.run_id
    fingerprint, datasets = spec.data_fingerprint, spec.datasets
    if not datasets:
        raise ValueError("no complete measurement dataset to train on; load one first (`lpm-kg load`)")
    lpm_config = spec.model
    source = priors = None
    if knowledge is not None:
        priors = fit_gene_priors(knowledge, lpm_config.priors)
        source = PriorSource(knowledge, priors)
    tuples = average_replicate_tuples(pull_tuples(graph, datasets))
    vocab = Vocabulary(tuples.perturbations, tuples.readouts, tuples.contexts)
    val = validation_mask(tuples, spec.validation_fraction, spec.split_seed)
    arrays = (tuples.perturbation, tuples.readout, tuples.context, tuples.value)
    n_zeros = 0
    if lpm_config.implicit_zeros > 0:  # top lists: the unlisted genes' zeros train too, validation stays measured
        zeros = implicit_zeros(tuples, top_list_contexts(graph, datasets), lpm_config.implicit_zeros, spec.split_seed)
        n_zeros = len(zeros[3])
        if n_zeros:  # appended after the measured tuples, so the validation rows stay where they were
            arrays = tuple(np.concatenate([a, z.astype(a.dtype)]) for a, z in zip(arrays, zeros))
    # Training and validation are index views of the arrays, never copies of them.
    row_type = np.int32 if len(arrays[3]) < 2 ** 31 else np.int64
    train_rows = np.concatenate([np.flatnonzero(~val), np.arange(len(tuples), len(arrays[3]))]).astype(row_type)
    val_rows = np.flatnonzero(val).astype(row_type)
    model = make_model(lpm_config, vocab, priors=source)
    checkpoint = checkpoint_path(checkpoint_dir, run_id) if checkpoint_dir else None
    model.fit(arrays, rows=(train_rows, val_rows if len(val_rows) else None), checkpoint=checkpoint,
              show_progress=show_progress)
    metrics: dict = {"n_tuples": int(len(tuples)), "n_train": int((~val).sum()), "n_val": int(val.sum())}
    if n_zeros:
        metrics["n_implicit_zeros"] = n_zeros
    if len(val_rows):
        mean, _ = model.predict_ids(*(a[val_rows] for a in arrays[:3]))
        y = arrays[3][val_rows]
        metrics["val_rmse"] = float(np.sqrt(np.mean((mean - y) ** 2)))
        metrics["val_pearson"] = float(np.corrcoef(mean, y)[0, 1]) if len(y) > 1 else float("nan")
    metrics["epochs"] = {str(s): st.epoch for s, st in model.states.items()}
    if isinstance(model, StackedModel):
        metrics["stack_weights"] = model.weights()
    if priors is not None:
        metrics["prior_run"] = priors.run_id
        metrics["genes_with_prior"] = int(priors.has_prior.sum())
    return TrainResult(model, tuples, val, fingerprint, datasets, run_id, metrics, spec, knowledge, priors)
