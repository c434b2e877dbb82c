"""Metrics over the test tuples of a split (docs/lpm-model.md, "Metrics and baselines").

An *experiment* is one (perturbation, context) pair: its tuples are its readouts. All grouped
statistics are vectorised (``np.unique`` / ``np.bincount`` over experiment ids, never a Python
loop over tuples or experiments).

Conventions, so that every model is scored the same way:

- A Pearson correlation is undefined when either side is constant. Pooled or per experiment, an
  undefined correlation counts as 0 (a constant prediction carries no information about which readouts
  move), and experiments with fewer than 2 tuples are left out. "Constant" is numerical: a
  spread below 1e-6 of the values' magnitude (float rounding of a constant is not signal).
- The centered metric correlates, per experiment, (y - m) with (pred - m), where m is the
  per-(context, readout) training mean (``reference``). A prediction within float rounding of m
  counts as exactly m, so a model that only learned those means scores exactly 0. Tuples whose
  m is NaN (no training value for that (context, readout)) are left out of the centered metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from lpm_kg.registry import Registry

TOP_K = 20
_REL_CONST = 1e-12  # squared relative spread under which a group counts as constant


@dataclass(frozen=True)
class Metric:
    """One column of a benchmark's table. ``over``: ``tuples`` when :func:`compute_metrics`
    computes it over a split's test tuples; ``experiments`` when it is the mean of
    :func:`lpm_kg.eval.field_metrics.experiment_metrics`' column of that name (the benchmark adds
    those). ``{k}`` in a name is the top-k setting."""

    name: str
    description: str
    higher_is_better: bool = True
    over: Literal["tuples", "experiments"] = "tuples"

    def column(self, top_k: int = TOP_K) -> str:
        return self.name.format(k=top_k)


#: Every metric a benchmark reports, in table order: the one declaration the summary columns,
#: an empty split's row and ``lpm-kg list metrics`` come from.
METRICS: Registry[Metric] = Registry("metric", "lpm-kg list metrics")
for _metric in (
    Metric("rmse", "root mean squared error over the test tuples", higher_is_better=False),
    Metric("mae", "mean absolute error over the test tuples", higher_is_better=False),
    Metric("r2", "coefficient of determination over the test tuples"),
    Metric("pearson", "Pearson r over the test tuples, pooled"),
    Metric("pearson_per_experiment", "mean over test experiments of each one's Pearson r"),
    Metric("pearson_per_experiment_top{k}", "the same on each experiment's k readouts with the largest |value|"),
    Metric("pearson_centered_per_experiment", "mean over test experiments of the Pearson r of the deviations from "
                                              "the per-(context, readout) training mean (the paper's metric)"),
    Metric("pearson_centered", "the centered Pearson r, pooled over the test tuples"),
    Metric("discrimination", "per experiment, 1 - the normalised rank of its measured profile among the context's "
                             "test profiles by distance to its prediction (1: the nearest, 0.5: chance)",
           over="experiments"),
    Metric("top_de_overlap", "per experiment, the share of its k most changed readouts the prediction also ranks "
                             "in its top k", over="experiments"),
    Metric("top_de_direction", "per experiment, the share of its k most changed readouts whose predicted "
                               "deviation from the training mean has the measured sign", over="experiments"),
):
    METRICS.register(_metric)


def metric_columns(top_k: int = TOP_K, over: str | None = None) -> list[str]:
    """The benchmark table's metric columns (those computed ``over`` tuples or experiments only)."""
    return [m.column(top_k) for m in METRICS.values() if over is None or m.over == over]


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    if sxx <= _REL_CONST * float(x @ x) or syy <= _REL_CONST * float(y @ y) or sxx == 0 or syy == 0:
        return 0.0  # a constant side: no correlation (see the module's conventions)
    return float(dx @ dy / np.sqrt(sxx * syy))


