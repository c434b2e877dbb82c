"""The field's metrics on inputs whose answers are known by hand, and the benchmark's use of them."""

import numpy as np
import pytest

from lpm_kg.eval.field_metrics import (discrimination, discrimination_by_context, experiment_metrics,
                                       perturbation_target_genes, targeted_mask, top_de_agreement)


def test_targeted_mask_marks_only_a_genetic_perturbations_own_gene():
    perts = ["CRISPRi_STAT1", "vemurafenib-10uM", "Control", "CRISPRi_IRF1+CRISPRi_STAT1", "shRNA_MYC"]
    readouts = ["Transcriptome_STAT1", "Transcriptome_IRF1", "Transcriptome_MYC"]
    p = np.repeat(np.arange(5), 3)
    r = np.tile(np.arange(3), 5)
    mask = targeted_mask(perts, readouts, p, r).reshape(5, 3)
    assert mask.tolist() == [[True, False, False], [False, False, False], [False, False, False],
                             [True, True, False], [False, False, True]]
    assert perturbation_target_genes("vemurafenib-10uM") == set()  # a compound's targets are knowledge


def test_discrimination_perfect_reversed_and_mean_predictor():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(8, 50))
    assert discrimination(truth, truth).tolist() == [1.0] * 8
    # The mean for every experiment: all distances of a row are the truths' distances to the mean,
    # so the own profile's rank is uniform over experiments: exactly 0.5 on average.
    mean = np.tile(truth.mean(0), (8, 1))
    assert discrimination(mean, truth).mean() == pytest.approx(0.5)
    # Predicting another experiment's profile exactly puts the own one behind it.
    shifted = np.roll(truth, 1, axis=0)
    assert (discrimination(shifted, truth) < 1).all()
    assert np.isnan(discrimination(truth[:1], truth[:1])).all()


def test_discrimination_compares_each_profile_on_its_own_readouts():
    # Sparse profiles (top-k lists): NaN where a readout was not measured.
    truth = np.array([[1.0, np.nan, 0.0], [np.nan, 1.0, 0.0], [0.0, 0.0, np.nan]])
    pred = np.array([[1.0, 5.0, 0.0], [5.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    assert discrimination(pred, truth).tolist() == [1.0, 1.0, 1.0]


def test_discrimination_by_context_asks_for_the_grid():
    # Two contexts, three perturbations measured in each; a model that knows the truth scores 1.
    p = np.repeat(np.arange(3), 4)
    c = np.tile([0, 0, 1, 1], 3)
    r = np.tile([0, 1, 0, 1], 3)
    y = np.arange(12, dtype=float) ** 1.5
    table = {(a, b, d): v for a, b, d, v in zip(p, r, c, y)}
    asked = []

    def pred_of(pp, rr, cc):
        asked.append(len(pp))
        return np.array([table[(a, b, d)] for a, b, d in zip(pp, rr, cc)])

    out = discrimination_by_context(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 1]), pred_of, y, p, r, c)
    assert out.tolist() == [1.0] * 6 and asked == [6, 6]


def test_top_de_agreement_by_hand():
    y = np.array([5.0, -4.0, 0.1, 0.2, 3.0, -2.0, 0.0, 0.1])
    pred = np.array([1.0, 0.5, 0.0, 2.0, 3.0, 1.0, 0.0, 0.0])
    exp = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    overlap, direction = top_de_agreement(y, pred, exp, None, k=2)
    # exp 0: true top-2 {0, 1}, predicted top-2 {3, 0}: overlap 1/2; signs: 0 agrees, 1 does not.
    # exp 1: true top-2 {4, 5}, predicted top-2 {4, 5}: overlap 1; signs: 4 agrees, 5 does not.
    assert overlap.tolist() == [0.5, 1.0] and direction.tolist() == [0.5, 0.5]
    assert np.isnan(top_de_agreement(y, pred, exp, None, k=4)[0]).all()  # every readout is "top": undefined


def test_experiment_metrics_means_match_compute_metrics():
    from lpm_kg.eval.metrics import compute_metrics

    rng = np.random.default_rng(1)
    p, r, c = (a.ravel() for a in np.meshgrid(np.arange(5), np.arange(40), np.arange(2), indexing="ij"))
    y = rng.normal(size=len(p))
    pred = y + rng.normal(size=len(p))
    ref = rng.normal(size=(2, 40)) * 0.1
    rows = experiment_metrics(y, pred, p, r, c, reference=ref)
    m = compute_metrics(y, pred, p, r, c, reference=ref)
    assert len(rows) == 10
    assert rows["pearson"].mean() == pytest.approx(m["pearson_per_experiment"])
    assert rows["pearson_centered"].mean() == pytest.approx(m["pearson_centered_per_experiment"])
