"""Compound annotations (Drug Repurposing Hub, LINCS compound table) from the real shared files,
checked against the source files read independently here with pandas."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

import loaders.annotations  # noqa: F401  (registers the loaders even where the package does not list them)
from conftest import HGNC, shared
from lpm_kg.errors import InputError
from lpm_kg.symbols import normalize_compound

HUB = "repurposing-hub/repurposing_drugs_20200324.txt"
SAMPLES = "repurposing-hub/repurposing_samples_20200324.txt"
LINCS = "signatureSearch/lincs_pert_info2.csv.gz"


@functools.cache
def _symbol_maps():
    df = pd.read_csv(shared(HGNC), sep="\t", dtype=str)
    df = df[df["status"].fillna("Approved") == "Approved"]
    approved = {s.upper(): s for s in df["symbol"]}

    def unique_map(col):
        pairs = df[["symbol", col]].dropna()
        pairs = pairs.assign(**{col: pairs[col].str.split("|")}).explode(col)
        pairs[col] = pairs[col].str.strip().str.upper()
        n = pairs.groupby(col)["symbol"].nunique()
        one = pairs[pairs[col].isin(n[n == 1].index)].drop_duplicates(col)
        return dict(zip(one[col], one["symbol"])), set(n[n > 1].index)

    return approved, *unique_map("prev_symbol"), unique_map("alias_symbol")[0]


def resolve(symbol: str) -> str | None:
    """Approved symbol, else an unambiguous previous symbol, else an unambiguous alias."""
    approved, prev, prev_amb, alias = _symbol_maps()
    up = symbol.strip().upper()
    if up in approved:
        return approved[up]
    if up in prev:
        return prev[up]
    return None if up in prev_amb else alias.get(up)


def split(value, sep):
    return [] if pd.isna(value) else [v.strip() for v in str(value).split(sep) if v.strip() and v.strip() != "NA"]


def read_hub(relpath):
    return pd.read_csv(shared(relpath), sep="\t", comment=None, skiprows=lambda i: i < 9, dtype=str)


def graph_size(graph) -> tuple[int, int]:
    return (graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"],
            graph.read("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"])


def compound(graph, name):
    rows = graph.read("MATCH (c:Compound {name: $name}) OPTIONAL MATCH (c)-[t:HAS_TARGET]->(g:Gene) "
                      "RETURN c AS c, collect([g.symbol, t.dataset]) AS targets", {"name": name})
    assert len(rows) == 1, name
    return dict(rows[0]["c"]), {tuple(t) for t in rows[0]["targets"] if t[0]}


def test_repurposing_hub_with_samples(graph, load_file):
    report = load_file(HUB, "repurposing-hub", "hub", samples=shared(SAMPLES))
    src = read_hub(HUB)
    assert len(src) == 6798
    keys = src.pert_iname.map(lambda n: normalize_compound(n)[0])
    n_compounds = graph.read("MATCH (c:Compound) RETURN count(c) AS n")[0]["n"]
    assert n_compounds == keys.nunique() == report.counts["n_compounds"]

    targets = src.target.map(lambda t: {resolve(x) for x in split(t, "|")} - {None})
    with_target = graph.read("MATCH (c:Compound) WHERE (c)-[:HAS_TARGET {dataset: 'hub'}]->() RETURN count(c) AS n")
    assert with_target[0]["n"] == keys[targets.str.len() > 0].nunique()
    n_links = graph.read("MATCH (:Compound)-[r:HAS_TARGET]->() RETURN count(r) AS n")[0]["n"]
    assert n_links == len({(k, t) for k, ts in zip(keys, targets) for t in ts})
    unresolved = {x for t in src.target for x in split(t, "|") if resolve(x) is None}
    assert report.counts.get("unmapped_ids", 0) == len(unresolved)
    moas = {m for v in src.moa for m in split(v, "|")}
    assert graph.read("MATCH (m:MOA) RETURN count(m) AS n")[0]["n"] == len(moas)

    vem, vem_targets = compound(graph, "vemurafenib")
    row = src[src.pert_iname == "vemurafenib"].iloc[0]
    assert {g for g, _ in vem_targets} == set(row.target.split("|")) >= {"BRAF"}
    assert any("RAF inhibitor" in m for m in vem["moa"]) and vem["phase"] == row.clinical_phase == "Launched"
    assert graph.read("MATCH (:Compound {name: 'vemurafenib'})-[:HAS_MOA]->(m:MOA) RETURN m.name AS m")[0]["m"] == \
        "RAF inhibitor"
    samples = read_hub(SAMPLES)
    vs = samples[samples.pert_iname == "vemurafenib"]
    assert set(vem["pert_ids"]) == {"-".join(b.split("-")[:2]) for b in vs.broad_id} == {"BRD-K56343971"}
    assert vem["inchikey"] == vs.InChIKey.dropna().iat[0] and vem["smiles"] == vs.smiles.dropna().iat[0]
    assert vem["sources"] == ["hub"]
    assert_reload = graph_size(graph)
    again = load_file(HUB, "repurposing-hub", "hub", samples=shared(SAMPLES))
    assert again.skipped is True and graph_size(graph) == assert_reload


def test_lincs_compounds_and_both_sources_on_one_node(graph, load_file):
    report = load_file(LINCS, "lincs-compounds", "lincs")
    src = pd.read_csv(shared(LINCS), dtype=str)
    keys = src.pert_iname.map(lambda n: normalize_compound(n)[0])
    n_compounds = graph.read("MATCH (c:Compound) RETURN count(c) AS n")[0]["n"]
    assert n_compounds == keys.nunique() == report.counts["n_compounds"]
    assert report.counts["merged_names"] == len(src) - keys.nunique()
    targets = src.target.map(lambda t: {resolve(x) for x in split(t, ";")} - {None})
    with_target = graph.read("MATCH (c:Compound) WHERE (c)-[:HAS_TARGET]->() RETURN count(c) AS n")[0]["n"]
    assert with_target == keys[targets.str.len() > 0].nunique()

    vem, vem_targets = compound(graph, "vemurafenib")
    assert vem_targets == {("BRAF", "lincs")} and "RAF inhibitor" in vem["moa"] and vem["phase"] == "Launched"
    ator, _ = compound(graph, "atorvastatin")
    assert set(ator["pert_ids"]) == set(src[src.pert_iname == "atorvastatin"].pert_id) and len(ator["pert_ids"]) == 3
    before = graph_size(graph)
    assert load_file(LINCS, "lincs-compounds", "lincs").skipped and graph_size(graph) == before

    # The Repurposing Hub adds to the same nodes: lists are united, targets kept per source.
    load_file(HUB, "repurposing-hub", "hub")
    vem, vem_targets = compound(graph, "vemurafenib")
    assert vem_targets == {("BRAF", "lincs"), ("BRAF", "hub"), ("RAF1", "hub")}
    assert vem["sources"] == ["lincs", "hub"] and vem["moa"] == ["RAF inhibitor"]


def test_drug_table_errors(graph, load_file, tmp_path):
    good = tmp_path / "drugs_ok.txt"
    good.write_text("!Source\tsomewhere\n!Note\tcomment lines\n"
                    "pert_iname\tclinical_phase\tmoa\ttarget\n"
                    "vemurafenib\tLaunched\tRAF inhibitor\tBRAF|RAF1\n"
                    "trametinib\tLaunched\tMEK inhibitor\tMAP2K1|MAP2K2\n")
    load_file(good, "repurposing-hub", "mini-hub")
    assert compound(graph, "trametinib")[1] == {("MAP2K1", "mini-hub"), ("MAP2K2", "mini-hub")}
    before = graph_size(graph)

    def rejected(path, fmt="repurposing-hub", **options):
        with pytest.raises(InputError) as info:
            load_file(path, fmt, "broken", **options)
        assert graph_size(graph) == before
        assert not graph.read("MATCH (d:Dataset {name: 'broken'}) RETURN d")
        return info.value

    no_target = tmp_path / "drugs_no_target.txt"
    no_target.write_text("pert_iname\tclinical_phase\tmoa\ttargets\nvemurafenib\tLaunched\tRAF inhibitor\tBRAF\n")
    err = rejected(no_target)
    assert str(no_target) in str(err) and err.field == "target" and "field 'target'" in str(err)
    assert "rename column 'targets' to 'target'" in str(err)

    blank = tmp_path / "drugs_blank.txt"
    blank.write_text("!comment\npert_iname\tclinical_phase\tmoa\ttarget\nvemurafenib\tLaunched\tRAF inhibitor\tBRAF\n"
                     "\tLaunched\tMEK inhibitor\tMAP2K1\n")
    err = rejected(blank)
    assert err.row == 2 and err.field == "pert_iname" and "row 2" in str(err) and str(blank) in str(err)

    dup = tmp_path / "drugs_dup.txt"
    dup.write_text("pert_iname\tmoa\ttarget\nvemurafenib\tRAF inhibitor\tBRAF\nvemurafenib\tMEK inhibitor\tMAP2K1\n")
    err = rejected(dup)
    assert err.row == 2 and err.field == "pert_iname" and "repeats row 1" in str(err)

    ragged = tmp_path / "drugs_ragged.txt"
    ragged.write_text("pert_iname\tmoa\ttarget\nvemurafenib\tRAF inhibitor\tBRAF\ttoo\tmany\n")
    err = rejected(ragged)  # pandas alone would shift the values under the wrong columns
    assert "more field(s) than the header" in str(err) and str(ragged) in str(err) and err.row == 1
    ragged_later = tmp_path / "drugs_ragged_later.txt"
    ragged_later.write_text("pert_iname\tmoa\ttarget\nvemurafenib\tRAF inhibitor\tBRAF\n"
                            "trametinib\tMEK\tMAP2K1\textra\n")
    err = rejected(ragged_later)
    assert "malformed" in str(err) and "line 3" in str(err)

    unknown_targets = tmp_path / "drugs_unknown.txt"
    unknown_targets.write_text("pert_iname\tmoa\ttarget\nvemurafenib\tRAF inhibitor\tBRAF\n"
                               "madeupinib\tX inhibitor\tNOTAGENE1|NOTAGENE2\n")
    err = rejected(unknown_targets)
    assert err.row == 2 and err.field == "target" and "NOTAGENE1" in str(err)

    only_comments = tmp_path / "drugs_comments.txt"
    only_comments.write_text("!Source\tx\n!Note\ty\n")
    assert "only comment lines" in str(rejected(only_comments))

    with pytest.raises(InputError, match="file not found"):
        load_file(good, "repurposing-hub", "broken", samples=tmp_path / "no_such_samples.txt")
    assert graph_size(graph) == before


def test_lincs_table_errors(graph, load_file, tmp_path):
    dup = tmp_path / "pert_info.csv"
    dup.write_text("pert_id,pert_iname,target,MOA\nBRD-K56343971,vemurafenib,BRAF,RAF inhibitor\n"
                   "BRD-K56343971,vemurafenib,BRAF,RAF inhibitor\n")
    before = graph_size(graph)
    with pytest.raises(InputError) as info:
        load_file(dup, "lincs-compounds", "broken")
    assert info.value.row == 2 and info.value.field == "pert_id" and str(dup) in str(info.value)
    with pytest.raises(InputError) as info:
        load_file(dup, "lincs-compounds", "broken", target_col="t_gn_sym")
    assert info.value.field == "t_gn_sym" and "missing column" in str(info.value)
    assert graph_size(graph) == before
