"""Ranked signatures (sigrecon) -> signed scores, on the real sci-Plex and Replogle sets."""


import numpy as np
import pandas as pd
import pytest

from conftest import collision_record, measured_values, shared
from lpm_kg.errors import InputError

SCIPLEX = "sigrecon-signatures/sciplex_ranked_signatures_long.parquet"
REPLOGLE = "sigrecon-signatures/perturbseq_ranked_signatures_long.parquet"


def test_sciplex_signed_scores(graph, load_file):
    report = load_file(SCIPLEX, "ranked-signatures", "sciplex", unmapped="skip")
    src = pd.read_parquet(shared(SCIPLEX))
    assert report.counts["n_experiments"] == src.groupby(["perturbation", "context"], observed=True).ngroups
    assert report.counts["n_contexts"] == 3
    # Trametinib in K562: the most up gene scores 1, the last one -1, and the score is linear in rank.
    sig = src[(src.perturbation == "Trametinib (GSK1120212)") & (src.context == "k562")]
    top_gene_ensg = sig.loc[sig["rank"].idxmin(), "gene"]
    row = graph.read("MATCH (e:Experiment {perturbation: 'trametinib', context: 'sciplex_K562_CMP'})-[c:CHANGES]->"
                     "(r:Readout)-[:OF_GENE]->(g:Gene {ensembl: $ensg}) RETURN c.value AS v", {"ensg": top_gene_ensg})
    assert row and np.isclose(row[0]["v"], 1.0)
    vals = graph.read("MATCH (e:Experiment {perturbation: 'trametinib', context: 'sciplex_K562_CMP'}) "
                      "RETURN [v IN e.values WHERE NOT isNaN(v)] AS v")[0]["v"]
    assert min(vals) >= -1.0 and max(vals) <= 1.0
    assert abs(min(vals) + 1.0) < 0.01  # the bottom-ranked gene that resolves


def test_replogle_top_lists_leave_unlisted_genes_unmeasured(graph, load_file):
    report = load_file(REPLOGLE, "ranked-signatures", "replogle", perturbation_type="CRISPRi", scoring="top")
    src = pd.read_parquet(shared(REPLOGLE))
    assert report.counts["n_contexts"] == 2
    per_exp = graph.read("MATCH (e:Experiment {dataset: 'replogle'}) RETURN e.n_measured AS n")
    assert max(r["n"] for r in per_exp) <= 1000  # only the listed top-1000 genes
    assert sum(r["n"] for r in per_exp) == report.counts["n_measurements"]
    assert report.counts["n_measurements"] > 0.95 * len(src)


# Collisions in ranked data, n_ranked 5: score = 1 - 2 (rank - 1) / 4, so ranks 1..5 score
# 1, 0.5, 0, -0.5, -1. Data rows are numbered from 1. Each kind alone, next to a row that collides with nothing.
RANKED_KINDS = {
    # the same row twice, the second with the better rank
    "duplicate_row": [("vorinostat", 2, "IRF1"), ("vorinostat", 1, "IRF1")],
    # two ids of one gene: Entrez 6772 and the symbol STAT1
    "ids_onto_one_gene": [("vorinostat", 3, "6772"), ("vorinostat", 5, "STAT1")],
    # two names of one compound
    "names_onto_one_symbol": [("Trametinib (GSK1120212)", 4, "DUSP6"), ("trametinib", 2, "DUSP6")],
}
RANKED_AT = {"duplicate_row": ("vorinostat", "IRF1"), "ids_onto_one_gene": ("vorinostat", "STAT1"),
             "names_onto_one_symbol": ("trametinib", "DUSP6")}
# By hand: first keeps the best rank (not the first row), mean averages the two scores.
RANKED_EXPECTED = {"first": {"duplicate_row": 1.0, "ids_onto_one_gene": 0.0, "names_onto_one_symbol": 0.5},
                   "mean": {"duplicate_row": 0.75, "ids_onto_one_gene": -0.5, "names_onto_one_symbol": 0.0}}
RANKED_BYSTANDER = ("vorinostat", 4, "DUSP6")  # -0.5


def _write_ranked(path, rows):
    pd.DataFrame({"context": "k562", "perturbation": [r[0] for r in rows], "rank": [r[1] for r in rows],
                  "gene": [r[2] for r in rows], "n_ranked": 5}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", list(RANKED_KINDS))
@pytest.mark.parametrize("how", ["first", "mean"])
def test_ranked_collisions_are_merged_by_policy(graph, load_file, tmp_path, kind, how):
    path = _write_ranked(tmp_path / "r.csv", [RANKED_BYSTANDER, *RANKED_KINDS[kind]])
    load_file(path, "ranked-signatures", "rk", collisions=how)
    values = measured_values(graph, "rk")
    assert values[RANKED_AT[kind]] == pytest.approx(RANKED_EXPECTED[how][kind], abs=1e-6)
    assert values[("vorinostat", "DUSP6")] == pytest.approx(-0.5)
    assert len(values) == 2
    n, policy, kinds = collision_record(graph, "rk")
    assert (n, policy, list(kinds)) == (1, how, [kind])
    (p1, _, g1), (p2, _, g2) = RANKED_KINDS[kind]
    assert kinds[kind]["examples"] == [{"rows": [2, 3], "perturbation": [p1, p2], "gene": [g1, g2],
                                        "context": "k562", "onto": f"{RANKED_AT[kind][0]} / {RANKED_AT[kind][1]}"}]


@pytest.mark.parametrize("kind", list(RANKED_KINDS))
def test_ranked_collisions_error_names_both_rows_and_the_option(graph, load_file, tmp_path, kind):
    path = _write_ranked(tmp_path / "r.csv", [RANKED_BYSTANDER, *RANKED_KINDS[kind]])
    with pytest.raises(InputError) as err:
        load_file(path, "ranked-signatures", "rk", collisions="error")
    msg = str(err.value)
    (p1, _, g1), (p2, _, g2) = RANKED_KINDS[kind]
    assert "rows 2 and 3" in msg and err.value.row == 3
    assert f"row 2 has perturbation={p1!r}, gene={g1!r}" in msg and f"row 3 has perturbation={p2!r}, gene={g2!r}" in msg
    assert "--option collisions=first (keep the best-ranked row)" in msg and "--option collisions=mean" in msg
    assert graph.read("MATCH (e:Experiment) RETURN count(e) AS n")[0]["n"] == 0


def test_ranked_default_keeps_the_best_rank_of_every_kind(graph, load_file, tmp_path):
    rows = [RANKED_BYSTANDER] + [r for k in RANKED_KINDS for r in RANKED_KINDS[k]]
    report = load_file(_write_ranked(tmp_path / "all.csv", rows), "ranked-signatures", "rk")
    values = measured_values(graph, "rk")
    for kind, at in RANKED_AT.items():
        assert values[at] == pytest.approx(RANKED_EXPECTED["first"][kind], abs=1e-6), kind
    assert report.counts["collisions"] == 3
    n, policy, kinds = collision_record(graph, "rk")
    assert (n, policy) == (3, "first") and {k: v["count"] for k, v in kinds.items()} == dict.fromkeys(RANKED_KINDS, 1)
    assert kinds["names_onto_one_symbol"]["examples"][0]["rows"] == [6, 7]
