"""The metrics the field now reports beside correlations (Virtual Cell Challenge 2025, Ahlmann-Eltze
et al. 2025), per test experiment so that models can be compared pair by pair
(:mod:`lpm_kg.eval.stats`):

- **the targeted gene left out**: a knockdown lowers its own gene's readout, which any model that
  reads the symbol gets right for free. :func:`targeted_mask` marks those tuples, and the
  benchmark drops them from every metric;
- **perturbation discrimination** (:func:`discrimination`): for each test experiment, the rank of
  its true profile among all test profiles of its context by Manhattan distance to its
  prediction, scaled so that 1 is perfect (its own profile is the nearest) and 0 the worst. A
  model that predicts the same profile for every perturbation (the per-(context, readout) mean)
  scores 0.5 on average;
- **top differentially changed readouts** (:func:`top_de_agreement`): of each experiment's ``k``
  readouts with the largest measured change, the share the prediction also ranks in its top ``k``
  (overlap), and the share whose predicted change from the training mean has the measured sign
  (direction).

An *experiment* is one (perturbation, context) pair, as in :mod:`lpm_kg.eval.metrics`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lpm_kg.eval.metrics import TOP_K, reference_values, grouped_pearson, top_k_mask
from lpm_kg.symbols import parse_perturbation, split_readout

TOP_DE = TOP_K


def perturbation_target_genes(symbol: str) -> set[str]:
    """The genes a perturbation symbol targets by its method: a genetic perturbation's gene (each
    part's, for a combination). A compound targets no gene *by its method*: its annotated targets
    are knowledge, and their readouts stay in the metrics."""
    genes: set[str] = set()
    for part in symbol.split("+"):
        try:
            p = parse_perturbation(part, lambda g: g)
        except ValueError:
            continue
        if p.kind == "genetic":
            genes.add(p.gene)
    return genes


def targeted_mask(perturbations, readouts, p, r) -> np.ndarray:
    """True for each tuple whose readout is the gene its (genetic) perturbation targets.

    ``perturbations``/``readouts``: the symbol lists the ids ``p``/``r`` index."""
    p = np.asarray(p, dtype=np.int64)
    r = np.asarray(r, dtype=np.int64)
    by_gene: dict[str, list[int]] = {}
    for i, sym in enumerate(readouts):
        by_gene.setdefault(split_readout(sym)[1], []).append(i)
    n_r = len(readouts)
    keys = [pi * n_r + ri for pi in np.unique(p) for g in perturbation_target_genes(perturbations[int(pi)])
            for ri in by_gene.get(g, [])]
    if not keys:
        return np.zeros(len(p), dtype=bool)
    return np.isin(p * n_r + r, np.asarray(keys, dtype=np.int64))


def experiment_ids(p, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(experiment index per tuple, perturbation id and context id per experiment)."""
    p, c = np.asarray(p, dtype=np.int64), np.asarray(c, dtype=np.int64)
    n_c = int(c.max()) + 1 if len(c) else 1
    keys, exp = np.unique(p * n_c + c, return_inverse=True)
    return exp.ravel(), keys // n_c, keys % n_c


def top_de_agreement(y, pred, exp, reference=None, k: int = TOP_DE) -> tuple[np.ndarray, np.ndarray]:
    """Per experiment (index ``exp``): (overlap, direction) on its ``k`` most changed readouts.

    The measured top ``k`` are the readouts with the largest |y| (values are changes against
    control); overlap is the share of them among the prediction's ``k`` largest |pred|. Direction
    is the share of the measured top ``k`` whose predicted deviation from ``reference`` (the
    training mean per tuple; 0 without one) has the sign of the measured deviation, which a
    model that predicts the mean cannot get right (it scores 0 there). NaN for an experiment with
    fewer than ``k`` + 1 readouts, where every readout would be "top"."""
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    exp = np.asarray(exp, np.int64)
    n = int(exp.max()) + 1 if len(exp) else 0
    ref = np.zeros(len(y)) if reference is None else np.nan_to_num(np.asarray(reference, np.float64))
    true_top = top_k_mask(exp, np.abs(y), k)
    pred_top = top_k_mask(exp, np.abs(pred), k)
    size = np.bincount(exp, minlength=n)
    overlap = np.bincount(exp, weights=(true_top & pred_top).astype(float), minlength=n) / k
    dev_pred, dev_true = pred - ref, y - ref
    agree = (np.sign(dev_pred) == np.sign(dev_true)) & (dev_true != 0) & (dev_pred != 0)
    direction = np.bincount(exp, weights=(true_top & agree).astype(float), minlength=n) / \
        np.maximum(np.bincount(exp, weights=true_top.astype(float), minlength=n), 1)
    small = size <= k
    overlap[small], direction[small] = np.nan, np.nan
    return overlap, direction


