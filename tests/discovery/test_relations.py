"""EFAAR-style scoring of gene maps against known pairs with a degree-preserving null, and
same-mechanism retrieval of compounds against shuffled labels: known answers on small planted
maps, and the real CORUM complexes."""

import numpy as np
import pytest

from lpm_kg.discovery import mechanisms, relations
from lpm_kg.gene_network import GeneNetwork, NetworkError


def _network(name, genes, sim):
    s = np.array(sim, np.float32)
    np.fill_diagonal(s, np.nan)
    return GeneNetwork(name, list(genes), s)


def _planted(n_genes=60, n_complexes=8, size=5, noise=0.3, seed=0):
    """Genes in planted complexes; a map whose vectors share a complex direction (plus noise) and
    a map of pure noise."""
    rng = np.random.default_rng(seed)
    genes = [f"G{k:03d}" for k in range(n_genes)]
    pairs, vectors = set(), rng.normal(size=(n_genes, 16)) * noise
    for c in range(n_complexes):
        members = list(range(c * size, (c + 1) * size))
        direction = rng.normal(size=16)
        vectors[members] += direction
        pairs.update((genes[a], genes[b]) for a in members for b in members if a < b)
    cos = lambda v: (v / np.linalg.norm(v, axis=1, keepdims=True)) @ (v / np.linalg.norm(v, axis=1, keepdims=True)).T  # noqa: E731
    return genes, pairs, {"signal": _network("signal", genes, cos(vectors)),
                          "noise": _network("noise", genes, cos(rng.normal(size=(n_genes, 16))))}


def test_rewire_keeps_every_degree_and_makes_a_simple_graph():
    rng = np.random.default_rng(1)
    n = 40
    edges = np.array(sorted({tuple(sorted(rng.choice(n, 2, replace=False))) for _ in range(120)}))
    out = relations.rewire(edges, n, np.random.default_rng(2))
    assert np.array_equal(np.bincount(edges.ravel(), minlength=n), np.bincount(out.ravel(), minlength=n))
    assert (out[:, 0] < out[:, 1]).all()  # no self-loop, ordered
    assert len({tuple(e) for e in out.tolist()}) == len(out)  # no repeated edge
    assert len({tuple(e) for e in out.tolist()} & {tuple(e) for e in edges.tolist()}) < 0.5 * len(edges)  # it moved


def test_a_map_that_knows_the_complexes_beats_the_null_and_noise_does_not():
    genes, pairs, maps = _planted()
    report = relations.score_maps(maps, pairs, "planted", n_null=100)
    t = report.table.set_index("map")
    assert t.at["signal", "tail_recall"] > 0.9 and t.at["signal", "auprc"] > 0.8
    assert t.at["signal", "tail_recall_p"] == pytest.approx(1 / 101) and t.at["signal", "auprc_p"] == pytest.approx(1 / 101)
    assert t.at["noise", "auprc_p"] > 0.05 and t.at["noise", "tail_recall"] < 0.35
    # Every map is scored on the same genes and pairs; the prior is the share of known pairs.
    assert t["n_known"].nunique() == 1 and t.at["signal", "auprc_prior"] == pytest.approx(8 * 10 / (60 * 59 / 2))
    comp = relations.compare(report, "signal")
    assert comp.loc[0, "other"] == "noise" and comp.loc[0, "p_better"] < 1e-6 and comp.loc[0, "p_worse"] > 0.5
    band = report.null_band["signal"]
    assert band.shape == (3, relations.CURVE_POINTS) and (band[0] <= band[2] + 1e-12).all()
    assert report.curves["signal"][-1] == pytest.approx(1.0)  # all pairs: every known pair recalled


def test_auprc_matches_the_reference_implementation_with_ties():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, 200).astype(float)  # many ties
    labels = rng.random(200) < 0.2
    from lpm_kg.discovery.network_metrics import average_precision

    assert relations._Ranked(scores, 0.05).auprc(labels)[0] == pytest.approx(average_precision(labels, scores))


def test_scoring_needs_known_pairs_among_the_genes():
    genes, _, maps = _planted()
    with pytest.raises(NetworkError, match="known pair"):
        relations.score_maps(maps, {("X1", "X2")}, "elsewhere", n_null=5)


