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

    from loaders.gct_files import parse_gct

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


# --------------------------------------------------------------------------- LINCS-sized GCTX

import pytest  # noqa: E402

from lpm_kg.errors import ConfigError, InputError  # noqa: E402

N_GENES, N_LANDMARK, N_SIGS = 40, 15, 60


@pytest.fixture(scope="module")
def resolver():
    from loaders.hgnc import read_hgnc
    from lpm_kg.genes import GeneResolver

    return GeneResolver(read_hgnc(shared("gene-ids/hgnc_complete_set.txt.gz"), None).genes)


@pytest.fixture(scope="module")
def hgnc_genes():
    genes = pd.read_csv(shared("gene-ids/hgnc_complete_set.txt.gz"), sep="\t", dtype=str,
                        usecols=["symbol", "locus_group", "entrez_id"])
    return genes[(genes.locus_group == "protein-coding gene") & genes.entrez_id.notna()].iloc[:N_GENES]


def lincs_meta(hgnc_genes, n_sigs=N_SIGS, seed=0):
    """Row and column metadata shaped like LINCS level 5: pr_is_lm flags, compound, CRISPR and
    vehicle signatures with replicates scattered through the file (so they span chunks)."""
    rng = np.random.default_rng(seed)
    rows = pd.DataFrame({"id": hgnc_genes["entrez_id"].to_numpy(), "pr_gene_id": hgnc_genes["entrez_id"].to_numpy(),
                         "pr_gene_symbol": hgnc_genes["symbol"].to_numpy(),
                         "pr_is_lm": (np.arange(len(hgnc_genes)) < N_LANDMARK).astype(int)})
    kinds = rng.choice(["trt_cp", "trt_xpr", "ctl_vehicle"], size=n_sigs, p=[0.6, 0.25, 0.15])
    names = np.where(kinds == "trt_cp", rng.choice(["vorinostat", "trichostatin-a"], size=n_sigs),
                     np.where(kinds == "trt_xpr", rng.choice(hgnc_genes["symbol"].iloc[20:23].to_numpy(), size=n_sigs),
                              "DMSO"))
    cols = pd.DataFrame({
        "id": [f"CPC{i // 8:03d}_A375_24H:K{i:02d}" for i in range(n_sigs)], "pert_iname": names, "pert_type": kinds,
        "cell_id": rng.choice(["A375", "MCF7"], size=n_sigs),
        "pert_idose": np.where(kinds == "trt_cp", rng.choice(["10 uM", "1.11 uM"], size=n_sigs), "-666"),
        "pert_itime": rng.choice(["24 h", "6 h"], size=n_sigs), "is_hiq": rng.choice([1, 0], size=n_sigs, p=[0.7, 0.3])})
    cols["sig_id"] = cols["id"]
    return rows, cols


def write_lincs(path, hgnc_genes, n_sigs=N_SIGS, seed=0, col_fields=None):
    from loaders.gct_files import write_gctx

    rows, cols = lincs_meta(hgnc_genes, n_sigs, seed)
    data = np.random.default_rng(seed + 1).normal(size=(n_sigs, len(rows))).astype(np.float32)
    write_gctx(path, rows, cols[col_fields] if col_fields else cols, [data[:25], data[25:]], chunks=(8, 16))
    return data, rows, cols


def read(path, resolver, **options):
    from loaders.gct import read_gctx
    from lpm_kg.loading import LoadContext

    return read_gctx(path, LoadContext("lincs", str(path), {k: str(v) for k, v in options.items()},
                                       resolver_=resolver))


def expected_means(data, cols, mask=None, genes=slice(None)):
    """Replicate means computed apart from the loader: pandas groupby over the raw signatures."""
    from loaders.lincs_fields import perturbations_of, times_of

    mask = np.ones(len(cols), bool) if mask is None else mask
    sel = cols[mask].reset_index(drop=True)
    symbols = [p.symbol for p in perturbations_of(sel, lambda name, row: name, "f")]
    keys = [f"{s}@{c}@{t:g}h" for s, c, t in zip(symbols, sel["cell_id"], times_of(sel))]
    return pd.DataFrame(data[mask][:, genes].astype(np.float64)).groupby(keys).mean()


