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
