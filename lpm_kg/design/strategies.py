"""Acquisition strategies: which unmeasured (perturbation, context) pairs to measure next.

Every strategy ranks the same :class:`Candidates` (the model's ensemble disagreement on each
pair and which pairs are related) and fills a batch greedily, never more than ``budget`` pairs in
one context. They are looked up by name in :data:`STRATEGIES` (``lpm-kg suggest --strategy``).

Relatedness is the model's own: two candidates in one context are related when the model predicts
similar outcomes for them (cosine of their predicted profiles, centred on the context's mean
prediction, kept for each pair's ``k`` nearest); one perturbation in two contexts is related by
``cross_context`` (a measurement in one context teaches the shared perturbation embedding).
``coverage`` (the default) reads how many contexts each candidate's perturbation is measured in
(:attr:`Candidates.measured`) instead: the LPM's perturbation embedding learns from that
perturbation's own measurements only, so a first measurement teaches the most.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from lpm_kg.registry import Registry


@dataclass
class Candidates:
    """Unmeasured pairs and what the model says of them. ``related`` is a symmetric sparse
    (n, n) matrix of weights in [0, 1] with an empty diagonal: how much measuring one pair is
    expected to teach about another."""

    perturbation: np.ndarray  # (n,) perturbation codes
    context: np.ndarray  # (n,) context codes
    uncertainty: np.ndarray  # (n,) ensemble disagreement: mean seed std over the context's readouts
    related: sparse.csr_matrix
    # (n,) bool: which may be proposed (None: all). The others are unmeasured pairs that cannot be
    # run (not on the user's list; in the benchmark, its test set) but still count as what a
    # measurement can teach about, so a strategy cannot tell them apart from the rest.
    eligible: np.ndarray | None = None
    # (n,) in how many contexts the candidate's perturbation is measured already (None: unknown, 0)
    measured: np.ndarray | None = None

    def eligible_mask(self) -> np.ndarray:
        return np.ones(len(self), bool) if self.eligible is None else np.asarray(self.eligible, bool)

    def measured_counts(self) -> np.ndarray:
        return np.zeros(len(self), np.int64) if self.measured is None else np.asarray(self.measured, np.int64)

    def __len__(self) -> int:
        return len(self.uncertainty)


def relatedness(perturbation, context, profiles: dict[int, tuple[np.ndarray, np.ndarray]], *, k: int = 10,
                cross_context: float = 0.5) -> sparse.csr_matrix:
    """The ``related`` matrix of :class:`Candidates`. ``profiles``: context code -> (candidate
    indices in that context, their predicted profiles as rows over the context's readouts)."""
    n = len(perturbation)
    rows, cols, vals = [], [], []
    for idx, prof in profiles.values():
        idx = np.asarray(idx)
        if len(idx) < 2:
            continue
        x = np.asarray(prof, dtype=np.float64)
        x = x - x.mean(axis=0)  # what is specific to a candidate, not what the context shares
        norm = np.linalg.norm(x, axis=1)
        x = x / np.where(norm > 0, norm, 1.0)[:, None]
        kk = min(k, len(idx) - 1)
        # Chunks of candidates: a genome-wide context never needs its n x n cosine table at once.
        for start in range(0, len(idx), 1024):
            sim = x[start:start + 1024] @ x.T
            local = np.arange(start, min(start + 1024, len(idx)))
            sim[np.arange(len(local)), local] = -np.inf
            top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
            w = np.take_along_axis(sim, top, axis=1)
            keep = w > 0
            rows.append(idx[np.repeat(local, kk)[keep.ravel()]])
            cols.append(idx[top[keep]])
            vals.append(w[keep] ** 2)  # a weak resemblance teaches little
    if cross_context > 0:
        order = np.lexsort((context, perturbation))
        p_sorted = np.asarray(perturbation)[order]
        starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
        for a, b in zip(starts, np.r_[starts[1:], len(order)]):
            members = order[a:b]
            if len(members) > 1:
                ii, jj = np.meshgrid(members, members)
                off = ii != jj
                rows.append(ii[off])
                cols.append(jj[off])
                vals.append(np.full(int(off.sum()), cross_context))
    if not rows:
        return sparse.csr_matrix((n, n))
    m = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    m.sum_duplicates()
    return m.maximum(m.T).tocsr()


@dataclass
class Pick:
    index: int  # into the candidates
    rank: int  # 1 = measure first
    score: float  # the strategy's score when it was picked


class Strategy:
    name: str = ""
    description: str = ""
    # Ranks by the seeds' disagreement, so a model of one seed (no disagreement) cannot drive it.
    needs_disagreement: bool = True

    def scores(self, cands: Candidates, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def select(self, cands: Candidates, batch: int, *, budget: int | None = None, seed: int = 0) -> list[Pick]:
        """The batch, best first: the highest scores, at most ``budget`` per context."""
        score = self.scores(cands, np.random.default_rng(seed))
        eligible = cands.eligible_mask()
        picks, used = [], {}
        for i in np.argsort(-score, kind="stable"):
            if len(picks) == batch:
                break
            if not eligible[i]:
                continue
            c = int(cands.context[i])
            if budget is not None and used.get(c, 0) >= budget:
                continue
            used[c] = used.get(c, 0) + 1
            picks.append(Pick(int(i), len(picks) + 1, float(score[i])))
        return picks


def greedy(cands: Candidates, batch: int, budget: int | None, score: Callable[[], np.ndarray],
           measure: Callable[[int], None]) -> list[Pick]:
    """A batch picked one at a time: the best eligible ``score()``, then ``measure(i)`` updates the
    state the score reads (as if i were measured), at most ``budget`` picks per context."""
    allowed = cands.eligible_mask().copy()
    picks, used = [], {}
    while len(picks) < batch and allowed.any():
        now = score()
        now[~allowed] = -np.inf
        i = int(np.argmax(now))
        picks.append(Pick(i, len(picks) + 1, float(now[i])))
        allowed[i] = False
        c = int(cands.context[i])
        used[c] = used.get(c, 0) + 1
        if budget is not None and used[c] >= budget:
            allowed &= cands.context != c
        measure(i)
    return picks


class Random(Strategy):
    name = "random"
    description = "uniformly at random (the control every strategy must beat)"
    needs_disagreement = False

    def scores(self, cands, rng):
        return rng.random(len(cands))


class Uncertainty(Strategy):
    name = "uncertainty"
    description = "ensemble disagreement: the seeds' spread on the pair's predicted profile"

    def scores(self, cands, rng):
        return np.asarray(cands.uncertainty, dtype=np.float64)


class Related(Strategy):
    name = "related"
    description = ("disagreement plus the disagreement on the still-unmeasured pairs it is related to "
                   "(the uncertainty a measurement is expected to remove, there and elsewhere)")

    def scores(self, cands, rng):
        u = np.asarray(cands.uncertainty, dtype=np.float64)
        return u + cands.related @ u


class Diverse(Related):
    name = "diverse"
    description = ("related, picked one at a time: each pick discounts the uncertainty left on the pairs "
                   "related to it, so a batch spreads over what is unknown (no ten knockdowns of one complex)")

    def select(self, cands, batch, *, budget=None, seed=0):
        left = np.asarray(cands.uncertainty, dtype=np.float64).copy()
        w = cands.related

        def measure(i):  # as if measured: what i teaches is no longer unknown
            row = w.getrow(i)
            left[row.indices] *= 1.0 - np.clip(row.data, 0.0, 1.0)
            left[i] = 0.0

        return greedy(cands, batch, budget, lambda: left + w @ left, measure)


class Coverage(Strategy):
    name = "coverage"
    description = ("first measurements first: a pair whose perturbation is measured in few contexts and still "
                   "unmeasured in many (a first measurement teaches all of them through the shared embedding), "
                   "weighted by the ensemble's disagreement; each pick counts as measured, so a batch spreads over "
                   "perturbations")
    needs_disagreement = False  # without it, the weight is flat: first measurements still rank

    def select(self, cands, batch, *, budget=None, seed=0):
        u = np.asarray(cands.uncertainty, dtype=np.float64)
        weight = 1.0 + (u / u.max() if len(u) and u.max() > 0 else 0.0)  # the model's doubt: up to x2
        codes, pert = np.unique(np.asarray(cands.perturbation), return_inverse=True)
        unmeasured = np.bincount(pert, minlength=len(codes)).astype(np.float64)
        measured = np.zeros(len(codes))
        np.maximum.at(measured, pert, cands.measured_counts().astype(np.float64))

        def measure(i):
            unmeasured[pert[i]] -= 1
            measured[pert[i]] += 1

        return greedy(cands, batch, budget, lambda: unmeasured[pert] / (1.0 + measured[pert]) * weight, measure)


STRATEGIES: Registry[type[Strategy]] = Registry("strategy", "lpm-kg list strategies")
for _cls in (Random, Uncertainty, Related, Diverse, Coverage):
    STRATEGIES.register(_cls)
#: What ``lpm-kg suggest`` uses unless told: the strategy that measured best on the real sets
#: (benchmarks/results/bench_acquisition.md: above random on sci-Plex, NeurIPS and Replogle and on
#: the simulator, with the largest gain of any strategy on NeurIPS and Replogle).
DEFAULT_STRATEGY = "coverage"


def get_strategy(name: str) -> Strategy:
    return STRATEGIES[name]()
