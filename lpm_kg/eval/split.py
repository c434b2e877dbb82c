"""The benchmark split of the paper ("unseen experiments", docs/lpm-model.md).

Pick a target context. A seeded share of its perturbations (15 % by default) goes to validation,
another share (15 %) to test; the rest of the target context and every other context train whole.
The test therefore asks for perturbations the model knows (from other contexts) in a context it
knows, in combinations never observed together. The Control perturbation always stays in train.

By default only perturbations that are also measured in another context are drawn for
validation and test (``known_only=True``): a perturbation measured in the target context alone
would be unseen in training, which is a different task (out-of-vocabulary). The shares are
taken of those candidates. ``known_only=False`` draws from all of the target's perturbations.

Everything works on the id arrays of a :class:`lpm_kg.graph.pull.TupleSet` (or plain arrays);
nothing touches the database. The draw is a function of ``seed`` alone
(``np.random.default_rng(seed)`` over the sorted candidate ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lpm_kg.registry import Registry
from lpm_kg.symbols import CONTROL


@dataclass
class Split:
    """Boolean masks over the tuples, and the target context's perturbation ids in each part."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    target_context: int
    seed: int
    train_perturbations: np.ndarray  # the target context's perturbations that stay in train (Control too)
    val_perturbations: np.ndarray
    test_perturbations: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"n_train": int(self.train.sum()), "n_val": int(self.val.sum()), "n_test": int(self.test.sum())}


def _arrays(tuples_or_arrays):
    """(p, r, c, perturbation symbols or None, context symbols or None) from a TupleSet or (p, r, c[, y])."""
    if hasattr(tuples_or_arrays, "perturbation"):
        t = tuples_or_arrays
        return (np.asarray(t.perturbation), np.asarray(t.readout), np.asarray(t.context), list(t.perturbations),
                list(t.contexts))
    arrays = tuple(tuples_or_arrays)
    if len(arrays) not in (3, 4):
        raise ValueError("pass a TupleSet or a (p, r, c) / (p, r, c, y) tuple of id arrays")
    p, r, c = (np.asarray(a) for a in arrays[:3])
    if not (len(p) == len(r) == len(c)):
        raise ValueError(f"p, r, c differ in length ({len(p)}, {len(r)}, {len(c)})")
    return p, r, c, None, None


def _control_id(perturbations: list[str] | None, control_id: int | None) -> int | None:
    if control_id is not None:
        return int(control_id)
    if perturbations is not None and CONTROL in perturbations:
        return perturbations.index(CONTROL)
    return None


def _context_id(target_context, contexts: list[str] | None) -> int:
    if isinstance(target_context, str):
        if contexts is None or target_context not in contexts:
            raise ValueError(f"unknown target context {target_context!r}")
        return contexts.index(target_context)
    return int(target_context)


def _known_elsewhere(p: np.ndarray, c: np.ndarray, target: int) -> np.ndarray:
    """Sorted perturbation ids measured in at least one context other than ``target``."""
    return np.unique(p[c != target])


