"""Reference relations (STRING, CORUM, DoRothEA, TRRUST, GMT gene sets) from the real shared files,
each checked against the source file read independently here with pandas."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

import loaders.references  # noqa: F401  (registers the loaders even where the package does not list them)
from conftest import HGNC, shared
from lpm_kg.errors import InputError

STRING = "string/string_v12_human_entrez_ntm700_top3_400.tsv.gz"
CORUM = "corum/coreComplexes.txt"
DOROTHEA_ABC = "dorothea/dorothea_hs_ABC.csv"
TRRUST = "trrust/trrust_rawdata.human.tsv"
HALLMARK = "genesets/h.all.v7.0.symbols.gmt"


# --------------------------------------------------------------------------- independent gene-id map

@functools.cache
def _hgnc_maps():
    df = pd.read_csv(shared(HGNC), sep="\t", dtype=str)
    df = df[df["status"].fillna("Approved") == "Approved"]
    approved = {s.upper(): s for s in df["symbol"]}
    entrez = {e.removesuffix(".0"): s for e, s in zip(df["entrez_id"], df["symbol"]) if isinstance(e, str)}

    def unique_map(col):
        pairs = df[["symbol", col]].dropna()
        pairs = pairs.assign(**{col: pairs[col].str.split("|")}).explode(col)
        pairs[col] = pairs[col].str.strip().str.upper()
        n = pairs.groupby(col)["symbol"].nunique()
        one = pairs[pairs[col].isin(n[n == 1].index)].drop_duplicates(col)
        return dict(zip(one[col], one["symbol"])), set(n[n > 1].index)

    prev, prev_amb = unique_map("prev_symbol")
    alias, alias_amb = unique_map("alias_symbol")
    return approved, entrez, prev, prev_amb, alias, alias_amb


def resolve(ident) -> str | None:
    """Approved symbol, Entrez id, then an unambiguous previous symbol or alias."""
    approved, entrez, prev, prev_amb, alias, alias_amb = _hgnc_maps()
    if ident is None or (isinstance(ident, float) and pd.isna(ident)):
        return None
    text = str(ident).strip()
    up = text.upper()
    if up in approved:
        return approved[up]
    if text.isdigit():
        return entrez.get(text)
    if up in prev:
        return prev[up]
    if up in prev_amb:
        return None
    return alias.get(up)


def graph_size(graph) -> tuple[int, int]:
    n = graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"]
    r = graph.read("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
    return n, r


def assert_reload_is_noop(graph, load, *args, **kwargs):
    before = graph_size(graph)
    again = load(*args, **kwargs)
    assert again.skipped is True
    assert graph_size(graph) == before


def assert_rejected(graph, load_file, path, fmt, *, row, field, words=(), **options):
    """The load fails before writing: the message names the file, the row and the field."""
    before = graph_size(graph)
    with pytest.raises(InputError) as info:
        load_file(path, fmt, "broken", **options)
    msg = str(info.value)
    assert str(path) in msg
    if row is not None:
        assert f"row {row}" in msg and info.value.row == row
    assert f"field '{field}'" in msg
    for w in words:
        assert w in msg
    assert graph_size(graph) == before
    assert not graph.read("MATCH (d:Dataset {name: 'broken'}) RETURN d")


# --------------------------------------------------------------------------- STRING

def test_string_edges_match_the_source(graph, load_file):
    report = load_file(STRING, "string", "string")
    src = pd.read_csv(shared(STRING), sep="\t", dtype={"entrez1": str, "entrez2": str})
    a = [resolve(e) or resolve(s) for e, s in zip(src.entrez1, src.symbol1)]
    b = [resolve(e) or resolve(s) for e, s in zip(src.entrez2, src.symbol2)]
    pairs = {tuple(sorted(p)) for p in zip(a, b) if p[0] and p[1] and p[0] != p[1]}
    n = graph.read("MATCH ()-[r:INTERACTS_WITH {dataset: 'string'}]->() RETURN count(r) AS n")[0]["n"]
    assert n == len(pairs) == report.counts["n_edges"]
    assert len(pairs) > 0.99 * len(src)
    # Stored once per pair, from the smaller symbol to the larger, with the file's score and channels.
    rows = graph.read("MATCH (a:Gene)-[r:INTERACTS_WITH]-(b:Gene {symbol: 'TP53'}) WHERE a.symbol = 'MDM2' "
                      "RETURN startNode(r).symbol AS s, r.score AS score, r.experiments AS exp, r.source AS src")
    assert len(rows) == 1
    row = src[(src.symbol1 == "MDM2") & (src.symbol2 == "TP53")].iloc[0]
    assert rows[0]["s"] == "MDM2" and rows[0]["score"] == row.combined_score == 999
    assert rows[0]["exp"] == row.experiments and rows[0]["src"] == "STRING"
    bad_direction = graph.read("MATCH (a)-[r:INTERACTS_WITH]->(b) WHERE a.symbol >= b.symbol RETURN count(r) AS n")
    assert bad_direction[0]["n"] == 0
    # An Entrez id the gene map lacks falls back to the symbol; the ids that fail both are counted.
    unknown = {s for e, s in zip(pd.concat([src.entrez1, src.entrez2]), pd.concat([src.symbol1, src.symbol2]))
               if resolve(e) is None and resolve(s) is None}
    assert report.counts["unmapped_ids"] == len(unknown)
    assert_reload_is_noop(graph, load_file, STRING, "string", "string")


def test_string_small_file_min_score_symbols_and_duplicates(graph, load_file, tmp_path):
    path = tmp_path / "links.tsv"
    pd.DataFrame({
        "entrez1": ["7157", "4193", "999999999", "3845", "672"],
        "symbol1": ["TP53", "MDM2", "STAT1", "KRAS", "BRCA1"],  # the third Entrez id is unknown: its symbol is used
        "entrez2": ["4193", "7157", "3659", "3845", "675"],
        "symbol2": ["MDM2", "TP53", "IRF1", "KRAS", "BRCA2"],
        "combined_score": [999, 950, 800, 700, 650],
    }).to_csv(path, sep="\t", index=False)
    report = load_file(path, "string", "mini-string", min_score=700)
    edges = graph.read("MATCH (a)-[r:INTERACTS_WITH {dataset: 'mini-string'}]->(b) "
                       "RETURN a.symbol AS a, b.symbol AS b, r.score AS s ORDER BY a")
    # MDM2-TP53 twice (both directions) -> once, best score; KRAS-KRAS self-loop dropped; BRCA1-BRCA2 below 700.
    assert [(e["a"], e["b"], e["s"]) for e in edges] == [("IRF1", "STAT1", 800), ("MDM2", "TP53", 999)]
    assert report.counts["duplicate_pairs_merged"] == 1 and report.counts["self_loops_dropped"] == 1


def test_string_non_numeric_score_is_rejected(graph, load_file, tmp_path):
    load_file(HALLMARK, "gmt", "hallmark")  # something in the graph that must stay as it is
    path = tmp_path / "bad_string.tsv"
    path.write_text("entrez1\tsymbol1\tentrez2\tsymbol2\tcombined_score\n"
                    "7157\tTP53\t4193\tMDM2\t999\n"
                    "6772\tSTAT1\t3659\tIRF1\thigh\n")
    assert_rejected(graph, load_file, path, "string", row=2, field="combined_score", words=("'high'",))
    missing = tmp_path / "no_score.tsv"
    missing.write_text("entrez1\tentrez2\tscore_combined\n7157\t4193\t999\n")
    assert_rejected(graph, load_file, missing, "string", row=None, field="combined_score")


# --------------------------------------------------------------------------- CORUM

def test_corum_complexes_and_members(graph, load_file):
    report = load_file(CORUM, "corum", "corum")
    src = pd.read_csv(shared(CORUM), sep="\t", dtype=str)
    human = src[src.Organism == "Human"]
    n = graph.read("MATCH (c:Complex {dataset: 'corum'}) RETURN count(c) AS n")[0]["n"]
    assert n == len(human) == report.counts["n_groups"] == 2417
    for name in ("26S proteasome", "20S proteasome", "CCR4-NOT complex"):
        row = human[human.ComplexName == name].iloc[0]
        entrez = row["subunits(Entrez IDs)"].split(";")
        symbols = row["subunits(Gene name)"].split(";")
        expected = {resolve(e) or resolve(s) for e, s in zip(entrez, symbols)} - {None}
        got = graph.read("MATCH (g:Gene)-[:MEMBER_OF]->(c:Complex {id: $id}) RETURN g.symbol AS s, c.size AS size, "
                         "c.name AS name", {"id": f"CORUM:{row.ComplexID}"})
        assert {r["s"] for r in got} == expected
        assert got[0]["size"] == len(expected) and got[0]["name"] == name
    assert "PSMA1" in {r["s"] for r in graph.read(
        "MATCH (g:Gene)-[:MEMBER_OF]->(:Complex {name: '20S proteasome'}) RETURN g.symbol AS s")}
    assert_reload_is_noop(graph, load_file, CORUM, "corum", "corum")


def test_corum_missing_organism_column_is_rejected(graph, load_file, tmp_path):
    load_file(HALLMARK, "gmt", "hallmark")
    path = tmp_path / "complexes.txt"
    path.write_text("ComplexID\tComplexName\tOrganisms\tsubunits(Entrez IDs)\n1\tBCL6-HDAC4 complex\tHuman\t604;9759\n")
    assert_rejected(graph, load_file, path, "corum", row=None, field="Organism", words=("Organisms",))


# --------------------------------------------------------------------------- DoRothEA

def test_dorothea_stat1_regulon(graph, load_file):
    report = load_file(DOROTHEA_ABC, "dorothea", "dorothea")
    src = pd.read_csv(shared(DOROTHEA_ABC))
    stat1 = src[src.tf == "STAT1"]
    expected = {resolve(t) for t in stat1.target} - {None}
    got = graph.read("MATCH (:Gene {symbol: 'STAT1'})-[r:REGULATES {dataset: 'dorothea'}]->(t:Gene) "
                     "RETURN t.symbol AS t, r.confidence AS c, r.mode AS m, r.mor AS mor")
    assert {r["t"] for r in got} == expected and len(got) == len(expected) > 10
    irf1 = stat1[stat1.target == "IRF1"].iloc[0]
    edge = next(r for r in got if r["t"] == "IRF1")
    assert edge["c"] == irf1.confidence and edge["mor"] == irf1.mor
    assert edge["m"] == ("Activation" if irf1.mor > 0 else "Repression")
    ok = [(resolve(a), resolve(b)) for a, b in zip(src.tf, src.target)]
    n_pairs = len({p for p in ok if p[0] and p[1]})
    assert report.counts["n_edges"] == n_pairs
    assert graph.read("MATCH ()-[r:REGULATES {dataset: 'dorothea'}]->() RETURN count(r) AS n")[0]["n"] == n_pairs
    assert_reload_is_noop(graph, load_file, DOROTHEA_ABC, "dorothea", "dorothea")
    # The confidence option keeps only those levels (as its own dataset).
    only_a = load_file(DOROTHEA_ABC, "dorothea", "dorothea-A", confidence="A")
    a_rows = src[src.confidence == "A"]
    assert only_a.counts["n_edges"] == len({(resolve(x), resolve(y)) for x, y in zip(a_rows.tf, a_rows.target)
                                            if resolve(x) and resolve(y)})
    levels = graph.read("MATCH ()-[r:REGULATES {dataset: 'dorothea-A'}]->() RETURN collect(DISTINCT r.confidence) AS c")
    assert levels[0]["c"] == ["A"]


def test_dorothea_bad_confidence_is_rejected(graph, load_file, tmp_path):
    path = tmp_path / "regulons.csv"
    path.write_text("tf,confidence,target,mor\nSTAT1,A,IRF1,1\nSTAT1,F,IRF9,1\n")
    assert_rejected(graph, load_file, path, "dorothea", row=2, field="confidence", words=("'F'",))


# --------------------------------------------------------------------------- TRRUST

def test_trrust_modes_and_merged_pairs(graph, load_file):
    report = load_file(TRRUST, "trrust", "trrust")
    src = pd.read_csv(shared(TRRUST), sep="\t", header=None, names=["tf", "target", "mode", "pmids"], dtype=str)
    pairs = {(resolve(a), resolve(b)) for a, b in zip(src.tf, src.target)}
    n_pairs = len({p for p in pairs if p[0] and p[1]})
    assert report.counts["n_edges"] == n_pairs < len(src)
    assert report.counts["duplicate_lines"] == int(src.duplicated().sum())

    def edge(tf, target):
        rows = graph.read("MATCH (:Gene {symbol: $a})-[r:REGULATES {dataset: 'trrust'}]->(:Gene {symbol: $b}) "
                          "RETURN r.mode AS mode, r.modes AS modes, r.pmids AS pmids", {"a": tf, "b": target})
        assert len(rows) == 1
        return rows[0]

    def source_modes(tf, target):
        return set(src[(src.tf == tf) & (src.target == target)]["mode"])

    def source_pmids(tf, target):
        lines = src[(src.tf == tf) & (src.target == target)]["pmids"]
        return {p for ps in lines for p in ps.split(";")}

    assert source_modes("AATF", "MYC") == {"Activation"} and edge("AATF", "MYC")["mode"] == "Activation"
    assert source_modes("AATF", "BAX") == {"Repression"} and edge("AATF", "BAX")["mode"] == "Repression"
    assert source_modes("ABL1", "JUN") == {"Activation", "Repression"}
    assert edge("ABL1", "JUN")["mode"] == "Both"
    ahr = edge("AHR", "CYP1A1")
    assert set(ahr["modes"]) == source_modes("AHR", "CYP1A1") == {"Activation", "Repression", "Unknown"}
    assert set(ahr["pmids"]) == source_pmids("AHR", "CYP1A1")
    assert edge("ABL1", "CSF1")["mode"] == "Activation"  # Activation and Unknown: the known mode
    assert_reload_is_noop(graph, load_file, TRRUST, "trrust", "trrust")


def test_trrust_bad_mode_and_duplicate_lines(graph, load_file, tmp_path):
    bad = tmp_path / "trrust_bad.tsv"
    bad.write_text("STAT1\tIRF1\tActivation\t123\nSTAT1\tIRF9\tactivates\t456\n")
    assert_rejected(graph, load_file, bad, "trrust", row=2, field="mode", words=("'activates'",))
    header = tmp_path / "trrust_header.tsv"
    header.write_text("TF\tTarget\tMode\tPMID\nSTAT1\tIRF1\tActivation\t123\n")
    assert_rejected(graph, load_file, header, "trrust", row=1, field="mode", words=("header",))
    # An exact duplicate line is merged (it adds nothing) and counted on the Dataset node.
    dup = tmp_path / "trrust_dup.tsv"
    dup.write_text("STAT1\tIRF1\tActivation\t123\nSTAT1\tIRF1\tActivation\t123\nSTAT1\tIRF1\tUnknown\t7\n")
    report = load_file(dup, "trrust", "mini-trrust")
    assert report.counts["n_edges"] == 1 and report.counts["duplicate_lines"] == 1
    row = graph.read("MATCH ()-[r:REGULATES {dataset: 'mini-trrust'}]->() RETURN r.mode AS m, r.pmids AS p")[0]
    assert row["m"] == "Activation" and row["p"] == ["7", "123"]
    assert graph.read("MATCH (d:Dataset {name: 'mini-trrust'}) RETURN d.duplicate_lines AS n")[0]["n"] == 1


# --------------------------------------------------------------------------- GMT

def test_hallmark_gene_sets(graph, load_file):
    report = load_file(HALLMARK, "gmt", "hallmark")
    lines = [ln.rstrip("\n").split("\t") for ln in shared(HALLMARK).read_text().splitlines() if ln.strip()]
    assert report.counts["n_groups"] == len(lines) == 50
    got = {r["name"]: r for r in graph.read(
        "MATCH (s:GeneSet {dataset: 'hallmark'}) OPTIONAL MATCH (g:Gene)-[:MEMBER_OF]->(s) "
        "RETURN s.name AS name, s.id AS id, s.size AS size, s.collection AS coll, count(g) AS n")}
    for fields in lines:
        name, genes = fields[0], {g for g in fields[2:] if g}
        expected = len({resolve(g) for g in genes} - {None})
        assert got[name]["n"] == got[name]["size"] == expected, name
        assert got[name]["id"] == f"h.all.v7.0.symbols:{name}" and got[name]["coll"] == "h.all.v7.0.symbols"
    assert got["HALLMARK_HYPOXIA"]["n"] == 200
    stat1 = graph.read("MATCH (:Gene {symbol: 'STAT1'})-[:MEMBER_OF]->(s:GeneSet) RETURN s.name AS n ORDER BY n")
    assert "HALLMARK_INTERFERON_GAMMA_RESPONSE" in [r["n"] for r in stat1]
    assert_reload_is_noop(graph, load_file, HALLMARK, "gmt", "hallmark")
    # Another collection name gives other GeneSet ids, beside the first ones.
    load_file(HALLMARK, "gmt", "hallmark-2", collection="H")
    assert graph.read("MATCH (s:GeneSet) RETURN count(s) AS n")[0]["n"] == 100


def test_gmt_malformed_lines(graph, load_file, tmp_path):
    load_file(CORUM, "corum", "corum")
    spaces = tmp_path / "spaces.gmt"
    spaces.write_text("SET_A\tdesc\tSTAT1\tIRF1\nSET_B desc STAT1 IRF9\n")
    assert_rejected(graph, load_file, spaces, "gmt", row=2, field="description", words=("spaces",))
    dup = tmp_path / "dup.gmt"
    dup.write_text("SET_A\tdesc\tSTAT1\nSET_A\tdesc\tIRF1\n")
    assert_rejected(graph, load_file, dup, "gmt", row=2, field="name", words=("repeats line 1",))
    only_empty = tmp_path / "empty_sets.gmt"
    only_empty.write_text("SET_A\tdesc\t\nSET_B\tdesc\n")
    with pytest.raises(InputError, match="no gene set lists any gene"):
        load_file(only_empty, "gmt", "broken")
    empty = tmp_path / "empty.gmt"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        load_file(empty, "gmt", "broken")
    # A set without genes (Reactome has 28 viral pathways like that) is left out and counted.
    mixed = tmp_path / "mixed.gmt"
    mixed.write_text("SET_A\tdesc\tSTAT1\tIRF1\tNOT_A_GENE_XYZ\nVIRAL\tno human genes\t\n")
    report = load_file(mixed, "gmt", "mixed", unmapped="skip")
    assert report.counts["n_groups"] == 1 and report.counts["empty_sets"] == 1
    row = graph.read("MATCH (s:GeneSet {id: 'mixed:SET_A'}) RETURN s.size AS size, s.n_listed AS listed")[0]
    assert row["size"] == 2 and row["listed"] == 3
