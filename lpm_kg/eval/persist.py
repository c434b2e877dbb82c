"""The closed-form experts' fitted state as tensors and plain containers, so a checkpoint holding
them loads with ``torch.load(weights_only=True)`` (:mod:`lpm_kg.model.lpm`: a checkpoint is never a
pickle of objects). Only what ``predict`` reads is kept: not the training tuples, and not the
reference knowledge (the model that owns the experts restores it from its own checkpoint)."""

from __future__ import annotations

import numpy as np
import torch

from lpm_kg.eval.baselines import AdditiveTransfer, ContextReadoutMean, ContextReadoutMedian, Linear, _SparseMeans
from lpm_kg.eval.graph_models import LinearPriors
from lpm_kg.eval.sibling import AnnotationTransfer, SiblingTransfer

CLASSES = {cls.__name__: cls for cls in (AdditiveTransfer, ContextReadoutMean, ContextReadoutMedian, Linear,
                                         _SparseMeans, LinearPriors, SiblingTransfer,
                                         AnnotationTransfer)}
# Fit-time state that prediction never reads (LinearPriors' training deviations), or that the owner
# supplies again (the knowledge).
SKIPPED = {"LinearPriors": {"knowledge", "dev_", "train_", "spec", "priors"}, "AnnotationTransfer": {"knowledge"}}


def _encode(value):
    if isinstance(value, np.ndarray):
        return {"__array__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if type(value).__name__ in CLASSES:
        return expert_state(value)
    if isinstance(value, dict):
        return {"__dict__": [[k, _encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in an expert's state")


def _decode(value, knowledge):
    if isinstance(value, dict):
        if "__array__" in value:
            return value["__array__"].numpy()
        if "__class__" in value:
            return expert_from_state(value, knowledge)
        if "__dict__" in value:
            return {k: _decode(v, knowledge) for k, v in value["__dict__"]}
    if isinstance(value, list):
        return [_decode(v, knowledge) for v in value]
    return value


def expert_state(obj) -> dict:
    """``{"__class__": name, "fields": ...}`` of a fitted expert (nested experts included)."""
    name = type(obj).__name__
    if name not in CLASSES:
        raise TypeError(f"{name} is not a storable expert ({', '.join(CLASSES)})")
    skip = SKIPPED.get(name, set())
    return {"__class__": name, "fields": {k: _encode(v) for k, v in vars(obj).items() if k not in skip}}


def expert_from_state(state: dict, knowledge=None):
    """The expert :func:`expert_state` stored; ``knowledge`` for those that read it (linear-priors)."""
    cls = CLASSES[state["__class__"]]
    obj = cls.__new__(cls)
    for k, v in state["fields"].items():
        setattr(obj, k, _decode(v, knowledge))
    if state["__class__"] == "LinearPriors":
        obj.knowledge, obj.spec, obj.priors = knowledge, None, None
    if state["__class__"] == "AnnotationTransfer":
        obj.knowledge = knowledge
    return obj
