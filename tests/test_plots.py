"""Pictures (lpm_kg.plots) from a tiny synced simulation on the real server: valid, non-trivial PNGs."""

import pandas as pd
import pytest
from click.testing import CliRunner

from lpm_kg.analytics import run_analytics
from lpm_kg.errors import AnalyticsError
from lpm_kg.plots import bar_chart, embedding_map, gene_neighbourhood, pca_2d, perturbation_classes
from test_export import sim  # noqa: F401  (the same tiny synced simulation, a module fixture)

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_bytes=10_000):
    data = open(path, "rb").read()
    assert data[:8] == PNG, f"{path} is not a PNG"
    assert len(data) > min_bytes, f"{path} is only {len(data)} bytes"


def test_embedding_map(sim, tmp_path):
    graph, run_id = sim
    out = embedding_map(graph, tmp_path / "map.png", top=5)
    assert_png(out["path"])
    n = graph.read("MATCH (p:Perturbation) WHERE p.embedding IS NOT NULL RETURN count(p) AS n")[0]["n"]
    assert out["n_points"] == n and out["run"] == run_id
    assert len(out["classes"]) == 5 and out["n_other"] == n - sum(out["classes"].values())
    knockdowns = graph.read("MATCH (p:Perturbation {kind: 'genetic', method: 'CRISPRi'}) WHERE p.embedding IS NOT NULL "
                            "RETURN count(p) AS n")[0]["n"]
    assert out["classes"]["genetic: CRISPRi"] == knockdowns > 20
    classes = perturbation_classes(graph, [r["s"] for r in graph.read(
        "MATCH (p:Perturbation)-[:OF_COMPOUND]->(:Compound)-[:HAS_MOA]->(m:MOA) RETURN p.symbol AS s, m.name AS m")])
    assert classes and all(c.endswith(" inhibitor") for c in classes.values())  # the simulated compounds' MOAs
    # A run's stored history draws the same points.
    assert embedding_map(graph, tmp_path / "run.png", run=run_id)["n_points"] == n


def test_pca_2d():
    import numpy as np

    x = np.random.default_rng(0).normal(size=(50, 8)) * np.array([5, 2, 1, 1, 1, 1, 1, 1])
    coords, explained = pca_2d(x)
    assert coords.shape == (50, 2) and explained[0] > explained[1] > 0
    assert np.allclose(coords.var(axis=0, ddof=0).sum() / ((x - x.mean(0)) ** 2).sum(1).mean(), explained.sum())


def test_gene_neighbourhood(sim, tmp_path):
    graph, run_id = sim
    run_analytics(graph, engine="networkx")  # so nodes are coloured by community
    gene = graph.read("MATCH (g:Gene)-[:REGULATES]-(h:Gene) RETURN g.symbol AS s, count(DISTINCT h) AS n "
                      "ORDER BY n DESC, s LIMIT 1")[0]["s"]
    out = gene_neighbourhood(graph, gene, tmp_path / "hood.png", k=6)
    assert_png(out["path"])
    assert out["run"] == run_id and out["method"] == "fixture" and len(out["partners"]) <= 6
    # The fixture joins each gene to its true partners at 0.9: those come first, and a reference confirms them.
    strong = [p for p in out["partners"] if p["score"] == pytest.approx(0.9)]
    assert strong and all("REGULATES" in p["reference"] for p in strong)
    assert out["n_confirmed"] >= len(strong) and out["communities"]
    with pytest.raises(AnalyticsError, match="no gene 'NOT-A-GENE'"):
        gene_neighbourhood(graph, "NOT-A-GENE", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_bar_chart(tmp_path):
    rows = [{"model": m, "target_context": t, "seed": s, "pearson": 0.1 * k + 0.01 * s}
            for k, m in enumerate(["lpm", "linear", "global-mean"]) for t in ["SIM-A", "SIM-B"] for s in range(3)]
    path = bar_chart(rows, "pearson", "model", tmp_path / "bars.png", hue="target_context")
    assert_png(path, 8_000)
    assert_png(bar_chart(pd.DataFrame(rows), "pearson", ["model", "target_context"], tmp_path / "flat.png",
                         sort=True), 8_000)
    with pytest.raises(ValueError, match="no column"):
        bar_chart(rows, "auprc", "model", tmp_path / "none.png")


def test_plot_commands(sim, neo4j_server, tmp_path):
    from lpm_kg.commands.analytics import plot

    graph, _ = sim
    user, password = neo4j_server.auth
    env = {"NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
           "LPM_KG_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    out = runner.invoke(plot, ["embeddings", str(tmp_path / "e.png")], env=env)
    assert out.exit_code == 0, out.output
    assert_png(tmp_path / "e.png")
    gene = graph.read("MATCH (g:Gene)-[:INFERRED_INTERACTION]-() RETURN g.symbol AS s ORDER BY s LIMIT 1")[0]["s"]
    out = runner.invoke(plot, ["neighbourhood", gene, str(tmp_path / "n.png"), "--k", "4"], env=env)
    assert out.exit_code == 0, out.output
    assert_png(tmp_path / "n.png")
    assert "in a reference" in out.output