def discrimination(pred_grid: np.ndarray, true_grid: np.ndarray) -> np.ndarray:
    """Per experiment: 1 - (its true profile's rank among all profiles of its context, by mean
    Manhattan distance to its prediction, minus 1) / (n - 1).

    ``pred_grid``, ``true_grid``: [n experiments of one context, n readouts]; ``true_grid`` is NaN
    where a readout was not measured in an experiment, and a distance runs over the readouts the
    compared profile measured (a mean, so profiles of different sizes compare). Ties count half.
    NaN when the context has fewer than 2 experiments."""
    pred_grid = np.asarray(pred_grid, np.float64)
    true_grid = np.asarray(true_grid, np.float64)
    n = len(true_grid)
    if n < 2:
        return np.full(n, np.nan)
    seen = np.isfinite(true_grid)
    truth = np.where(seen, true_grid, 0.0)
    counts = np.maximum(seen.sum(1), 1)
    dist = np.empty((n, n))
    for i in range(n):  # one row of distances per prediction: O(n * readouts) memory
        dist[i] = (np.abs(pred_grid[i][None, :] - truth) * seen).sum(1) / counts
    own = np.diag(dist)[:, None]
    closer = (dist < own).sum(1)
    ties = (dist == own).sum(1) - 1
    return 1.0 - (closer + 0.5 * ties) / (n - 1)


def discrimination_by_context(exp_p, exp_c, pred_of, y, p, r, c, *, drop=None) -> np.ndarray:
    """:func:`discrimination` for every test experiment (``exp_p``/``exp_c``: the experiments'
    perturbation and context ids), context by context.

    ``pred_of(p, r, c)`` predicts any tuples; for each context it is asked for every test
    perturbation on every readout measured in any test experiment of that context, so sets whose
    experiments measure different readouts (top-k lists) still compare on each profile's own
    readouts. ``drop``: a function (p, r) -> bool mask of tuples to leave out (the targeted genes).
    """
    out = np.full(len(exp_p), np.nan)
    p, r, c = (np.asarray(a, np.int64) for a in (p, r, c))
    y = np.asarray(y, np.float64)
    for ctx in np.unique(exp_c):
        rows = np.flatnonzero(exp_c == ctx)
        if len(rows) < 2:
            continue
        perts = exp_p[rows]
        in_ctx = c == ctx
        readouts = np.unique(r[in_ctx])
        gp = np.repeat(perts, len(readouts))
        gr = np.tile(readouts, len(perts))
        pred = np.asarray(pred_of(gp, gr, np.full(len(gp), ctx)), np.float64).reshape(len(perts), len(readouts))
        truth = np.full((len(perts), len(readouts)), np.nan)
        pi = np.searchsorted(perts, p[in_ctx])  # perts is sorted (np.unique order)
        ri = np.searchsorted(readouts, r[in_ctx])
        ok = (pi < len(perts)) & (perts[np.minimum(pi, len(perts) - 1)] == p[in_ctx])
        truth[pi[ok], ri[ok]] = y[in_ctx][ok]
        if drop is not None:
            gone = np.asarray(drop(gp, gr)).reshape(len(perts), len(readouts))
            truth[gone] = np.nan
            pred[gone] = 0.0
        out[rows] = discrimination(pred, truth)
    return out


def experiment_metrics(y, pred, p, r, c, *, reference=None, top_k: int = TOP_K) -> pd.DataFrame:
    """One row per experiment (perturbation id ``p``, context id ``c``): n_readouts, its Pearson
    (``pearson``), centered Pearson (``pearson_centered``, NaN without ``reference``), and the
    agreement on its ``top_k`` most changed readouts (``top_de_overlap``, ``top_de_direction``:
    :func:`top_de_agreement`). The means of its columns are the
    per-experiment metrics of :func:`compute_metrics`; the rows are what paired tests pair."""
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    exp, ep, ec = experiment_ids(p, c)
    n = len(ep)
    rho, size = grouped_pearson(exp, y, pred, n)
    out = pd.DataFrame({"p": ep, "c": ec, "n_readouts": size, "pearson": rho})
    if reference is not None:
        m = reference_values(reference, np.asarray(r, np.int64), np.asarray(c, np.int64), len(y))
        seen = np.isfinite(m)
        pc = pred[seen] - m[seen]
        pc[np.isclose(pred[seen], m[seen], rtol=1e-5, atol=1e-12)] = 0.0
        rho_c, _ = grouped_pearson(exp[seen], y[seen] - m[seen], pc, n)
        out["pearson_centered"] = rho_c
        ref_tuple = m
    else:
        out["pearson_centered"] = np.nan
        ref_tuple = None
    overlap, direction = top_de_agreement(y, pred, exp, ref_tuple, top_k) if len(y) else (np.zeros(0), np.zeros(0))
    out["top_de_overlap"], out["top_de_direction"] = overlap, direction
    return out
