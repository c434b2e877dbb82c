"""The acquisition strategies on hand-made candidates whose right answer is plain."""

import numpy as np
import pytest

from lpm_kg.design.strategies import STRATEGIES, Candidates, get_strategy, relatedness
from lpm_kg.errors import ConfigError


def _clustered(n_cluster=6, n_alone=4, seed=0):
    """One context: a tight cluster of similar candidates, a little more uncertain than some that
    resemble nothing; a second context holds the first cluster member again."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=50)
    profiles = [centre + 0.05 * rng.normal(size=50) for _ in range(n_cluster)]
    profiles += [rng.normal(size=50) * 3 for _ in range(n_alone)]
    n = n_cluster + n_alone
    pert = np.r_[np.arange(n), 0]
    ctx = np.r_[np.zeros(n, int), 1]
    uncertainty = np.r_[np.full(n_cluster, 1.0), np.full(n_alone, 0.8), 0.1]
    profiles_by_ctx = {0: (np.arange(n), np.array(profiles)), 1: (np.array([n]), np.array([profiles[0]]))}
    related = relatedness(pert, ctx, profiles_by_ctx, k=n_cluster - 1, cross_context=0.5)
    return Candidates(pert, ctx, uncertainty, related), n_cluster


def test_relatedness_is_symmetric_without_a_diagonal_and_links_one_perturbation_across_contexts():
    cands, n_cluster = _clustered()
    w = cands.related.toarray()
    assert np.allclose(w, w.T) and not np.diag(w).any()
    assert ((w >= 0) & (w <= 1)).all()
    assert w[0, -1] == 0.5  # perturbation 0 in the two contexts
    cluster = w[:n_cluster, :n_cluster]
    assert (cluster[~np.eye(n_cluster, dtype=bool)] > 0.9).all()  # near-identical profiles
    assert w[:n_cluster, n_cluster:-1].max() < cluster[~np.eye(n_cluster, dtype=bool)].min()


def test_uncertainty_takes_the_cluster_and_diverse_spreads_over_it():
    cands, n_cluster = _clustered()
    plain = [p.index for p in get_strategy("uncertainty").select(cands, 4)]
    assert set(plain) <= set(range(n_cluster))  # the four most uncertain: all of one cluster
    diverse = [p.index for p in get_strategy("diverse").select(cands, 4)]
    assert sum(i < n_cluster for i in diverse) == 1  # one of the cluster, then what resembles nothing
    assert [p.rank for p in get_strategy("diverse").select(cands, 4)] == [1, 2, 3, 4]


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_respects_batch_budget_and_eligibility(name):
    cands, _ = _clustered()
    picks = get_strategy(name).select(cands, 3, budget=2, seed=1)
    idx = [p.index for p in picks]
    assert len(idx) == len(set(idx)) == 3
    assert max(np.bincount(cands.context[idx])) <= 2
    cands.eligible = np.arange(len(cands)) % 2 == 1  # only odd candidates can be run
    picks = get_strategy(name).select(cands, 20, seed=1)
    assert {p.index for p in picks} == set(np.flatnonzero(cands.eligible))


def test_random_is_seeded():
    cands, _ = _clustered()
    a = [p.index for p in get_strategy("random").select(cands, 5, seed=3)]
    assert a == [p.index for p in get_strategy("random").select(cands, 5, seed=3)]
    assert a != [p.index for p in get_strategy("random").select(cands, 5, seed=4)]


def test_an_unknown_strategy_names_the_known_ones():
    with pytest.raises(ConfigError, match="diverse"):
        get_strategy("greedy")


def test_coverage_measures_the_unmeasured_perturbations_first_and_spreads_a_batch_over_them():
    from scipy import sparse

    # Perturbations 0-2 never measured, each unmeasured in 3 contexts; perturbation 3 measured in
    # 2 contexts, unmeasured in 1, and the most uncertain of all.
    pert = np.r_[np.repeat([0, 1, 2], 3), 3]
    ctx = np.r_[np.tile([0, 1, 2], 3), 0]
    measured = np.r_[np.zeros(9, int), 2]
    uncertainty = np.r_[np.linspace(0.1, 0.5, 9), 1.0]
    cands = Candidates(pert, ctx, uncertainty, sparse.csr_matrix((10, 10)), measured=measured)
    picks = [p.index for p in get_strategy("coverage").select(cands, 3)]
    assert sorted(pert[picks]) == [0, 1, 2]  # one first measurement of each, not three of one
    assert 9 not in picks  # the well-measured one waits, though the most uncertain
    # Within a perturbation, the model's doubt picks the pair: its most uncertain context.
    first = get_strategy("coverage").select(cands, 1)[0].index
    assert first == 8  # perturbation 2's most uncertain pair (perturbation 2 is the most uncertain overall)
