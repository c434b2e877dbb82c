"""Is one model better than another, beyond the noise? Paired tests over test experiments, and the
calibrated score that puts a model between the mean predictor (0) and a replicate experiment (1).

A benchmark (:func:`lpm_kg.eval.benchmark.run_benchmark`) keeps one row per (split, seed, model,
test experiment) in ``df.attrs["experiments"]``; :func:`paired_tests` pairs two models on the
experiments both predicted (same split, target context, seed, perturbation and context) and runs a
one-sided Wilcoxon signed-rank test. A difference whose p value is above ``alpha`` either way is a
tie, and is reported as one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ALPHA = 0.05
PAIR_KEYS = ["split", "target_context", "seed", "perturbation", "context"]


def wilcoxon_greater(a, b) -> float:
    """One-sided Wilcoxon signed-rank p value for "a > b" over pairs (NaN pairs dropped); 1.0 when
    every pair is equal (no evidence either way) and NaN with no pair at all."""
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) == 0:
        return float("nan")
    if np.all(a == b):
        return 1.0
    return float(wilcoxon(a, b, alternative="greater", zero_method="zsplit").pvalue)


def verdict(p_greater: float, p_less: float, alpha: float = ALPHA, difference: float | None = None) -> str:
    """win, loss or tie at ``alpha``. With the mean ``difference`` (leader minus other), a side wins
    only when the mean is on its side too: a signed-rank test can favour the side with the lower
    mean when it wins small on many pairs and loses big on a few, and that is not a win."""
    agrees = lambda sign: difference is None or not np.isfinite(difference) or sign * difference > 0  # noqa: E731
    if np.isfinite(p_greater) and p_greater < alpha and agrees(1):
        return "win"
    if np.isfinite(p_less) and p_less < alpha and agrees(-1):
        return "loss"
    return "tie"


def paired_tests(experiments: pd.DataFrame, leader: str, others=None, metric: str = "pearson_centered",
                 alpha: float = ALPHA, by=None) -> pd.DataFrame:
    """``leader`` against each of ``others`` (default: every other model) on ``metric``, paired by
    test experiment: one row per (``by`` group, other model) with n_pairs, the two means, the mean
    difference, the one-sided p value that the leader is better (``p_value``), the one that it is
    worse (``p_value_worse``) and the verdict (win, tie, loss at ``alpha``)."""
    by = list(by or [])
    keys = [k for k in PAIR_KEYS if k in experiments.columns]
    lead = experiments[experiments["model"] == leader]
    if lead.empty:
        raise ValueError(f"no experiments of model {leader!r}; models: {', '.join(experiments['model'].unique())}")
    others = [m for m in (others or experiments["model"].unique()) if m != leader]
    rows = []
    groups = lead.groupby(by, sort=False) if by else [((), lead)]
    for group, lead_g in groups:
        group = group if isinstance(group, tuple) else (group,)
        for other in others:
            sel = experiments["model"] == other
            for col, val in zip(by, group):
                sel &= experiments[col] == val
            pair = lead_g[keys + [metric]].merge(experiments.loc[sel, keys + [metric]], on=keys,
                                                 suffixes=("_leader", "_other"))
            a, b = pair[f"{metric}_leader"].to_numpy(), pair[f"{metric}_other"].to_numpy()
            ok = np.isfinite(a) & np.isfinite(b)
            p_better, p_worse = wilcoxon_greater(a, b), wilcoxon_greater(b, a)
            rows.append({**dict(zip(by, group)), "leader": leader, "other": other, "metric": metric,
                         "n_pairs": int(ok.sum()), "leader_mean": float(np.mean(a[ok])) if ok.any() else np.nan,
                         "other_mean": float(np.mean(b[ok])) if ok.any() else np.nan,
                         "mean_difference": float(np.mean(a[ok] - b[ok])) if ok.any() else np.nan,
                         "p_value": p_better, "p_value_worse": p_worse,
                         "verdict": verdict(p_better, p_worse, alpha,
                                            float(np.mean(a[ok] - b[ok])) if ok.any() else None)})
    return pd.DataFrame(rows)


def calibrated(model_score, replicate_score, mean_score=0.0) -> float:
    """(model - mean predictor) / (replicate - mean predictor), from mean scores over the same test
    experiments: 0 is the per-(context, readout) mean, 1 a replicate experiment (for the centered
    Pearson the mean predictor scores 0 by construction). NaN when the replicate does no better
    than the mean (nothing to calibrate against)."""
    model, rep = float(np.nanmean(model_score)), float(np.nanmean(replicate_score))
    span = rep - mean_score
    return (model - mean_score) / span if span > 0 else float("nan")
