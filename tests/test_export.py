"""The PyG HeteroData and networkx exports (lpm_kg.export) against the real server, on a tiny
synced simulation (so perturbations, readouts and contexts have embeddings)."""

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from conftest import clean
from lpm_kg.analytics import resolve_network
from lpm_kg.graph.analyses import network_edges
from lpm_kg.export import (CHANGES, EDGE_TYPES, NODE_TYPES, load_hetero_data, save_hetero_data, to_hetero_data,
                            to_networkx)
from lpm_kg.simulate import SimulationConfig, simulate
from lpm_kg.sync import SyncConfig, sync

TINY = SimulationConfig(n_genes=40, n_knockdowns=30, n_compounds=4, n_contexts=3, seed=3)


def sync_tiny(graph, folder, checkpoints):
    """Simulate a tiny screen, write a STRING-format file over its genes, and sync: genes, measurements,
    compounds, the true network (TRRUST format) and the STRING file load; the LPM trains 5 epochs."""
    files = simulate(TINY).write(folder)
    net = pd.read_csv(files["network"], sep="\t", header=None)
    pd.DataFrame({"symbol1": net[0], "symbol2": net[1], "combined_score": 400 + (net.index * 37) % 600}
                 ).to_csv(folder / "sim_string.tsv", sep="\t", index=False)
    config = folder / "lpm-kg.toml"
    sources = [("genes", "hgnc", "sim-genes"), ("measurements", "long", "sim"), ("compounds", "repurposing-hub",
               "sim-compounds"), ("network", "trrust", "sim-network")]
    text = "".join(f'[[sources]]\npath = "{files[k]}"\nformat = "{f}"\ndataset = "{d}"\n\n' for k, f, d in sources)
    text += f'[[sources]]\npath = "{folder / "sim_string.tsv"}"\nformat = "string"\ndataset = "sim-string"\n\n'
    text += '[model]\ndatasets = ["sim"]\npreset = "small"\noverrides = { max_epochs = 5, seeds = [13] }\n\n'
    text += "[predict]\nmax_experiments = 10\n"
    config.write_text(text)
    report = sync(graph, SyncConfig.from_toml(config), checkpoint_dir=checkpoints, show_progress=False)
    assert report.trained
    return report.run_id


def write_fixture_inferred(graph, run_id):
    """Fixture data standing for a model run's inferred network (not a model's output): each gene
    with a REGULATES edge is joined to its true partners (score 0.9) and to the next gene in
    symbol order (score 0.3), stored once per unordered pair, method 'fixture'."""
    rows = graph.read("MATCH (a:Gene)-[:REGULATES]-(b:Gene) WHERE a.symbol < b.symbol "
                      "RETURN DISTINCT a.symbol AS s, b.symbol AS t")
    pairs = {(r["s"], r["t"]): 0.9 for r in rows}
    genes = sorted({g for p in pairs for g in p})
    for a, b in zip(genes, genes[1:]):
        pairs.setdefault((a, b), 0.3)
    edges = [{"s": s, "t": t, "score": v} for (s, t), v in sorted(pairs.items(), key=lambda kv: -kv[1])]
    for k, e in enumerate(edges):
        e["rank"] = k + 1
    graph.query("UNWIND $rows AS row MATCH (a:Gene {symbol: row.s}), (b:Gene {symbol: row.t}) "
                "CREATE (a)-[:INFERRED_INTERACTION {run: $run, method: 'fixture', score: row.score, "
                "rank: row.rank}]->(b)",
                {"rows": edges, "run": run_id})
    return len(edges)


@pytest.fixture(scope="module")
def sim(session_graph, tmp_path_factory):
    """The tiny synced simulation with fixture inferred edges: (graph, run id). The module's tests only read."""
    clean(session_graph)
    run_id = sync_tiny(session_graph, tmp_path_factory.mktemp("sim"), tmp_path_factory.mktemp("runs"))
    write_fixture_inferred(session_graph, run_id)
    return session_graph, run_id


def _count(graph, cypher, params=None):
    return graph.read(cypher, params)[0]["n"]


