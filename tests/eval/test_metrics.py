"""Metrics on inputs whose answers are known by hand."""

import numpy as np
import pytest

from lpm_kg.eval.baselines import ContextReadoutMean, context_readout_means
from lpm_kg.eval.metrics import compute_metrics, grouped_pearson, top_k_mask


def _experiments(n_p=6, n_r=30, n_c=2, seed=0):
    rng = np.random.default_rng(seed)
    p, r, c = (a.ravel() for a in np.meshgrid(np.arange(n_p), np.arange(n_r), np.arange(n_c), indexing="ij"))
    y = rng.normal(size=n_r)[r] + rng.normal(size=len(p))
    return p, r, c, y


def test_perfect_prediction():
    p, r, c, y = _experiments()
    ref = context_readout_means(r, c, y, 30, 2)
    m = compute_metrics(y, y.copy(), p, r, c, reference=ref)
    assert m["rmse"] == 0 and m["mae"] == 0 and m["r2"] == pytest.approx(1)
    for key in ("pearson", "pearson_per_experiment", "pearson_per_experiment_top20",
                "pearson_centered_per_experiment", "pearson_centered"):
        assert m[key] == pytest.approx(1), key
    assert m["n_tuples"] == len(y) and m["n_experiments"] == 12


def test_context_readout_mean_scores_zero_centered():
    p, r, c, y = _experiments()
    train = p < 4
    ref = context_readout_means(r[train], c[train], y[train], 30, 2)
    model = ContextReadoutMean().fit(p[train], r[train], c[train], y[train], 6, 30, 2)
    test = ~train
    pred = model.predict(p[test], r[test], c[test]).astype(np.float32)  # float rounding must not matter
    m = compute_metrics(y[test], pred, p[test], r[test], c[test], reference=ref)
    assert m["pearson_centered_per_experiment"] == 0.0 and m["pearson_centered"] == 0.0
    assert m["pearson_per_experiment"] > 0.3  # while the plain per-experiment Pearson looks good


def test_hand_values():
    # Two experiments of 3 readouts: one predicted exactly, one reversed, one constant.
    y = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 5.0, 6.0, 9.0])
    pred = np.array([1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 4.0, 4.0, 4.0])
    p = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    r = np.array([0, 1, 2] * 3)
    c = np.zeros(9, int)
    m = compute_metrics(y, pred, p, r, c)
    assert m["pearson_per_experiment"] == pytest.approx((1 - 1 + 0) / 3)  # constant prediction counts 0
    err = pred - y
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean(err ** 2)))
    assert m["mae"] == pytest.approx(np.mean(np.abs(err)))
    assert m["r2"] == pytest.approx(1 - np.sum(err ** 2) / np.sum((y - y.mean()) ** 2))
    assert m["pearson"] == pytest.approx(np.corrcoef(y, pred)[0, 1])
    assert np.isnan(m["pearson_centered_per_experiment"])  # no reference given
    # Reference as one value per tuple; NaN reference leaves a tuple out.
    ref = np.array([0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 4.0, 4.0, np.nan])
    m = compute_metrics(y, pred, p, r, c, reference=ref)
    # exp 0: r(y, y) = 1; exp 1: y-2 = (-1,0,1), pred-2 = (1,0,-1): -1; exp 2: pred - m = 0: 0
    assert m["pearson_centered_per_experiment"] == pytest.approx(0.0)


def test_top_k():
    rng = np.random.default_rng(1)
    y = np.r_[np.linspace(1, 3, 20), rng.normal(0, 0.01, 5)]  # 20 large changes, 5 small ones
    pred = np.r_[2 * np.linspace(1, 3, 20), rng.normal(0, 5, 5)]
    p, r, c = np.zeros(25, int), np.arange(25), np.zeros(25, int)
    m = compute_metrics(y, pred, p, r, c)
    assert m["pearson_per_experiment_top20"] == pytest.approx(1)
    assert m["pearson_per_experiment"] < 0.9
    mask = top_k_mask(np.array([0, 0, 0, 1, 1]), np.array([3, 1, 2, 5, 4]), 2)
    assert mask.tolist() == [True, False, True, True, True]


def test_grouped_pearson_matches_numpy():
    rng = np.random.default_rng(2)
    g = rng.integers(0, 50, 2000)
    x, y = rng.normal(size=2000), rng.normal(size=2000)
    y += x * rng.uniform(0, 2, 50)[g]
    rho, n = grouped_pearson(g, x, y, 51)
    for k in range(50):
        assert rho[k] == pytest.approx(np.corrcoef(x[g == k], y[g == k])[0, 1])
    assert np.isnan(rho[50]) and n[50] == 0


def test_non_finite_prediction_raises():
    with pytest.raises(ValueError):
        compute_metrics(np.ones(3), np.array([1.0, np.nan, 1.0]), np.zeros(3), np.arange(3), np.zeros(3))