def grouped_pearson(group: np.ndarray, x: np.ndarray, y: np.ndarray, n_groups: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Pearson of x and y within each group id (0..n_groups-1), vectorised.

    Returns (r, n): r is NaN for groups with fewer than 2 members and 0 where either side is
    constant; n is the group sizes."""
    group = np.asarray(group, dtype=np.int64)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n_groups = int(group.max()) + 1 if n_groups is None and len(group) else (n_groups or 0)
    n = np.bincount(group, minlength=n_groups).astype(np.float64)
    safe = np.maximum(n, 1)
    dx = x - (np.bincount(group, x, n_groups) / safe)[group]
    dy = y - (np.bincount(group, y, n_groups) / safe)[group]
    sxx, syy = np.bincount(group, dx * dx, n_groups), np.bincount(group, dy * dy, n_groups)
    sxy = np.bincount(group, dx * dy, n_groups)
    qx, qy = np.bincount(group, x * x, n_groups), np.bincount(group, y * y, n_groups)
    defined = (sxx > _REL_CONST * qx) & (syy > _REL_CONST * qy) & (sxx > 0) & (syy > 0)
    r = np.zeros(n_groups)
    r[defined] = sxy[defined] / np.sqrt(sxx[defined] * syy[defined])
    r[n < 2] = np.nan
    return r, n.astype(np.int64)


def top_k_mask(group: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """True for each group's ``k`` members with the largest ``score`` (all of a smaller group)."""
    group = np.asarray(group, dtype=np.int64)
    order = np.lexsort((-np.asarray(score, dtype=np.float64), group))  # by group, then score descending
    g_sorted = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g_sorted)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, len(g_sorted)]))
    rank = np.arange(len(g_sorted)) - first
    mask = np.zeros(len(group), dtype=bool)
    mask[order[rank < k]] = True
    return mask


def reference_values(reference, r: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim == 2:
        return ref[c, r]
    if ref.ndim == 1 and len(ref) == n:
        return ref
    raise ValueError("reference must be a [n_contexts, n_readouts] array or one value per tuple")


def compute_metrics(y, pred, p, r, c, *, reference=None, top_k: int = TOP_K) -> dict[str, float]:
    """Every metric over the given (test) tuples.

    ``y``/``pred``: true and predicted values; ``p``/``r``/``c``: the tuples' ids;
    ``reference``: the per-(context, readout) training mean as a dense [n_contexts, n_readouts]
    array (NaN where unseen) or one value per tuple; without it the centered metrics are NaN.

    Keys: rmse, mae, r2, pearson (pooled over tuples); pearson_per_experiment (mean over
    experiments of the per-experiment Pearson); pearson_per_experiment_top{k} (the same on each
    experiment's k readouts with the largest |y|); pearson_centered_per_experiment (per-experiment
    Pearson of the deviations from ``reference``) and pearson_centered (pooled); n_tuples,
    n_experiments.
    """
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    p, r, c = (np.asarray(a, dtype=np.int64) for a in (p, r, c))
    if not (len(y) == len(pred) == len(p) == len(r) == len(c)):
        raise ValueError("y, pred, p, r, c must have one entry per tuple")
    nan = float("nan")
    out: dict[str, float] = {"n_tuples": len(y)}
    if len(y) == 0:
        return out | {k: nan for k in metric_columns(top_k, "tuples")} | {"n_experiments": 0}
    if not np.all(np.isfinite(pred)):
        raise ValueError(f"{int((~np.isfinite(pred)).sum())} predictions are not finite")
    err = pred - y
    out["rmse"] = float(np.sqrt(np.mean(err ** 2)))
    out["mae"] = float(np.mean(np.abs(err)))
    sst = float(np.sum((y - y.mean()) ** 2))
    out["r2"] = float(1 - np.sum(err ** 2) / sst) if sst > 0 else nan
    out["pearson"] = _pearson(pred, y)

    n_c = int(c.max()) + 1
    _, exp = np.unique(p * n_c + c, return_inverse=True)
    exp = exp.ravel()
    n_exp = int(exp.max()) + 1
    out["n_experiments"] = n_exp
    rho, _ = grouped_pearson(exp, y, pred, n_exp)
    out["pearson_per_experiment"] = float(np.nanmean(rho)) if np.any(np.isfinite(rho)) else nan
    top = top_k_mask(exp, np.abs(y), top_k)
    rho, _ = grouped_pearson(exp[top], y[top], pred[top], n_exp)
    out[f"pearson_per_experiment_top{top_k}"] = float(np.nanmean(rho)) if np.any(np.isfinite(rho)) else nan

    if reference is None:
        out["pearson_centered_per_experiment"] = out["pearson_centered"] = nan
        return out
    m = reference_values(reference, r, c, len(y))
    seen = np.isfinite(m)
    m, yc, pc = m[seen], y[seen] - m[seen], pred[seen] - m[seen]
    pc[np.isclose(pred[seen], m, rtol=1e-5, atol=1e-12)] = 0.0  # float rounding of m is m
    rho, _ = grouped_pearson(exp[seen], yc, pc, n_exp)
    out["pearson_centered_per_experiment"] = float(np.nanmean(rho)) if np.any(np.isfinite(rho)) else nan
    out["pearson_centered"] = _pearson(pc, yc)
    return out