def test_chunked_gctx_read_equals_the_replicate_means(tmp_path, hgnc_genes, resolver):
    path = tmp_path / "lincs.gctx"
    data, rows, cols = write_lincs(path, hgnc_genes)
    whole = read(path, resolver)
    chunked = read(path, resolver, chunk=7)  # 9 chunks; replicates of one experiment in several
    pd.testing.assert_frame_equal(whole.experiments, chunked.experiments)
    assert whole.genes == chunked.genes == list(hgnc_genes["symbol"])
    assert np.allclose(whole.values, chunked.values, rtol=1e-6, atol=1e-6)
    expected = expected_means(data, cols).loc[chunked.experiments["key"]]
    assert np.allclose(chunked.values, expected.to_numpy(), atol=1e-6)
    assert chunked.experiments["n_replicates"].sum() == N_SIGS
    assert chunked.experiments["n_replicates"].max() > 1


def test_chunked_level3_plate_read_equals_gct(resolver):
    """The real LJP005 level-3 plate, 377 wells in chunks of 50: control means span chunks."""
    from loaders.gct import read_gct
    from loaders.gct_files import parse_gct
    from lpm_kg.loading import LoadContext

    gct = shared("l1000-ljp005-a375/LJP005_A375_24H_level3_n377x978.gct")
    want = read_gct(gct, LoadContext("x", str(gct), {}, resolver_=resolver))
    matrix, row_meta, col_meta = parse_gct(gct)
    from loaders.gct import build_experiments, InMemoryMatrix

    got = build_experiments(InMemoryMatrix(matrix), row_meta, col_meta,
                            LoadContext("x", str(gct), {}, resolver_=resolver), str(gct), chunk=50)
    assert got.value_kind == want.value_kind == "log2_change_vs_plate_control"
    pd.testing.assert_frame_equal(want.experiments, got.experiments)
    assert np.allclose(want.values, got.values, atol=1e-5)


def test_landmark_genes_only(tmp_path, hgnc_genes, resolver):
    path = tmp_path / "lincs.gctx"
    data, rows, cols = write_lincs(path, hgnc_genes)
    table = read(path, resolver, genes="landmark", chunk=11)
    assert table.genes == list(hgnc_genes["symbol"].iloc[:N_LANDMARK])
    expected = expected_means(data, cols, genes=slice(0, N_LANDMARK)).loc[table.experiments["key"]]
    assert np.allclose(table.values, expected.to_numpy(), atol=1e-6)


def test_landmark_from_feature_space_and_missing_field(tmp_path, hgnc_genes, resolver):
    from loaders.gct_files import write_gctx

    rows, cols = lincs_meta(hgnc_genes)
    data = np.zeros((N_SIGS, N_GENES), np.float32)
    space = rows.assign(feature_space=np.where(rows.pr_is_lm == 1, "landmark", "inferred")).drop(columns="pr_is_lm")
    write_gctx(tmp_path / "fs.gctx", space, cols, [data])
    assert read(tmp_path / "fs.gctx", resolver, genes="landmark").genes == list(hgnc_genes["symbol"].iloc[:N_LANDMARK])
    write_gctx(tmp_path / "none.gctx", rows.drop(columns="pr_is_lm"), cols, [data])
    with pytest.raises(InputError, match="no landmark field") as err:
        read(tmp_path / "none.gctx", resolver, genes="landmark")
    assert err.value.file == str(tmp_path / "none.gctx") and err.value.field == "pr_is_lm"
    with pytest.raises(ConfigError, match=r"option genes='lm' is not valid: expected all\|landmark"):
        read(tmp_path / "fs.gctx", resolver, genes="lm")


