"""Papalexi 2021 ECCITE-seq: single cells -> pseudobulk changes against non-targeting cells."""

import numpy as np
import pandas as pd

from conftest import shared

H5AD = "papalexi2021-sceptre/papalexi2021_thp1_lowmoi_299genes.h5ad"
PSEUDOBULK = "papalexi2021-sceptre/papalexi2021_pseudobulk_by_target.csv.gz"


def _values(graph, dataset):
    rows = graph.read("MATCH (e:Experiment {dataset: $d})-[:MEASURED_WITH]->(p) "
                      "UNWIND range(0, size(p.readouts) - 1) AS i "
                      "RETURN e.perturbation AS pert, p.readouts[i] AS readout, e.values[i] AS v", {"d": dataset})
    return pd.DataFrame([dict(r) for r in rows])


def test_pseudobulk_matches_the_published_log2fc(graph, load_file):
    report = load_file(H5AD, "h5ad", "Papalexi21", method="CRISPR-KO", cell_line="THP-1", unmapped="skip")
    assert report.counts["n_experiments"] == 25  # 25 knockout targets; controls are the reference
    ours = _values(graph, "Papalexi21")
    ref = pd.read_csv(shared(PSEUDOBULK))
    ref = ref[ref.perturbation_target != "non-targeting"]
    # Only genes that resolve through HGNC became readouts; compare those by their source names.
    ours["gene"] = ours.readout.str.removeprefix("Transcriptome_")
    ours["target"] = ours.pert.str.removeprefix("CRISPR-KO_")
    merged = ours.merge(ref, left_on=["target", "gene"], right_on=["perturbation_target", "gene"])
    assert len(merged) > 0.8 * len(ref)
    assert np.allclose(merged.v, merged.log2fc_vs_nontargeting, atol=1e-4)


def test_each_knockout_lowers_its_own_target(graph, load_file):
    load_file(H5AD, "h5ad", "Papalexi21", method="CRISPR-KO", cell_line="THP-1", normalize="total", unmapped="skip")
    rows = graph.read("MATCH (e:Experiment {dataset: 'Papalexi21'})-[:OF_PERTURBATION]->(p)-[:TARGETS]->(g:Gene) "
                      "MATCH (e)-[:MEASURED_WITH]->(panel) "
                      "WITH e, g, [i IN range(0, size(panel.readouts) - 1) "
                      "  WHERE panel.readouts[i] = 'Transcriptome_' + g.symbol][0] AS i WHERE i IS NOT NULL "
                      "RETURN g.symbol AS gene, e.values[i] AS self")
    assert len(rows) >= 8  # SOURCES.md: 9 targets are among the 299 genes
    assert all(r["self"] < 0 for r in rows), rows


def test_aggregated_matrix_is_taken_as_it_is(graph, load_file, tmp_path):
    import anndata

    ref = pd.read_csv(shared(PSEUDOBULK))
    wide = ref.pivot(index="perturbation_target", columns="gene", values="log2fc_vs_nontargeting")
    wide = wide.drop(index="non-targeting")
    adata = anndata.AnnData(wide.to_numpy(np.float32), obs=pd.DataFrame({"target": wide.index}, index=wide.index),
                            var=pd.DataFrame(index=wide.columns))
    path = tmp_path / "aggregated.h5ad"
    adata.write_h5ad(path)
    report = load_file(path, "h5ad", "agg", method="CRISPR-KO", cell_line="THP-1", unmapped="skip")
    assert report.counts["n_experiments"] == 25
    ours = _values(graph, "agg")
    stat1 = ours[(ours.pert == "CRISPR-KO_STAT1") & (ours.readout == "Transcriptome_STAT1")].v.iat[0]
    assert np.isclose(stat1, wide.loc["STAT1", "STAT1"], atol=1e-5)


# --------------------------------------------------------------------------- collisions

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def resolver():
    from loaders.hgnc import read_hgnc
    from lpm_kg.genes import GeneResolver

    return GeneResolver(read_hgnc(shared("gene-ids/hgnc_complete_set.txt.gz"), None).genes)


def read(path, resolver, **options):
    from loaders.h5ad import read_h5ad
    from lpm_kg.loading import LoadContext

    ctx = LoadContext("coll", str(path), {"method": "CRISPRi", "cell_line": "K562", **options}, resolver_=resolver)
    table = read_h5ad(path, ctx)
    frame = pd.DataFrame(table.values, index=[p.symbol for p in table.experiments["perturbation"]],
                         columns=table.genes)
    return frame, table.experiments.set_index(frame.index), ctx.notes


