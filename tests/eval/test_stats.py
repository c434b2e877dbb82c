"""Paired tests: a real difference is a win, noise is a tie, and the sides can be told apart."""

import numpy as np
import pandas as pd
import pytest

from lpm_kg.eval.stats import calibrated, paired_tests, wilcoxon_greater


def _experiments(diff: float, n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 0.5, n)
    rows = []
    for model, shift in (("a", diff), ("b", 0.0)):
        for i in range(n):
            rows.append({"split": "perturbation", "target_context": "all", "seed": 0, "perturbation": f"P{i}",
                         "context": "C", "model": model, "pearson_centered": base[i] + shift + rng.normal(0, 0.02)})
    return pd.DataFrame(rows)


def test_a_clear_gain_is_a_win_and_its_reverse_a_loss():
    df = _experiments(0.1)
    t = paired_tests(df, "a", ["b"]).iloc[0]
    assert t["verdict"] == "win" and t["p_value"] < 1e-4 and t["n_pairs"] == 40
    assert t["mean_difference"] == pytest.approx(0.1, abs=0.02)
    assert paired_tests(df, "b", ["a"]).iloc[0]["verdict"] == "loss"


def test_noise_is_a_tie():
    t = paired_tests(_experiments(0.0), "a", ["b"]).iloc[0]
    assert t["verdict"] == "tie" and t["p_value"] > 0.05 and t["p_value_worse"] > 0.05


def test_pairs_only_the_same_experiments():
    df = _experiments(0.1)
    df = df[~((df.model == "b") & (df.perturbation.isin(["P0", "P1"])))]
    assert paired_tests(df, "a", ["b"]).iloc[0]["n_pairs"] == 38
    with pytest.raises(ValueError, match="no experiments of model"):
        paired_tests(df, "nosuch")


def test_wilcoxon_edges():
    assert wilcoxon_greater([1, 2], [1, 2]) == 1.0
    assert np.isnan(wilcoxon_greater([np.nan], [1.0]))


def test_calibrated_score():
    assert calibrated([0.2, 0.4], [0.6, 0.6]) == pytest.approx(0.5)
    assert np.isnan(calibrated([0.2], [0.0]))


def test_a_signed_rank_edge_against_the_mean_is_a_tie():
    # "a" is a little better on 45 experiments and far worse on 5: the signed-rank test favours it,
    # its mean does not. (As lpm against raw-mean on NeurIPS mechanism retrieval: mAP 0.286 vs 0.294.)
    df = _experiments(0.0, n=50)
    a = df["model"] == "a"
    shift = np.r_[np.full(45, 0.03), np.full(5, -0.5)]
    df.loc[a, "pearson_centered"] = df.loc[~a, "pearson_centered"].to_numpy() + shift
    t = paired_tests(df, "a", ["b"]).iloc[0]
    assert t["p_value"] < 0.05 and t["mean_difference"] < 0
    assert t["verdict"] == "tie"
    from lpm_kg.eval.stats import verdict

    assert verdict(0.01, 0.99) == "win" and verdict(0.01, 0.99, difference=-0.1) == "tie"
    assert verdict(0.99, 0.01, difference=-0.1) == "loss"