def test_where_selects_signatures_as_the_paper_does(tmp_path, hgnc_genes, resolver):
    path = tmp_path / "lincs.gctx"
    data, rows, cols = write_lincs(path, hgnc_genes)
    table = read(path, resolver, chunk=9, where="is_hiq:1; pert_type:trt_cp|trt_xpr; pert_itime:24 h")
    mask = ((cols.is_hiq == 1) & cols.pert_type.isin(["trt_cp", "trt_xpr"]) & (cols.pert_itime == "24 h")).to_numpy()
    assert table.experiments["n_replicates"].sum() == mask.sum()
    expected = expected_means(data, cols, mask).loc[table.experiments["key"]]
    assert np.allclose(table.values, expected.to_numpy(), atol=1e-6)
    assert {p.kind for p in table.experiments["perturbation"]} == {"chemical", "genetic"}
    dose = read(path, resolver, where="pert_idose:10 uM")
    assert {p.dose for p in dose.experiments["perturbation"]} == {10.0}


def test_where_errors_name_the_field(tmp_path, hgnc_genes, resolver):
    path = tmp_path / "lincs.gctx"
    write_lincs(path, hgnc_genes)
    with pytest.raises(InputError, match=r"'pert_dose'.*fields: id, cell_id, is_hiq") as err:
        read(path, resolver, where="pert_dose:10")
    assert err.value.field == "pert_dose" and err.value.file == str(path)
    with pytest.raises(InputError, match="is not field:value1|value2"):
        read(path, resolver, where="is_hiq=1")
    with pytest.raises(InputError, match="no signature matches"):
        read(path, resolver, where="cell_id:HEPG2")


def test_sig_info_table_beside_the_gctx(tmp_path, hgnc_genes, resolver):
    """LINCS 2020: the GCTX has only ids; siginfo_beta.txt holds the rest (cmap_name, cell_iname)."""
    path = tmp_path / "level5_beta.gctx"
    data, rows, cols = write_lincs(path, hgnc_genes, col_fields=["id"])
    info = cols.drop(columns="id").rename(columns={"pert_iname": "cmap_name", "cell_id": "cell_iname"})
    info.iloc[::-1].to_csv(tmp_path / "siginfo_beta.txt", sep="\t", index=False)  # its own order
    table = read(path, resolver, sig_info=tmp_path / "siginfo_beta.txt", where="is_hiq:1", chunk=13)
    full = tmp_path / "full.gctx"
    write_lincs(full, hgnc_genes)
    want = read(full, resolver, where="is_hiq:1")
    assert list(table.experiments["key"]) == list(want.experiments["key"])
    assert np.allclose(table.values, want.values, atol=1e-6)
    info.iloc[1:].to_csv(tmp_path / "short.txt", sep="\t", index=False)
    with pytest.raises(InputError, match=f"no row for signature '{cols.id.iat[0]}'") as err:
        read(path, resolver, sig_info=tmp_path / "short.txt")
    assert err.value.field == "sig_id"


def test_bad_values_are_named_chunk_by_chunk(tmp_path, hgnc_genes, resolver):
    from loaders.gct_files import write_gctx

    rows, cols = lincs_meta(hgnc_genes)
    data = np.zeros((N_SIGS, N_GENES), np.float32)
    data[47, 3] = np.nan
    write_gctx(tmp_path / "nan.gctx", rows, cols, [data])
    with pytest.raises(InputError, match="not a finite number") as err:
        read(tmp_path / "nan.gctx", resolver, chunk=10)
    assert (err.value.row, err.value.field) == (rows.id.iat[3], cols.id.iat[47])
    dup = rows.copy()
    dup.loc[5, "pr_gene_id"] = dup.loc[2, "pr_gene_id"]
    write_gctx(tmp_path / "dup.gctx", dup, cols, [np.zeros((N_SIGS, N_GENES), np.float32)])
    with pytest.raises(InputError, match="both measure gene"):
        read(tmp_path / "dup.gctx", resolver, chunk=10, collisions="error")  # the default (mean) averages them