def _draw(candidates: np.ndarray, fractions, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (validation, test) ids: seeded shares ``fractions[1:]`` of ``candidates``."""
    f_train, f_val, f_test = (float(f) for f in fractions)
    if min(f_train, f_val, f_test) < 0 or abs(f_train + f_val + f_test - 1.0) > 1e-6:
        raise ValueError(f"fractions {fractions} must be non-negative and sum to 1")
    n = len(candidates)
    n_val, n_test = int(round(f_val * n)), int(round(f_test * n))
    if n >= 3:  # a non-empty share gets at least one once there are enough to go round
        n_val, n_test = max(n_val, int(f_val > 0)), max(n_test, int(f_test > 0))
    if n_val + n_test > n:
        raise ValueError(f"{what} has only {n} candidates for the split")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(candidates[order[:n_val]]), np.sort(candidates[order[n_val:n_val + n_test]])


def split_target_context(tuples_or_arrays, target_context: int | str, seed: int,
                         fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), *,
                         control_id: int | None = None, known_only: bool = True) -> Split:
    """The paper's split for one target context and one seed.

    ``tuples_or_arrays``: a TupleSet, or (p, r, c) / (p, r, c, y) id arrays. ``target_context``:
    a context id (or its symbol, with a TupleSet). ``fractions``: (train, val, test) shares of the
    target's candidate perturbations; train takes the remainder. ``control_id``: the Control
    perturbation's id (found by its symbol with a TupleSet), never drawn for val or test.
    """
    p, _r, c, perturbations, contexts = _arrays(tuples_or_arrays)
    target = _context_id(target_context, contexts)
    in_target = c == target
    target_perts = np.unique(p[in_target])
    if len(target_perts) == 0:
        raise ValueError(f"context {target_context!r} has no tuples")
    ctrl = _control_id(perturbations, control_id)
    candidates = target_perts[target_perts != ctrl] if ctrl is not None else target_perts
    if known_only:
        candidates = np.intersect1d(candidates, _known_elsewhere(p, c, target))
    val_perts, test_perts = _draw(candidates, fractions, seed, f"context {target_context!r}")
    train_perts = np.setdiff1d(target_perts, np.concatenate([val_perts, test_perts]))
    val = in_target & np.isin(p, val_perts)
    test = in_target & np.isin(p, test_perts)
    train = ~(val | test)
    return Split(train, val, test, target, int(seed), train_perts, val_perts, test_perts)


def eligible_target_contexts(tuples_or_arrays, min_perturbations: int = 10, *,
                             control_id: int | None = None) -> list[int]:
    """Context ids with at least ``min_perturbations`` perturbations (Control not counted) that are
    also measured in another context: the contexts the split can take as a target."""
    p, _r, c, perturbations, _contexts = _arrays(tuples_or_arrays)
    ctrl = _control_id(perturbations, control_id)
    # Distinct (perturbation, context) experiments, then per perturbation the number of contexts.
    n_c = int(c.max()) + 1 if len(c) else 0
    exp = np.unique(p.astype(np.int64) * max(n_c, 1) + c)
    ep, ec = exp // max(n_c, 1), exp % max(n_c, 1)
    if ctrl is not None:
        keep = ep != ctrl
        ep, ec = ep[keep], ec[keep]
    n_p = int(ep.max()) + 1 if len(ep) else 0
    contexts_per_pert = np.bincount(ep, minlength=n_p)
    shared = contexts_per_pert[ep] >= 2
    counts = np.bincount(ec[shared], minlength=n_c)
    return [int(i) for i in np.flatnonzero(counts >= min_perturbations)]


def split_perturbations(tuples_or_arrays, seed: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), *,
                        control_id: int | None = None, contexts=None) -> Split:
    """Unseen perturbations: a seeded share of the perturbations (Control never) held out of every
    context, for validation and for test, so the test asks for perturbations never measured
    anywhere in training. ``target_context`` is -1 (every context).

    ``contexts`` (context ids or, with a TupleSet, symbols): "train on all, test one set". Only
    perturbations measured in these contexts are drawn, and validation and test are their tuples
    in these contexts; a drawn perturbation is still held out of every other context, and
    everything else (the other sets whole) trains."""
    p, _r, c, perturbations, context_symbols = _arrays(tuples_or_arrays)
    ctrl = _control_id(perturbations, control_id)
    where = np.ones(len(p), bool)
    if contexts is not None:
        ids = [_context_id(x, context_symbols) for x in contexts]
        where = np.isin(c, ids)
    candidates = np.unique(p[where])
    candidates = candidates[candidates != ctrl] if ctrl is not None else candidates
    val_perts, test_perts = _draw(candidates, fractions, seed, "the set")
    val_any, test_any = np.isin(p, val_perts), np.isin(p, test_perts)
    train = ~(val_any | test_any)
    train_perts = np.setdiff1d(np.unique(p), np.concatenate([val_perts, test_perts]))
    return Split(train, val_any & where, test_any & where, -1, int(seed), train_perts, val_perts, test_perts)


def split_readouts(tuples_or_arrays, target_context: int | str, seed: int,
                   fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> Split:
    """Unseen readouts in a context (the paper's PKD1 case): a seeded share of the target context's
    readouts held out there for validation and test (they stay measured in other contexts, if any).
    The ``*_perturbations`` fields hold readout ids here."""
    _p, r, c, _perturbations, contexts = _arrays(tuples_or_arrays)
    target = _context_id(target_context, contexts)
    in_target = c == target
    candidates = np.unique(r[in_target])
    val_r, test_r = _draw(candidates, fractions, seed, f"the readouts of context {target_context!r}")
    val, test = in_target & np.isin(r, val_r), in_target & np.isin(r, test_r)
    return Split(~(val | test), val, test, target, int(seed), np.setdiff1d(candidates, np.r_[val_r, test_r]),
                 val_r, test_r)


@dataclass(frozen=True)
class SplitKind:
    """A benchmark split by name. ``per_context``: one split per target context (else one over
    every context at once, target -1). ``make(tuples, target, seed, fractions, known_only=...,
    test_contexts=...)`` draws it."""

    name: str
    description: str
    per_context: bool
    make: Callable[..., Split]


#: The splits ``lpm-kg eval --split`` and the benchmarks take.
SPLITS: Registry[SplitKind] = Registry("split", "lpm-kg list splits")
SPLITS.register(SplitKind(
    "context", "the paper's unseen experiments: perturbations known from other contexts, held out of a target "
    "context", True, lambda t, target, seed, fractions, known_only=True, test_contexts=None:
    split_target_context(t, target, seed, fractions, known_only=known_only)))
SPLITS.register(SplitKind(
    "perturbation", "unseen perturbations: held out of every context (train on all, test one set with "
    "test_contexts)", False, lambda t, target, seed, fractions, known_only=True, test_contexts=None:
    split_perturbations(t, seed, fractions, contexts=test_contexts)))
SPLITS.register(SplitKind(
    "readout", "unseen readouts: held out in a target context, measured elsewhere", True,
    lambda t, target, seed, fractions, known_only=True, test_contexts=None: split_readouts(t, target, seed, fractions)))
