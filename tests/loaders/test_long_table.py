"""Long tables on the real Papalexi pseudobulk CSV, and the same values through the h5ad path."""


import numpy as np
import pandas as pd
import pytest

from conftest import collision_record, measured_values, shared
from lpm_kg.errors import ConfigError, InputError

CSV = "papalexi2021-sceptre/papalexi2021_pseudobulk_by_target.csv.gz"


def test_long_table_loads_the_published_pseudobulk(graph, load_file):
    report = load_file(CSV, "long", "papalexi-long", perturbation_col="perturbation_target", readout_col="gene",
                       value_col="log2fc_vs_nontargeting", method="CRISPR-KO", cell_line="THP-1", unmapped="skip")
    src = pd.read_csv(shared(CSV))
    assert report.counts["n_experiments"] == src.perturbation_target.nunique()  # 25 KOs + the control
    row = graph.read("MATCH (e:Experiment {perturbation: 'CRISPR-KO_JAK2'})-[:MEASURED_WITH]->(p) "
                     "WITH e, [i IN range(0, size(p.readouts) - 1) WHERE p.readouts[i] = 'Transcriptome_JAK2'][0] AS i "
                     "RETURN e.values[i] AS v, e.context AS c")[0]
    expected = src[(src.perturbation_target == "JAK2") & (src.gene == "JAK2")].log2fc_vs_nontargeting.iat[0]
    assert np.isclose(row["v"], expected, atol=1e-6) and row["c"] == "papalexi-long_THP-1_CRISPR-KO"
    assert graph.read("MATCH (p:Perturbation {symbol: 'Control'}) RETURN p.kind AS k")[0]["k"] == "control"


def test_symbols_and_combinations_in_a_long_table(graph, load_file, tmp_path):
    path = tmp_path / "long.csv"
    pd.DataFrame({"perturbation": ["CRISPRi_STAT1", "CRISPRi_STAT1+CRISPRi_IRF1", "vemurafenib-10uM", "Control"],
                  "readout": ["6772", "ENSG00000115415", "DUSP6", "DUSP6"],  # Entrez, Ensembl, symbol
                  "context": ["K562", "K562", "A375", "A375"], "value": [-2.0, -1.5, -6.0, 0.1]}).to_csv(path, index=False)
    load_file(path, "long", "mini")
    combo = graph.read("MATCH (p:Perturbation {symbol: 'CRISPRi_IRF1+CRISPRi_STAT1'})-[:HAS_PART]->(q) "
                       "RETURN q.symbol AS s ORDER BY s")
    assert [r["s"] for r in combo] == ["CRISPRi_IRF1", "CRISPRi_STAT1"]
    assert graph.read("MATCH (:Perturbation {symbol: 'vemurafenib-10uM'})-[:OF_COMPOUND]->(c:Compound) "
                      "RETURN c.name AS n")[0]["n"] == "vemurafenib"
    ctx = graph.read("MATCH (c:Context) RETURN c.symbol AS s ORDER BY s")
    assert [r["s"] for r in ctx] == ["mini_A375_CMP", "mini_K562_CRISPRi"]


# Collisions: rows that land on one (perturbation, readout, context) value. Data rows are numbered
# from 1 (the header is not a row). Each kind alone, next to a row that collides with nothing.
LONG_KINDS = {
    # a repeated row: CRISPRi_STAT1 / IRF1 twice
    "duplicate_row": [("CRISPRi_STAT1", "IRF1", 1.0), ("CRISPRi_STAT1", "IRF1", 3.0)],
    # two ids of one gene: Entrez 6772 and the symbol STAT1
    "ids_onto_one_gene": [("CRISPRi_STAT1", "6772", 2.0), ("CRISPRi_STAT1", "STAT1", 4.0)],
    # two names of one perturbation: CRISPRi_STAT1 and CRISPRi_stat1
    "names_onto_one_symbol": [("CRISPRi_STAT1", "DUSP6", 5.0), ("CRISPRi_stat1", "DUSP6", 7.0)],
}
LONG_GENE = {"duplicate_row": "IRF1", "ids_onto_one_gene": "STAT1", "names_onto_one_symbol": "DUSP6"}
# By hand: first keeps the first row in the file, mean averages the two.
LONG_EXPECTED = {"first": {"duplicate_row": 1.0, "ids_onto_one_gene": 2.0, "names_onto_one_symbol": 5.0},
                 "mean": {"duplicate_row": 2.0, "ids_onto_one_gene": 3.0, "names_onto_one_symbol": 6.0}}
BYSTANDER = ("CRISPRi_IRF1", "STAT1", -1.0)