def test_chunked_gctx_load_equals_one_chunk_load_and_resumes(graph, load_file, tmp_path, hgnc_genes, monkeypatch):
    from conftest import fingerprint

    from lpm_kg.graph import write
    from lpm_kg.graph.datasets import get_state

    path = tmp_path / "lincs.gctx"
    write_lincs(path, hgnc_genes)
    clean_load = load_file(path, "gctx", "lincs")
    want = fingerprint(graph)
    from conftest import clean

    clean(graph)
    # Batches of 3 experiments; the third batch fails as a crash would, after two committed.
    monkeypatch.setattr(write, "VALUES_PER_TX", 3 * N_GENES)
    real_batch, calls = write._write_experiment_batch, []

    def crashing(tx, *args):
        calls.append(args[-1])
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real_batch(tx, *args)

    monkeypatch.setattr(write, "_write_experiment_batch", crashing)
    with pytest.raises(RuntimeError, match="killed"):
        load_file(path, "gctx", "lincs", chunk=7)
    state = get_state(graph, "lincs")
    assert state.status == "loading" and state.experiments_written == 6
    monkeypatch.setattr(write, "_write_experiment_batch", real_batch)
    # chunk is an option, so the resumed run is the same load only with the same chunk.
    resumed = load_file(path, "gctx", "lincs", chunk=7)
    assert resumed.resumed_from == 6
    assert resumed.counts["n_experiments"] == clean_load.counts["n_experiments"]
    assert fingerprint(graph) == want  # chunked + resumed == one clean whole-file load
    assert graph.read("MATCH (d:Dataset {name: 'lincs'}) RETURN d.experiments_written AS w")[0]["w"] is None
    again = load_file(path, "gctx", "lincs", chunk=7)
    assert again.skipped and fingerprint(graph) == want


# --------------------------------------------------------------------------- collisions

def collision_gctx(path, keep_rows=None):
    """Five gene rows and four signatures with one collision of each kind, values chosen so every
    policy's result can be worked out by hand:
    rows r1 STAT1, r2 IRF1, r3 STAT1 again (duplicate_row), r4 TOMM70, r5 TOMM70A (the old symbol
    of TOMM70: ids_onto_one_gene); signatures S1 'imatinib mesylate', S2 'imatinib hydrochloride'
    (one compound symbol: names_onto_one_symbol), S3 'imatinib mesylate' (a replicate of S1, no
    collision), S4 vorinostat; all A375, 10 uM, 24 h."""
    from loaders.gct_files import write_gctx

    rows = pd.DataFrame({"id": ["r1", "r2", "r3", "r4", "r5"],
                         "pr_gene_symbol": ["STAT1", "IRF1", "STAT1", "TOMM70", "TOMM70A"]})
    cols = pd.DataFrame({"id": ["S1", "S2", "S3", "S4"],
                         "pert_iname": ["imatinib mesylate", "imatinib hydrochloride", "imatinib mesylate",
                                        "vorinostat"],
                         "pert_type": "trt_cp", "cell_id": "A375", "pert_idose": "10 uM", "pert_itime": "24 h"})
    genes_by_sig = np.array([[1, 2, 3, 4], [10, 20, 30, 40], [3, 4, 5, 6], [0, 1, 2, 3], [2, 3, 4, 5]], np.float32)
    keep = rows["id"].isin(keep_rows).to_numpy() if keep_rows else np.ones(len(rows), bool)
    write_gctx(path, rows[keep], cols, [genes_by_sig[keep].T])


def read_with_notes(path, resolver, **options):
    from loaders.gct import read_gctx
    from lpm_kg.loading import LoadContext

    ctx = LoadContext("coll", str(path), {"gene_field": "pr_gene_symbol", "level": "5", **options}, resolver_=resolver)
    table = read_gctx(path, ctx)
    values = pd.DataFrame(table.values, index=[p.symbol for p in table.experiments["perturbation"]],
                          columns=table.genes)
    return values, ctx.notes


