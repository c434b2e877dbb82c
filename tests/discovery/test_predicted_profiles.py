"""Compound against genetic perturbation on predicted profiles: the similarity and the rank test,
on a model whose predictions are known (a table lookup), so the expected numbers are exact."""

import numpy as np
import pytest

from lpm_kg.discovery.inference import cosine_matrix
from lpm_kg.discovery.predicted_profiles import best_target_ranks, predicted_similarity, target_rank_test


class TableModel:
    """predict_ids over a [perturbation, readout, context] table of values."""

    def __init__(self, table: np.ndarray):
        self.table = table
        self.calls = 0

    def predict_ids(self, p, r, c):
        self.calls += 1
        mean = self.table[p, r, c]
        return mean, np.zeros_like(mean)


def _expected(table, compounds, genetic, context, readouts):
    a = table[np.ix_(compounds, readouts, [context])][..., 0]
    b = table[np.ix_(genetic, readouts, [context])][..., 0]
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    return cosine_matrix(a, b)


def test_predicted_similarity_is_the_cosine_of_kind_centred_profiles_averaged_over_contexts():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(9, 12, 2))
    compounds, genetic = [0, 1, 2], [3, 4, 5, 6, 7, 8]
    contexts = [(0, np.arange(12)), (1, np.array([0, 2, 4, 6, 8]))]
    model = TableModel(table)
    mean, per = predicted_similarity(model.predict_ids, compounds, genetic, contexts, chunk_rows=2)
    assert len(per) == 2 and mean.shape == (3, 6)
    for (c, r), got in zip(contexts, per):
        assert np.allclose(got, _expected(table, compounds, genetic, c, r))
    assert np.allclose(mean, (per[0] + per[1]) / 2)
    assert model.calls == 2 * (2 + 3)  # chunks of 2 rows: compounds in 2 calls, knockdowns in 3, per context

    # A response every compound shares (a kind-wide shift) is centred away: it makes no pair alike.
    shifted = table.copy()
    shifted[compounds] += rng.normal(size=(1, 12, 2)) * 5
    again, _ = predicted_similarity(TableModel(shifted).predict_ids, compounds, genetic, contexts)
    assert np.allclose(again, mean)
    empty, none = predicted_similarity(model.predict_ids, compounds, genetic, [])
    assert none == [] and np.isnan(empty).all()


def test_target_ranks_are_pessimistic_and_the_null_separates_signal_from_noise():
    genes = np.array(["A", "B", "C", "D", "E"], dtype=object)
    sim = np.array([[0.9, 0.1, 0.2, 0.3, 0.4],    # target A nearest: rank 1
                    [0.5, 0.5, 0.5, 0.1, np.nan],  # target B tied with two others: rank 3; NaN ranks last
                    [0.1, 0.2, 0.3, 0.4, np.nan]])  # target E not comparable: last
    assert best_target_ranks(sim, genes, [["A"], ["B"], ["E"]]).tolist() == [1, 3, 5]
    assert best_target_ranks(sim, genes, [["D", "A"], ["B"], ["C", "E"]]).tolist() == [1, 3, 2]
    with pytest.raises(ValueError, match="no candidate of its targets"):
        best_target_ranks(sim, genes, [["Z"], ["B"], ["E"]])

    rng = np.random.default_rng(1)
    n_genes, n_compounds = 200, 15
    names = np.array([f"G{i}" for i in range(n_genes)], dtype=object)
    targets = [[names[i * 7]] for i in range(n_compounds)]
    noise = rng.normal(size=(n_compounds, n_genes))
    signal = noise.copy()
    for i in range(n_compounds):
        signal[i, i * 7] += 3.0  # the target stands out
    found = target_rank_test("signal", signal, names, targets, n_null=200)
    assert found.mean_share < 0.05 and found.p == pytest.approx(1 / 201)
    assert found.null_mean == pytest.approx(0.5, abs=0.05)
    chance = target_rank_test("noise", noise, names, targets, n_null=200)
    assert chance.p > 0.05 and 0.3 < chance.mean_share < 0.7
    assert (chance.share == chance.best_rank / n_genes).all()
