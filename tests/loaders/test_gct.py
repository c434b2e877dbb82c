"""CMap loaders on the real L1000 files: level-5 signatures, the shRNA plate, a level-3 plate."""

import numpy as np
import pandas as pd

from conftest import shared

VALUE_OF = ("MATCH (e:Experiment {id: $id})-[:MEASURED_WITH]->(p:ReadoutPanel) "
            "WITH e, [i IN range(0, size(p.readouts) - 1) WHERE p.readouts[i] = $readout][0] AS i "
            "RETURN e.values[i] AS v")


def test_level5_vemurafenib_lowers_dusp6_in_a375(graph, load_file):
    report = load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    meta = pd.read_csv(shared("cmapR-l1000/ds_col_meta.csv"))
    assert report.counts["n_readouts"] == 978
    # One experiment per (perturbation, cell line, time): replicates averaged.
    dose = meta["pert_idose"].str.replace(" µM", "uM").str.replace(".0uM", "uM")
    n_groups = (meta["pert_iname"] + dose + meta["cell_id"] + meta["pert_itime"]).nunique()
    assert report.counts["n_experiments"] == n_groups
    v = graph.read(VALUE_OF, {"id": "L1000:vemurafenib-10uM@A375@24h", "readout": "Transcriptome_DUSP6"})[0]["v"]
    # The source value: the mean of the matching signatures' DUSP6 (Entrez 1848) z-scores.
    matrix = pd.read_csv(shared("cmapR-l1000/ds_matrix.csv.gz"), index_col=0)
    rows = pd.read_csv(shared("cmapR-l1000/ds_row_meta.csv"))
    probe = rows.loc[rows["pr_gene_symbol"] == "DUSP6", "id"].iat[0]
    cols = meta[(meta.pert_iname == "vemurafenib") & (meta.cell_id == "A375") & (meta.pert_idose == "10 µM")
                & (meta.pert_itime == "24 h")]["id"]
    assert np.isclose(v, matrix.loc[probe, cols].mean(), atol=1e-5)
    assert v < -5
    # The Cypher users run: the most changed readouts of a perturbation in a context.
    top = graph.read("MATCH (e:Experiment {perturbation: 'vemurafenib-10uM', context: 'L1000_A375_CMP'})"
                     "-[c:CHANGES]->(r:Readout) WHERE e.time_h = 24 RETURN r.gene AS gene, c.value AS value "
                     "ORDER BY c.rank LIMIT 25")
    assert "DUSP6" in [r["gene"] for r in top]
    assert abs(top[0]["value"]) >= abs(top[-1]["value"])


def test_shrna_plate_knocked_down_gene_drops_in_its_own_readout(graph, load_file):
    report = load_file("cmapR-l1000/kd_gct_matrix.csv.gz", "gct-csv", "L1000-kd", cell_line="KD017")
    assert report.counts["n_readouts"] == 976
    rows = graph.read("MATCH (e:Experiment {dataset: 'L1000-kd'})-[:OF_PERTURBATION]->(p:Perturbation {kind: 'genetic'}) "
                      "MATCH (e)-[:MEASURED_WITH]->(panel) "
                      "WITH e, p, [i IN range(0, size(panel.readouts) - 1) "
                      "  WHERE panel.readouts[i] = 'Transcriptome_' + p.gene][0] AS i WHERE i IS NOT NULL "
                      "RETURN p.gene AS gene, e.values[i] AS self")
    self_z = np.array([r["self"] for r in rows])
    assert len(self_z) >= 30
    assert np.median(self_z) < -2
    assert graph.read("MATCH (p:Perturbation {symbol: 'shRNA_TOMM70'})-[:TARGETS]->(g:Gene) RETURN g.symbol AS s")[0]["s"] \
        == "TOMM70"  # the plate says TOMM70A, a previous symbol


def test_level3_plate_becomes_change_against_dmso(graph, load_file):
    report = load_file("l1000-ljp005-a375/LJP005_A375_24H_level3_n377x978.gct", "gct", "LJP005")
    assert report.counts["n_contexts"] == 1
    series = {}
    for dose in ("0.04uM", "0.12uM", "0.37uM", "1.11uM", "3.33uM", "10uM"):
        rows = graph.read(VALUE_OF, {"id": f"LJP005:vemurafenib-{dose}@A375@24h", "readout": "Transcriptome_DUSP6"})
        series[dose] = rows[0]["v"]
    # SOURCES.md: vemurafenib DUSP6 minus DMSO mean = -0.69,-0.51,-0.12,-4.65,-5.78,-6.38 over the dose series.
    expected = [-0.69, -0.51, -0.12, -4.65, -5.78, -6.38]
    assert np.allclose(list(series.values()), expected, atol=0.01)


def test_gctx_matches_gct(graph, load_file, tmp_path):
    import h5py

    from loaders.gct import parse_gct

    matrix, row_meta, col_meta = parse_gct(shared("l1000-ljp005-a375/LJP005_A375_24H_level3_n377x978.gct"))
    path = tmp_path / "ljp005.gctx"
    with h5py.File(path, "w") as h5:  # the GCTX layout: samples x genes, metadata as string datasets
        h5["0/DATA/0/matrix"] = matrix.to_numpy().T.astype(np.float32)
        for group, meta in (("0/META/ROW", row_meta), ("0/META/COL", col_meta)):
            for col in meta.columns:
                h5[f"{group}/{col}"] = meta[col].astype(str).to_numpy().astype("S")
    load_file(path, "gctx", "LJP005-x")
    load_file("l1000-ljp005-a375/LJP005_A375_24H_level3_n377x978.gct", "gct", "LJP005")
    a = graph.read(VALUE_OF, {"id": "LJP005-x:vemurafenib-10uM@A375@24h", "readout": "Transcriptome_DUSP6"})[0]["v"]
    b = graph.read(VALUE_OF, {"id": "LJP005:vemurafenib-10uM@A375@24h", "readout": "Transcriptome_DUSP6"})[0]["v"]
    assert np.isclose(a, b, atol=1e-4)