def _write_long(path, rows):
    pd.DataFrame({"perturbation": [r[0] for r in rows], "readout": [r[1] for r in rows], "context": "K562",
                  "value": [r[2] for r in rows]}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind", list(LONG_KINDS))
@pytest.mark.parametrize("how", ["first", "mean"])
def test_long_collisions_are_merged_by_policy(graph, load_file, tmp_path, kind, how):
    path = _write_long(tmp_path / "c.csv", [BYSTANDER, *LONG_KINDS[kind]])
    report = load_file(path, "long", "coll", collisions=how)
    values = measured_values(graph, "coll")
    assert values == {("CRISPRi_IRF1", "STAT1"): -1.0, ("CRISPRi_STAT1", LONG_GENE[kind]): LONG_EXPECTED[how][kind]}
    assert report.counts["collisions"] == 1
    n, policy, kinds = collision_record(graph, "coll")
    assert n == 1 and policy == how
    assert list(kinds) == [kind] and kinds[kind]["count"] == 1
    (example,) = kinds[kind]["examples"]
    (p1, g1, _), (p2, g2, _) = LONG_KINDS[kind]
    assert example == {"rows": [2, 3], "perturbation": [p1, p2], "readout": [g1, g2], "context": "K562",
                       "onto": f"CRISPRi_STAT1 / {LONG_GENE[kind]}"}


@pytest.mark.parametrize("kind", list(LONG_KINDS))
def test_long_collisions_error_names_both_rows_and_the_option(graph, load_file, tmp_path, kind):
    path = _write_long(tmp_path / "c.csv", [BYSTANDER, *LONG_KINDS[kind]])
    with pytest.raises(InputError) as err:
        load_file(path, "long", "coll", collisions="error")
    msg = str(err.value)
    (p1, g1, _), (p2, g2, _) = LONG_KINDS[kind]
    assert "rows 2 and 3" in msg and err.value.row == 3
    assert f"row 2 has perturbation={p1!r}, readout={g1!r}" in msg
    assert f"row 3 has perturbation={p2!r}, readout={g2!r}" in msg
    assert "--option collisions=first" in msg and "--option collisions=mean" in msg
    assert graph.read("MATCH (e:Experiment) RETURN count(e) AS n")[0]["n"] == 0  # nothing written


def test_long_default_averages_and_records_every_kind(graph, load_file, tmp_path):
    rows = [BYSTANDER] + [r for k in LONG_KINDS for r in LONG_KINDS[k]]
    report = load_file(_write_long(tmp_path / "all.csv", rows), "long", "coll")  # default: mean
    values = measured_values(graph, "coll")
    assert values[("CRISPRi_STAT1", "IRF1")] == 2.0 and values[("CRISPRi_STAT1", "STAT1")] == 3.0
    assert values[("CRISPRi_STAT1", "DUSP6")] == 6.0 and len(values) == 4
    assert report.counts["collisions"] == 3 and report.counts["collision_policy"] == "mean"
    _n, _policy, kinds = collision_record(graph, "coll")
    assert {k: v["count"] for k, v in kinds.items()} == dict.fromkeys(LONG_KINDS, 1)
    assert kinds["ids_onto_one_gene"]["examples"][0]["rows"] == [4, 5]
    assert kinds["names_onto_one_symbol"]["examples"][0]["perturbation"] == ["CRISPRi_STAT1", "CRISPRi_stat1"]
    # the older option name still works, and a bad policy is refused
    assert load_file(_write_long(tmp_path / "d.csv", rows), "long", "coll2", duplicates="average").counts[
        "collisions"] == 3
    with pytest.raises(ConfigError, match=r"option collisions='max' is not valid: expected error\|first\|mean"):
        load_file(_write_long(tmp_path / "e.csv", rows), "long", "coll3", collisions="max")
    with pytest.raises(ConfigError, match="options duplicates=error and collisions=mean disagree"):
        load_file(_write_long(tmp_path / "f.csv", rows), "long", "coll4", duplicates="error", collisions="mean")


def test_long_without_collisions_records_none(graph, load_file, tmp_path):
    report = load_file(_write_long(tmp_path / "n.csv", [BYSTANDER, LONG_KINDS["duplicate_row"][0]]), "long", "none")
    assert report.counts["collisions"] == 0
    assert collision_record(graph, "none") == (0, "mean", {})


def test_a_nul_byte_is_refused_not_cut(graph, tmp_path):
    from lpm_kg.loading import load

    path = tmp_path / "nul.csv"
    path.write_bytes(b"perturbation,readout,context,value\nCRISPRi_STAT1,STAT1,K562,1.0\ndrug\x00nul-1uM,STAT1,K562,2.0\n")
    with pytest.raises(InputError, match="line 3 holds a NUL byte"):
        load(graph, path, "long", "nul", show_progress=False)
    assert not graph.read("MATCH (d:Dataset {name: 'nul'}) RETURN d")