@pytest.mark.parametrize("how, expected", [
    # mean: STAT1 = mean(r1, r3), TOMM70 = mean(r4, r5); imatinib = mean of S1, S2, S3.
    ("mean", {"imatinib": {"STAT1": 3.0, "IRF1": 20.0, "TOMM70": 2.0},
              "vorinostat": {"STAT1": 5.0, "IRF1": 40.0, "TOMM70": 4.0}}),
    # first: STAT1 = r1, TOMM70 = r4; imatinib = the first name's signatures S1 and S3 (replicates).
    ("first", {"imatinib": {"STAT1": 2.0, "IRF1": 20.0, "TOMM70": 1.0},
               "vorinostat": {"STAT1": 4.0, "IRF1": 40.0, "TOMM70": 3.0}}),
])
def test_gctx_collisions_merge_by_policy_with_hand_checked_values(tmp_path, resolver, how, expected):
    import json

    path = tmp_path / "coll.gctx"
    collision_gctx(path)
    values, notes = read_with_notes(path, resolver, collisions=how)
    assert sorted(values.columns) == ["IRF1", "STAT1", "TOMM70"]
    for pert, row in expected.items():
        for gene, v in row.items():
            assert values.at[f"{pert}-10uM", gene] == pytest.approx(v), (pert, gene)
    kinds = json.loads(notes["collision_kinds"])
    assert notes["collisions"] == 3 and notes["collision_policy"] == how
    assert {k: e["count"] for k, e in kinds.items()} == {"duplicate_row": 1, "ids_onto_one_gene": 1,
                                                        "names_onto_one_symbol": 1}
    assert kinds["ids_onto_one_gene"]["examples"][0]["pr_gene_symbol"] == ["TOMM70", "TOMM70A"]
    assert kinds["names_onto_one_symbol"]["examples"][0]["rows"] == ["S1", "S2"]
    assert "imatinib hydrochloride 10 uM" in kinds["names_onto_one_symbol"]["examples"][0]["pert_iname+pert_idose"]


def test_gctx_mean_is_the_default_and_replicates_alone_are_no_collision(tmp_path, resolver, hgnc_genes):
    path = tmp_path / "coll.gctx"
    collision_gctx(path)
    default, notes = read_with_notes(path, resolver)
    mean, _ = read_with_notes(path, resolver, collisions="mean")
    pd.testing.assert_frame_equal(default, mean)
    assert notes["collision_policy"] == "mean"

    clean = tmp_path / "clean.gctx"
    write_lincs(clean, hgnc_genes)  # replicates (and DMSO controls) spread through the file
    _, notes = read_with_notes(clean, resolver, gene_field="pr_gene_id")
    assert notes["collisions"] == 0 and notes["collision_kinds"] == "{}"  # replicates everywhere, none counted


@pytest.mark.parametrize("fix, needle", [
    ({}, "rows 'r1' and 'r3' both measure gene STAT1 (pr_gene_symbol 'STAT1' twice; the same source row twice)"),
    ({"rows": ["r1", "r2", "r4", "r5"]},
     "rows 'r4' and 'r5' both measure gene TOMM70 (pr_gene_symbol 'TOMM70' and 'TOMM70A'; two source ids of one gene)"),
    ({"rows": ["r1", "r2", "r4"]},
     "signatures 'S1' and 'S2' land on one experiment (two perturbation names with one symbol): pert_iname+pert_idose "
     "'imatinib mesylate 10 uM' and 'imatinib hydrochloride 10 uM' are both imatinib-10uM"),
])
def test_gctx_collisions_error_names_both_and_the_option(tmp_path, resolver, fix, needle):
    from loaders.gct import read_gctx
    from lpm_kg.loading import LoadContext

    path = tmp_path / "coll.gctx"
    collision_gctx(path, fix.get("rows"))
    ctx = LoadContext("coll", str(path), {"gene_field": "pr_gene_symbol", "level": "5", "collisions": "error"},
                      resolver_=resolver)
    with pytest.raises(InputError) as err:
        read_gctx(path, ctx)
    msg = str(err.value)
    assert needle in msg, msg
    assert "--option collisions=first" in msg and "--option collisions=mean" in msg