def aggregated(path):
    """Rows: STAT1 twice (duplicate_row), TOMM70 and TOMM70A (its old symbol: names_onto_one_symbol);
    var: IRF1, MYC, and IRF1 again (duplicate_row on the gene axis)."""
    import anndata

    X = np.array([[1, 10, 3], [3, 20, 5], [0, 30, 2], [4, 40, 6]], np.float32)
    obs = pd.DataFrame({"target": ["STAT1", "STAT1", "TOMM70", "TOMM70A"], "n_cells": [5, 7, 2, 3]},
                       index=["r1", "r2", "r3", "r4"])
    adata = anndata.AnnData(X, obs=obs, var=pd.DataFrame({"gene": ["IRF1", "MYC", "IRF1"]}, index=["v1", "v2", "v3"]))
    adata.write_h5ad(path)


@pytest.mark.parametrize("how, expected, cells", [
    # mean: IRF1 = mean(v1, v3); STAT1 = mean(r1, r2); TOMM70 = mean(r3, r4); cells add.
    ("mean", {"CRISPRi_STAT1": {"IRF1": 3.0, "MYC": 15.0}, "CRISPRi_TOMM70": {"IRF1": 3.0, "MYC": 35.0}},
     {"CRISPRi_STAT1": 12, "CRISPRi_TOMM70": 5}),
    # first: IRF1 = v1; STAT1 = r1; TOMM70 = r3.
    ("first", {"CRISPRi_STAT1": {"IRF1": 1.0, "MYC": 10.0}, "CRISPRi_TOMM70": {"IRF1": 0.0, "MYC": 30.0}},
     {"CRISPRi_STAT1": 5, "CRISPRi_TOMM70": 2}),
])
def test_aggregated_h5ad_collisions_by_policy(tmp_path, resolver, how, expected, cells):
    import json

    path = tmp_path / "agg.h5ad"
    aggregated(path)
    values, exps, notes = read(path, resolver, mode="aggregated", gene_key="gene", collisions=how)
    assert sorted(values.columns) == ["IRF1", "MYC"] and sorted(values.index) == sorted(expected)
    for pert, row in expected.items():
        for gene, v in row.items():
            assert values.at[pert, gene] == pytest.approx(v), (pert, gene)
        assert int(exps.at[pert, "n_cells"]) == cells[pert]
    kinds = json.loads(notes["collision_kinds"])
    assert notes["collisions"] == 3
    assert kinds["duplicate_row"]["count"] == 2  # r2 onto r1, v3 onto v1
    assert kinds["names_onto_one_symbol"]["examples"][0]["target"] == ["TOMM70", "TOMM70A"]


def test_aggregated_h5ad_collisions_error_names_both_rows(tmp_path, resolver):
    from lpm_kg.errors import InputError

    path = tmp_path / "agg.h5ad"
    aggregated(path)
    with pytest.raises(InputError) as err:
        read(path, resolver, mode="aggregated", gene_key="gene", collisions="error")
    msg = str(err.value)
    assert "var entries 'v1' and 'v3' both measure gene IRF1 (gene 'IRF1' twice" in msg, msg
    assert "--option collisions=first" in msg and "--option collisions=mean" in msg


def test_pseudobulk_two_labels_of_one_gene_pool_their_cells(tmp_path, resolver):
    """Counts chosen by hand: control cells average 1 count of each gene; STAT1 cells 3, TOMM70
    cells 7, TOMM70A cells 15 (one cell each), pseudocount 0. mean pools TOMM70 and TOMM70A cells
    (mean 11 -> log2 11); first keeps TOMM70's (log2 7); error names both labels."""
    import anndata

    from lpm_kg.errors import InputError

    labels = ["non-targeting", "non-targeting", "STAT1", "TOMM70", "TOMM70A"]
    X = np.array([[1, 1], [1, 1], [3, 3], [7, 7], [15, 15]], np.float32)
    adata = anndata.AnnData(X, obs=pd.DataFrame({"target": labels}, index=[f"c{i}" for i in range(5)]),
                            var=pd.DataFrame(index=["IRF1", "MYC"]))
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    mean, _, notes = read(path, resolver, pseudocount="0")
    assert mean.at["CRISPRi_TOMM70", "IRF1"] == pytest.approx(np.log2(11))
    assert mean.at["CRISPRi_STAT1", "MYC"] == pytest.approx(np.log2(3))
    assert notes["collisions"] == 1 and "names_onto_one_symbol" in notes["collision_kinds"]
    first, _, _ = read(path, resolver, pseudocount="0", collisions="first")
    assert first.at["CRISPRi_TOMM70", "IRF1"] == pytest.approx(np.log2(7))
    with pytest.raises(InputError, match="labels 'TOMM70' and 'TOMM70A' land on one experiment"):
        read(path, resolver, pseudocount="0", collisions="error")
