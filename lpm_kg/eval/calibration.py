"""How far a model is between the mean predictor (0) and a replicate experiment (1).

A replicate's score is what a second experiment of the same size would score against the measured
profile, on the centered per-experiment Pearson the models are scored on:

- from **split halves** (single cells split in two, each half against its half of the controls):
  the halves' centered correlation r, stepped up to full size by Spearman-Brown, 2r / (1 + r)
  (:func:`split_half_replicate`);
- from **control wells** when each treatment has one well (an L1000 plate): the control wells'
  per-readout variance is the noise of one well, and two wells of one treatment would correlate
  1 - noise / (variance of the measured deviations) (:func:`control_noise_replicate`).

:func:`lpm_kg.eval.stats.calibrated` divides a model's mean score by the replicates' over the
same test experiments.
"""

from __future__ import annotations

import numpy as np

from lpm_kg.eval.field_metrics import experiment_ids
from lpm_kg.eval.metrics import grouped_pearson


def split_half_replicate(half_a, half_b, p, c, reference) -> np.ndarray:
    """Per experiment (ids ``p``, ``c``; order of :func:`experiment_ids`): the Spearman-Brown
    full-size replicate correlation from the two halves' values of each tuple, both centered by
    ``reference`` (one training mean per tuple)."""
    exp, _ep, _ec = experiment_ids(p, c)
    m = np.asarray(reference, np.float64)
    a, b = np.asarray(half_a, np.float64) - m, np.asarray(half_b, np.float64) - m
    ok = np.isfinite(a) & np.isfinite(b)
    r, _ = grouped_pearson(exp[ok], a[ok], b[ok], int(exp.max()) + 1 if len(exp) else 0)
    return np.where(r > -1, 2 * r / (1 + r), np.nan)


def control_noise_replicate(y, noise_var, p, c, reference) -> np.ndarray:
    """Per experiment: 1 - mean noise variance / variance of the measured deviations from
    ``reference`` over its readouts (``noise_var``: one value per tuple, its readout's noise),
    floored at 0."""
    exp, _ep, _ec = experiment_ids(p, c)
    n = int(exp.max()) + 1 if len(exp) else 0
    d = np.asarray(y, np.float64) - np.asarray(reference, np.float64)
    ok = np.isfinite(d) & np.isfinite(noise_var)
    e, d, v = exp[ok], d[ok], np.asarray(noise_var, np.float64)[ok]
    size = np.maximum(np.bincount(e, minlength=n), 1)
    mean = np.bincount(e, weights=d, minlength=n) / size
    var = np.bincount(e, weights=(d - mean[e]) ** 2, minlength=n) / size
    noise = np.bincount(e, weights=v, minlength=n) / size
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(1 - noise / var, 0, 1)
