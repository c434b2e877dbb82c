"""Compounds against genetic perturbations on the profiles the LPM predicts for them (the LPM's own
route to a mechanism, docs/lpm-model.md "Discovery tasks").

Raw signatures can compare a compound with a knockdown only where both were measured, in one cell
line, over shared readouts; most pairs never were (NeurIPS compounds in blood cells, Replogle
knockdowns in K562 and RPE1). The LPM predicts both in every context it knows, so the two can be
compared where neither, or only one, was measured.

:func:`predicted_similarity`: per context, every compound and every genetic perturbation predicted
over the context's readouts; each kind's rows centred on that kind's mean in the context (a
compound-wide or knockdown-wide response would otherwise make every cross pair alike); the cosine
of every (compound, genetic) pair, averaged over the contexts. The seed mean of the predictions is
used: seeds' outputs live in one space (unlike their embeddings).

:func:`target_rank_test`: for compounds with annotated targets among the candidates, the best
rank of a target (1 = nearest) as a share of the candidates, and its permutation null: the genes
of the candidates shuffled (each knockdown keeps its profile, the labels move), the mean share
recomputed ``n_null`` times; p is the share of shuffles at least as good (add-one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lpm_kg.discovery.inference import cosine_matrix

N_NULL = 1000


def predicted_similarity(predict_ids: Callable, compounds: Sequence[int], genetic: Sequence[int],
                         contexts: Sequence[tuple[int, Sequence[int]]], *, chunk_rows: int = 64,
                         progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """(mean over contexts, per-context list) of the [compounds, genetic] cosine of predicted
    profiles. ``predict_ids(p, r, c) -> (mean, std)`` is a model's id-level prediction (an LPM's
    ``predict_ids``); ``contexts``: (context id, its readout ids). Rows are predicted
    ``chunk_rows`` perturbations at a time, so memory stays at rows x readouts. ``progress(done,
    total)`` is called after each context (predicting is the slow part: rows x readouts x contexts)."""
    compounds, genetic = np.asarray(compounds, np.int64), np.asarray(genetic, np.int64)
    per_context = []
    for context, readouts in contexts:
        readouts = np.asarray(readouts, np.int64)
        a = _profiles(predict_ids, compounds, readouts, context, chunk_rows)
        b = _profiles(predict_ids, genetic, readouts, context, chunk_rows)
        a -= a.mean(axis=0)
        b -= b.mean(axis=0)
        per_context.append(cosine_matrix(a, b))
        if progress is not None:
            progress(len(per_context), len(contexts))
    if not per_context:
        return np.full((len(compounds), len(genetic)), np.nan), []
    return np.mean(per_context, axis=0), per_context


def _profiles(predict_ids: Callable, rows: np.ndarray, readouts: np.ndarray, context: int, chunk: int) -> np.ndarray:
    out = np.empty((len(rows), len(readouts)), np.float64)
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        p = np.repeat(part, len(readouts))
        mean, _ = predict_ids(p, np.tile(readouts, len(part)), np.full(len(p), context, np.int64))
        out[i:i + len(part)] = np.asarray(mean, np.float64).reshape(len(part), len(readouts))
    return out


@dataclass
class TargetRankTest:
    method: str
    n_compounds: int
    n_candidates: int
    best_rank: np.ndarray  # per compound, 1 = nearest
    share: np.ndarray  # best_rank / n_candidates (0.5: what chance gives a one-target compound)
    mean_share: float
    null_mean: float  # the shuffles' mean of mean_share
    p: float  # one-sided: the shuffles doing at least as well


def target_ranks(scores: np.ndarray, genes: Sequence[str], targets: Sequence[str]) -> dict[str, int]:
    """Each target's best rank among the candidates (``scores`` of candidates whose genes are
    ``genes``; 1 = nearest), for the targets that have a candidate. Ties and NaN count
    pessimistically (rank = how many candidates score at least as high), so a method that cannot
    compare a pair gains nothing from it."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    genes = np.asarray(genes, dtype=object)
    out = {}
    for t in targets:
        hit = genes == t
        if hit.any():
            out[t] = int((s >= s[hit].max()).sum())
    return out


def best_target_ranks(sim: np.ndarray, genes: np.ndarray, targets: Sequence[Sequence[str]]) -> np.ndarray:
    """Per compound (row of ``sim``), the best of its targets' :func:`target_ranks` among the
    candidates (columns, gene ``genes``)."""
    out = np.empty(len(sim), np.int64)
    for i, tgt in enumerate(targets):
        ranks = target_ranks(sim[i], genes, tgt)
        if not ranks:
            raise ValueError(f"compound row {i} has no candidate of its targets {list(tgt)}")
        out[i] = min(ranks.values())
    return out


def target_rank_test(method: str, sim: np.ndarray, genes: Sequence[str], targets: Sequence[Sequence[str]], *,
                     n_null: int = N_NULL, seed: int = 0) -> TargetRankTest:
    """The best-target-rank statistic of ``sim`` ([compounds, candidates]) and its label-shuffle
    null (module docstring)."""
    genes = np.asarray(genes, dtype=object)
    ranks = best_target_ranks(sim, genes, targets)
    n = sim.shape[1]
    observed = float((ranks / n).mean())
    rng = np.random.default_rng(seed)
    null = np.array([(best_target_ranks(sim, genes[rng.permutation(n)], targets) / n).mean()
                     for _ in range(n_null)])
    p = float((1 + (null <= observed).sum()) / (1 + n_null))
    return TargetRankTest(method, len(ranks), n, ranks, ranks / n, observed, float(null.mean()) if n_null else np.nan, p)