def test_hetero_data_matches_the_graph(sim):
    graph, run_id = sim
    data = to_hetero_data(graph, measurements=True)
    assert data.validate()
    for t, (label, key) in NODE_TYPES.items():
        keys = [r["k"] for r in graph.read(f"MATCH (n:{label}) RETURN n.{key} AS k ORDER BY k")]
        assert data[t].num_nodes == len(keys) and data[t].symbol == keys
    assert data["gene"].num_nodes > 40  # the session's HGNC genes and the simulation's
    for et, rel in EDGE_TYPES.items():
        (sl, _), (dl, _) = NODE_TYPES[et[0]], NODE_TYPES[et[2]]
        n = _count(graph, f"MATCH (:{sl})-[r:{rel}]->(:{dl}) RETURN count(r) AS n")
        assert data[et].edge_index.shape == (2, n) and n > 0, et
    assert _count(graph, "MATCH ()-[r:CHANGES]->() RETURN count(r) AS n") == data[CHANGES].edge_index.shape[1] > 0

    # Embeddings: every embedded node of the run, in node order.
    pert = data["perturbation"]
    dim = _count(graph, "MATCH (r:ModelRun {run_id: $id}) RETURN r.embedding_dim AS n", {"id": run_id})
    assert pert.x.shape == (pert.num_nodes, dim) and pert.embedding_run == run_id
    i = next(k for k, s in enumerate(pert.symbol) if s.startswith("CRISPRi_"))
    stored = graph.read("MATCH (p:Perturbation {symbol: $s}) RETURN p.embedding AS v", {"s": pert.symbol[i]})[0]["v"]
    assert torch.allclose(pert.x[i], torch.tensor(stored, dtype=torch.float32))
    assert "x" not in data["gene"] and "x" not in data["compound"]

    # An edge lands on the right nodes, with its attributes.
    row = graph.read("MATCH (p:Perturbation)-[:TARGETS]->(g:Gene) RETURN p.symbol AS p, g.symbol AS g "
                     "ORDER BY p LIMIT 1")[0]
    ei = data["perturbation", "targets", "gene"].edge_index
    assert (pert.symbol.index(row["p"]), data["gene"].symbol.index(row["g"])) in set(map(tuple, ei.t().tolist()))
    inferred = data["gene", "inferred_interaction", "gene"]
    assert inferred.run == run_id and set(inferred.method) == {"fixture"}
    assert sorted(set(inferred.edge_attr[:, 0].tolist())) == pytest.approx([0.3, 0.9])
    string = data["gene", "interacts_with", "gene"]
    assert string.edge_attr.shape == (string.edge_index.shape[1], 1) and (string.edge_attr >= 400).all()
    assert set(data["gene", "regulates", "gene"].edge_attr[:, 0].tolist()) <= {-1.0, 0.0, 1.0}
    changes = data[CHANGES]
    assert changes.edge_attr.shape == (changes.edge_index.shape[1], 1)
    assert int(changes.context.max()) < data["context"].num_nodes

    # Without measurements or inferred edges the types are still there, empty.
    bare = to_hetero_data(graph, inferred=None)
    assert bare.validate() and CHANGES not in bare.edge_types
    assert bare["gene", "inferred_interaction", "gene"].edge_index.shape == (2, 0)


def test_save_and_command(sim, neo4j_server, tmp_path):
    graph, _ = sim
    counts = save_hetero_data(graph, tmp_path / "kg.pt")
    loaded = load_hetero_data(tmp_path / "kg.pt")  # weights_only=True: no code runs on load
    assert loaded.validate() and loaded["perturbation"].num_nodes == counts["nodes"]["perturbation"]

    from lpm_kg.commands.analytics import export_pyg

    user, password = neo4j_server.auth
    env = {"NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
           "LPM_KG_DATA_DIR": str(tmp_path)}
    out = CliRunner().invoke(export_pyg, [str(tmp_path / "cli.pt"), "--measurements", "--inferred-run", "none"],
                             env=env)
    assert out.exit_code == 0, out.output
    assert "perturbation changes readout" in out.output
    data = load_hetero_data(tmp_path / "cli.pt")
    assert data["gene", "inferred_interaction", "gene"].edge_index.shape == (2, 0) and CHANGES in data.edge_types


def test_to_networkx(sim):
    graph, run_id = sim
    g = to_networkx(graph)  # the newest run's inferred network, its only method
    edges = network_edges(graph, resolve_network(graph))
    assert g.graph["run"] == run_id and g.graph["method"] == "fixture"
    stored = _count(graph, "MATCH ()-[r:INFERRED_INTERACTION]->() RETURN count(r) AS n")
    assert g.number_of_edges() == len(edges) == stored
    assert g.number_of_nodes() == len(set(edges["source"]) | set(edges["target"]))
    regulates = to_networkx(graph, "regulates", directed=True)
    assert regulates.is_directed() and regulates.number_of_edges() == _count(
        graph, "MATCH (a:Gene)-[:REGULATES]->(b:Gene) WHERE a <> b RETURN count(DISTINCT [a, b]) AS n")
    strong = to_networkx(graph, "string", min_score=700)
    assert 0 < strong.number_of_edges() < to_networkx(graph, "string").number_of_edges()
    assert min(w for _, _, w in strong.edges(data="weight")) >= 700
