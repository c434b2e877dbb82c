"""Network analytics (lpm_kg.analytics) against the real server: GDS and networkx on the same networks."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lpm_kg import analytics
from lpm_kg.analytics import resolve_network, run_analytics
from lpm_kg.errors import AnalyticsError
from lpm_kg.graph.analyses import analysis_record, network_edges, read_analytics
from lpm_kg.graph.runs import create_model_run

# Fixture data, not a model's output: two tight gene groups joined by one weak edge, written as
# INFERRED_INTERACTION edges of two model runs so the run / method defaults can be checked.
GROUP_A = ["STAT1", "IRF1", "JAK1", "JAK2", "IFNGR1"]
GROUP_B = ["MYC", "MAX", "MYCN", "MXD1"]


def _fixture_edges():
    edges = [(a, b, 0.9) for i, a in enumerate(GROUP_A) for b in GROUP_A[i + 1:]]
    edges += [(a, b, 0.8) for i, a in enumerate(GROUP_B) for b in GROUP_B[i + 1:]]
    edges.append(("STAT1", "MYC", 0.1))
    return [{"s": min(a, b), "t": max(a, b), "score": s, "rank": k + 1} for k, (a, b, s) in enumerate(edges)]


def _write_inferred(graph, run, method, rows):
    graph.query("UNWIND $rows AS row MATCH (a:Gene {symbol: row.s}), (b:Gene {symbol: row.t}) "
                "CREATE (a)-[:INFERRED_INTERACTION {run: $run, method: $method, score: row.score, rank: row.rank}]"
                "->(b)",
                {"rows": rows, "run": run, "method": method})


@pytest.fixture
def inferred(graph):
    """Two model runs with fixture inferred edges: the older with one method, the newer with two."""
    for run in ("run-old", "run-new"):
        create_model_run(graph, run_id=run, config={"fixture": True}, data_fingerprint="fixture", datasets=[])
    graph.query("MATCH (r:ModelRun {run_id: 'run-old'}) SET r.created_at = r.created_at - duration('PT1H')")
    rows = _fixture_edges()
    _write_inferred(graph, "run-old", "cosine", rows[:3])
    _write_inferred(graph, "run-new", "cosine", rows)
    _write_inferred(graph, "run-new", "correlation", rows[:4])
    return graph


def _gds_loaded(server) -> bool:
    return "gds" in server.status().plugins_loaded


def test_engines_agree_on_trrust(graph, load_file, neo4j_server):
    if not _gds_loaded(neo4j_server):
        pytest.skip("the Graph Data Science plugin did not resolve for this server (lpm-kg neo4j status)")
    load_file("trrust/trrust_rawdata.human.tsv", "trrust", "TRRUST")
    spec = resolve_network(graph, "regulates")
    edges = network_edges(graph, spec)
    pairs = graph.read("MATCH (a:Gene)-[:REGULATES]-(b:Gene) WHERE a.symbol < b.symbol "
                       "RETURN count(DISTINCT [a.symbol, b.symbol]) AS n")[0]["n"]
    genes = graph.read("MATCH (a:Gene)-[:REGULATES]-(b:Gene) WHERE a <> b RETURN count(DISTINCT a) AS n")[0]["n"]
    assert len(edges) == pairs > 5000

    gds = run_analytics(graph, "regulates", engine="auto", write=False)
    nx_ = run_analytics(graph, "regulates", engine="networkx")
    print(f"TRRUST: {gds.n_nodes} genes, {gds.n_edges} edges; gds {gds.seconds:.2f} s, {gds.n_communities} "
          f"communities, modularity {gds.modularity:.3f}; networkx {nx_.seconds:.2f} s, {nx_.n_communities} "
          f"communities, modularity {nx_.modularity:.3f}")
    assert gds.engine == "gds" and gds.engine_version and nx_.engine == "networkx"
    assert gds.n_nodes == nx_.n_nodes == genes and gds.n_edges == nx_.n_edges == pairs
    both = gds.table.merge(nx_.table, on="symbol", suffixes=("_gds", "_nx"))
    assert len(both) == genes
    assert np.corrcoef(both["pagerank_gds"], both["pagerank_nx"])[0, 1] > 0.999
    assert np.allclose(both["pagerank_gds"], both["pagerank_nx"], atol=1e-6)
    assert (both["degree_gds"] == both["degree_nx"]).all()
    for r in (gds, nx_):
        # A partition of the same genes into 0..k-1, largest community first.
        assert sorted(r.table["community"].unique()) == list(range(r.n_communities))
        sizes = r.table["community"].value_counts().sort_index().to_numpy()
        assert (np.diff(sizes) <= 0).all()
        assert r.modularity > 0.3
    assert abs(gds.modularity - nx_.modularity) < 0.05
    assert 0.5 < gds.n_communities / nx_.n_communities < 2

    # Only the networkx run was written; the stored values are its own.
    stored = read_analytics(graph, "regulates")
    assert len(stored) == genes
    assert stored.set_index("symbol")["community"].to_dict() == nx_.table.set_index("symbol")["community"].to_dict()
    record = analysis_record(graph, "regulates")
    assert record["engine"] == "networkx" and record["n_nodes"] == genes and record["rel_type"] == "REGULATES"


def test_inferred_defaults_communities_and_write(inferred, neo4j_server):
    graph = inferred
    with pytest.raises(AnalyticsError, match=r"several methods \(correlation, cosine\)"):
        resolve_network(graph)  # the newest run has two methods
    spec = resolve_network(graph, method="cosine")
    assert (spec.run, spec.method) == ("run-new", "cosine")
    assert resolve_network(graph, run="run-old").method == "cosine"
    _write_inferred(graph, "run-old", "imputed-correlation", _fixture_edges()[:2])
    assert resolve_network(graph, run="run-old").method == "imputed-correlation"  # the preferred method

    engines = ["networkx"] + (["gds"] if _gds_loaded(neo4j_server) else [])
    for engine in engines:
        result = run_analytics(graph, method="cosine", engine=engine)
        assert result.engine == engine and result.n_nodes == 9 and result.n_edges == 17
        members = result.table.groupby("community")["symbol"].apply(set).to_dict()
        assert members == {0: set(GROUP_A), 1: set(GROUP_B)}  # the two groups, the larger first
        assert result.table["symbol"].iloc[0] in GROUP_A  # the bridge end in the larger group leads
        stored = graph.read("MATCH (g:Gene) WHERE g.community_inferred IS NOT NULL "
                            "RETURN g.symbol AS s, g.community_inferred AS c, g.pagerank_inferred AS p, "
                            "g.degree_inferred AS d")
        assert {r["s"]: r["c"] for r in stored} == {s: c for c, group in members.items() for s in group}
        assert abs(sum(r["p"] for r in stored) - 1.0) < 1e-6
        assert {r["s"]: r["d"] for r in stored}["STAT1"] == 5
        record = analysis_record(graph, "inferred")
        assert (record["run"], record["method"], record["engine"]) == ("run-new", "cosine", engine)

    # A newer analysis of the kind replaces the older: genes outside its network lose the values.
    run_analytics(graph, run="run-old", method="cosine", engine="networkx")
    assert {r["s"] for r in graph.read("MATCH (g:Gene) WHERE g.community_inferred IS NOT NULL "
                                       "RETURN g.symbol AS s")} == {"IRF1", "JAK1", "JAK2", "STAT1"}


def test_bad_choices_are_refused_before_any_cypher_text(inferred, monkeypatch):
    graph = inferred
    before = graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"]
    with pytest.raises(AnalyticsError, match="unknown network"):
        run_analytics(graph, "INTERACTS_WITH]-() DETACH DELETE a //")
    with pytest.raises(AnalyticsError, match="has no INFERRED_INTERACTION edges"):
        run_analytics(graph, run="x'}) DETACH DELETE a //")
    with pytest.raises(AnalyticsError, match="no inferred edges of method"):
        run_analytics(graph, method="cosine' OR 1=1")
    with pytest.raises(AnalyticsError, match="has no edges"):
        run_analytics(graph, "string", engine="networkx")
    with pytest.raises(AnalyticsError, match="unknown engine"):
        run_analytics(graph, method="cosine", engine="spark")
    assert graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"] == before

    # Without the GDS plugin, auto falls back to networkx and gds is refused with the reason.
    monkeypatch.setattr(analytics, "gds_version", lambda graph: None)
    assert run_analytics(graph, method="cosine", write=False).engine == "networkx"
    with pytest.raises(AnalyticsError, match="Graph Data Science plugin is not loaded"):
        run_analytics(graph, method="cosine", engine="gds")


def test_analytics_command(inferred, neo4j_server, tmp_path):
    from lpm_kg.commands.analytics import analytics as command

    user, password = neo4j_server.auth
    env = {"NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
           "LPM_KG_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    out = runner.invoke(command, ["--method", "correlation", "--engine", "networkx", "--json"], env=env)
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["engine"] == "networkx" and summary["run"] == "run-new" and summary["method"] == "correlation"
    assert summary["n_edges"] == 4 and summary["written"]
    out = runner.invoke(command, ["--run", "run-old"], env=env)
    assert out.exit_code == 0, out.output
    assert "communities" in out.output and "community_inferred" in out.output
    out = runner.invoke(command, [], env=env)
    assert out.exit_code != 0 and "several methods" in str(out.exception)
