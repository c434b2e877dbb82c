"""Replicate scores that anchor the calibrated score, on inputs with a known answer."""

import numpy as np
import pytest

from lpm_kg.eval.calibration import control_noise_replicate, split_half_replicate


def test_split_half_steps_up_by_spearman_brown():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=2000)
    a = signal + rng.normal(size=2000)
    b = signal + rng.normal(size=2000)
    p = np.repeat([0, 1], 1000)
    c = np.zeros(2000, int)
    out = split_half_replicate(a, b, p, c, np.zeros(2000))
    # Each half correlates 0.5 with the other; a full-size replicate (twice the data) 2 * 0.5 / 1.5.
    assert out == pytest.approx([2 / 3, 2 / 3], abs=0.06)
    assert np.allclose(split_half_replicate(signal, signal, p, c, np.zeros(2000)), 1.0)


def test_control_noise_replicate_is_the_reliability_of_one_well():
    rng = np.random.default_rng(1)
    n = 5000
    signal = rng.normal(0, 2, n)  # variance 4
    y = signal + rng.normal(0, 1, n)  # noise variance 1
    out = control_noise_replicate(y, np.ones(n), np.zeros(n, int), np.zeros(n, int), np.zeros(n))
    # Two wells of this treatment would correlate var(signal) / var(observed) = 4 / 5.
    assert out[0] == pytest.approx(0.8, abs=0.03)
    # Noise as large as the measured spread: nothing to replicate, floored at 0.
    assert control_noise_replicate(y, np.full(n, 10.0), np.zeros(n, int), np.zeros(n, int), np.zeros(n))[0] == 0
