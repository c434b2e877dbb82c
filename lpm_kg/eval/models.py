"""One registry of every model the benchmark runs, by name: the baselines and the LPM ("lpm").

All share the baselines' interface (``fit(p, r, c, y, n_perturbations, n_readouts, n_contexts,
vocab=None, val=None)``, ``predict(p, r, c)``), so ``lpm-kg eval`` can list and pick them by name::

    model_names()                 # ['global-mean', ..., 'linear', 'lpm']
    make_model("lpm", config=...) # an unfitted model
"""

from __future__ import annotations

from collections.abc import Callable


from lpm_kg.eval.baselines import BASELINES, Baseline
from lpm_kg.eval.graph_models import GraphLPMModel, GraphNeighbourTransfer, LinearPriors
from lpm_kg.eval.lpm_model import LPMModel
from lpm_kg.eval.sibling import AnnotationTransfer, SiblingTransfer
from lpm_kg.eval.stack import StackedLPM
from lpm_kg.registry import Registry


MODELS: Registry[type[Baseline]] = Registry("model", "lpm-kg models")
MODELS.update(BASELINES)
for _cls in (SiblingTransfer, LPMModel, GraphNeighbourTransfer, LinearPriors, GraphLPMModel, AnnotationTransfer,
             StackedLPM):
    MODELS.register(_cls)
#: The model lpm-kg trains by default (the ``stack-*`` presets): benchmarks/results/bench_default.md.
DEFAULT_MODEL = "lpm-stack"


def model_names(graph: bool = True) -> list[str]:
    """Every model; without ``graph``, only those that need no reference knowledge."""
    return [n for n, cls in MODELS.items() if graph or not getattr(cls, "needs_knowledge", False)]


def describe_models() -> dict[str, str]:
    """Name -> one-line description, for ``lpm-kg models``; the default model says so."""
    return {name: ("(default) " if name == DEFAULT_MODEL else "") + cls.description for name, cls in MODELS.items()}


def make_model(name: str, **options) -> Baseline:
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
