"""One registry of every model the benchmark runs, by name: the baselines and the LPM ("lpm").

All share the baselines' interface (``fit(p, r, c, y, n_perturbations, n_readouts, n_contexts,
vocab=None, val=None)``, ``predict(p, r, c)``), so ``lpm-kg eval`` can list and pick them by name::

    model_names()                 # ['global-mean', ..., 'linear', 'lpm']
    make_model("lpm", config=...) # an unfitted model
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lpm_kg.eval.baselines import BASELINES, Baseline


class LPMModel(Baseline):
    """The LPM (:class:`lpm_kg.model.LPM`) behind the baselines' interface: trained on the
    training tuples, early-stopped on ``val``; ``predict`` is the seed mean (the seed standard
    deviation of the last call is kept in ``last_std``).

    ``config``: an :class:`lpm_kg.model.LPMConfig`, a preset name, or None for the "small" preset.
    ``vocab`` at fit: a :class:`lpm_kg.model.Vocabulary` (or anything with perturbations, readouts
    and contexts lists, such as a TupleSet), so combinations ``A+B`` embed as the mean of their
    parts; without one, placeholder symbols are used and no perturbation is a combination.
    """

    name = "lpm"
    description = "the Large Perturbation Model (lpm_kg.model.LPM), early-stopped on validation"

    def __init__(self, config=None, show_progress: bool = False, device: str | None = None):
        self.config, self.show_progress, self.device = config, show_progress, device

    def __repr__(self) -> str:
        return f"LPMModel({self._config()!r})"

    def _config(self):
        from lpm_kg.model.config import LPMConfig, preset

        if self.config is None:
            return preset("small")
        if isinstance(self.config, str):
            return preset(self.config)
        if isinstance(self.config, dict):
            return LPMConfig(**self.config)
        return self.config

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        from lpm_kg.model import LPM, Vocabulary

        if vocab is None:
            vocab = Vocabulary([f"P{i}" for i in range(n_perturbations)], [f"R{i}" for i in range(n_readouts)],
                               [f"C{i}" for i in range(n_contexts)])
        elif not isinstance(vocab, Vocabulary):
            vocab = Vocabulary(list(vocab.perturbations), list(vocab.readouts), list(vocab.contexts))
        if (len(vocab.perturbations), len(vocab.readouts), len(vocab.contexts)) != (
                n_perturbations, n_readouts, n_contexts):
            raise ValueError("the vocabulary's sizes differ from n_perturbations, n_readouts, n_contexts")
        as32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
        train = (np.asarray(p), np.asarray(r), np.asarray(c), as32(y))
        val_t = None
        if val is not None and len(val[3]):
            val_t = (np.asarray(val[0]), np.asarray(val[1]), np.asarray(val[2]), as32(val[3]))
        config = self._config()
        self.model_ = LPM(config, vocab, device=self.device, priors=self._prior_source(config)).fit(
            train, val_t, show_progress=self.show_progress)
        if not self.model_.is_graph:
            _mean_for_untrained(self.model_, train[0], train[1])
        return self

    def _prior_source(self, config):
        return None

    def predict(self, p, r, c):
        mean, std = self.model_.predict_ids(p, r, c)
        self.last_std = np.asarray(std, dtype=np.float64)
        return np.asarray(mean, dtype=np.float64)


def _mean_for_untrained(model, p, r) -> None:
    """The paper's LPM has nothing to say about a perturbation or readout it never trained on: give
    it the mean of the trained embeddings (so it predicts like an average known one), not its
    random initial vector."""
    import torch

    v = model.vocab
    atoms = np.unique(v.atom_matrix()[np.unique(p)])
    trained_atoms = np.zeros(len(v.atoms) + 1, bool)
    trained_atoms[atoms] = True
    trained_atoms[len(v.atoms)] = True  # the padding row stays as it is
    trained_readouts = np.zeros(len(v.readouts), bool)
    trained_readouts[np.unique(r)] = True
    with torch.no_grad():
        for module in model.modules.values():
            for table, trained in ((module.perturbation.weight, trained_atoms), (module.readout.weight, trained_readouts)):
                mask = torch.as_tensor(trained, device=table.device)
                rows = mask.clone()  # the rows the mean is over
                if table is module.perturbation.weight:
                    rows[len(v.atoms)] = False  # the padding row is zero: not in the mean
                if (~mask).any() and rows.any():
                    table[~mask] = table[rows].mean(0)


def _registry() -> dict[str, type[Baseline]]:
    from lpm_kg.eval.graph_models import GraphLPMModel, GraphNeighbourTransfer, LinearPriors
    from lpm_kg.eval.sibling import AnnotationTransfer, SiblingTransfer
    from lpm_kg.eval.stack import StackedLPM

    return {**BASELINES, SiblingTransfer.name: SiblingTransfer, LPMModel.name: LPMModel,
            GraphNeighbourTransfer.name: GraphNeighbourTransfer, LinearPriors.name: LinearPriors,
            GraphLPMModel.name: GraphLPMModel, AnnotationTransfer.name: AnnotationTransfer,
            StackedLPM.name: StackedLPM}


MODELS: dict[str, type[Baseline]] = _registry()
#: The model lpm-kg trains by default (the ``stack-*`` presets): benchmarks/results/bench_default.md.
DEFAULT_MODEL = "lpm-stack"


def model_names(graph: bool = True) -> list[str]:
    """Every model; without ``graph``, only those that need no reference knowledge."""
    return [n for n, cls in MODELS.items() if graph or not getattr(cls, "needs_knowledge", False)]


def describe_models() -> dict[str, str]:
    """Name -> one-line description, for ``lpm-kg models``; the default model says so."""
    return {name: ("(default) " if name == DEFAULT_MODEL else "") + cls.description for name, cls in MODELS.items()}


def make_model(name: str, **options) -> Baseline:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
    return MODELS[name](**options)


def resolve_models(models, lpm_config=None, knowledge=None) -> dict[str, Callable[[], Baseline]]:
    """Name -> factory from None (every model; those needing reference knowledge only when
    ``knowledge`` is given), a list of names, or a dict of name -> factory (a class, or any
    callable returning an unfitted model). ``lpm_config`` configures "lpm" and "graph-lpm"."""
    if models is None:
        models = model_names(graph=knowledge is not None)
    if isinstance(models, str):
        models = [models]
    if isinstance(models, dict):
        return dict(models)
    out: dict[str, Callable[[], Baseline]] = {}
    for name in models:
        if name not in MODELS:
            raise KeyError(f"unknown model {name!r}; models: {', '.join(MODELS)}")
        cls = MODELS[name]
        if getattr(cls, "needs_knowledge", False) and knowledge is None:
            raise ValueError(f"model {name!r} needs the graph's reference knowledge (pass knowledge=)")
        if name == LPMModel.name:
            out[name] = lambda cfg=lpm_config: LPMModel(cfg)
        elif name == "graph-lpm" or getattr(cls, "uses_knowledge", False):
            out[name] = lambda cfg=lpm_config, cls=cls: cls(cfg, knowledge=knowledge)
        elif getattr(cls, "needs_knowledge", False):
            out[name] = lambda cls=cls: cls(knowledge=knowledge)
        else:
            out[name] = cls
    return out