def test_corum_pairs_recovered_by_their_own_membership():
    """A map built from the real CORUM membership (genes sharing complexes are similar) recovers
    CORUM far above its degree-preserving null; the same map scored against shuffled gene names
    does not."""
    from conftest import shared

    from loaders.hgnc import read_hgnc
    from loaders.references import read_corum
    from lpm_kg.genes import GeneResolver
    from lpm_kg.loading import LoadContext

    resolver = GeneResolver(read_hgnc(shared("gene-ids/hgnc_complete_set.txt.gz"), None).genes)
    path = shared("corum/coreComplexes.txt")
    members = read_corum(path, LoadContext("t", str(path), {}, None, "skip", resolver)).members
    small = members[members.groupby("group")["gene"].transform("size").between(3, 8)]
    chosen = sorted(small["group"].unique())[:40]
    m = small[small["group"].isin(chosen)]
    genes = sorted(m["gene"].unique())
    at = {g: k for k, g in enumerate(genes)}
    x = np.zeros((len(genes), len(chosen)))
    for g, grp in zip(m["gene"], m["group"]):
        x[at[g], chosen.index(grp)] = 1
    x += np.random.default_rng(0).normal(scale=0.3, size=x.shape)
    n = x / np.linalg.norm(x, axis=1, keepdims=True)
    pairs = {(a, b) for _, grp in m.groupby("group")["gene"] for a in grp for b in grp if a < b}
    shuffled = np.random.default_rng(1).permutation(len(genes))
    maps = {"membership": _network("membership", genes, n @ n.T),
            "shuffled": _network("shuffled", genes, (n @ n.T)[np.ix_(shuffled, shuffled)])}
    t = relations.score_maps(maps, pairs, "corum", n_null=50).table.set_index("map")
    assert t.at["membership", "auprc"] > 5 * t.at["membership", "auprc_null"] and t.at["membership", "auprc_p"] < 0.05
    assert t.at["shuffled", "auprc_p"] > 0.05


def test_mechanism_retrieval_known_values():
    names = ["a", "b", "c", "d", "e"]
    moas = {"a": ["x"], "b": ["x"], "c": ["y"], "d": ["y"], "e": ["z"]}
    sim = np.array([[1, .9, .1, .2, .0], [.9, 1, .2, .1, .0], [.1, .2, 1, .0, .8],
                    [.2, .1, .0, 1, .3], [.0, .0, .8, .3, 1]])
    report = mechanisms.score_retrieval({"m": (names, sim)}, moas, ks=(1, 2), n_null=200)
    row = report.table.iloc[0]
    # a, b: their partner first (AP 1); c: d ranks last of 4 others (AP 1/4); d: c ranks last (AP 1/4).
    assert row["n_queries"] == 4 and row["map_score"] == pytest.approx((1 + 1 + 1 / 4 + 1 / 4) / 4)
    assert row["recall@1"] == pytest.approx(0.5) and row["recall@2"] == pytest.approx(0.5)
    assert 0 < row["map_null"] < row["map_score"] and 0 < row["p_value"] <= 1


def test_mechanism_retrieval_separates_a_real_signal_from_shuffled_labels():
    rng = np.random.default_rng(4)
    names = [f"c{k}" for k in range(40)]
    moas = {n: [f"moa{k % 8}"] for k, n in enumerate(names)}
    v = rng.normal(size=(8, 10))[[k % 8 for k in range(40)]] + rng.normal(scale=0.5, size=(40, 10))
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    noise = rng.normal(size=(40, 10))
    report = mechanisms.score_retrieval({"signal": (names, u @ u.T), "noise": (names, noise @ noise.T)}, moas,
                                        n_null=200)
    t = report.table.set_index("map")
    assert t.at["signal", "p_value"] < 0.01 and t.at["signal", "map_score"] > 0.8
    assert t.at["noise", "p_value"] > 0.01
    c = mechanisms.compare(report, "signal").iloc[0]
    assert c["p_better"] < 1e-4


def test_mechanism_retrieval_with_no_annotated_compound_scores_nothing():
    report = mechanisms.score_retrieval({"m": (["a", "b"], np.eye(2))}, {}, n_null=0)
    assert report.table.loc[0, "n_queries"] == 0 and report.compounds == []


def test_pair_position_is_the_upper_triangle_order():
    n = 9
    i, j = np.triu_indices(n, k=1)
    assert np.array_equal(relations.pair_position(i, j, n), np.arange(len(i)))
    assert np.array_equal(relations.pair_position(j, i, n), np.arange(len(i)))  # either order
