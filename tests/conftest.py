"""Test fixtures: one real Neo4j server per test session, in a temporary directory on free ports.

Never a mock, never a user's data. Community edition has one user database, so tests are
isolated by cleaning it: the HGNC gene map is loaded once per session and kept, everything
else is deleted before each test that asks for ``graph``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lpm_kg.graph import Graph
from lpm_kg.graph.schema import ensure_schema
from lpm_kg.server import ManagedNeo4j, ensure_jars, free_port
from lpm_kg.settings import Settings

# One torch thread in tests and in the CLI processes they start: the test server and the tests
# share two cores, and spinning OpenMP threads are very slow when oversubscribed.
os.environ.setdefault("LPM_KG_TORCH_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LPM_KG_SHARED_DATA", REPO.parent / "shared" / "data"))
HGNC = "gene-ids/hgnc_complete_set.txt.gz"


def shared(relpath: str) -> Path:
    """A file of the shared real data. Missing is a failure, never a skip: CI always has it."""
    path = SHARED_DATA / relpath
    if not path.exists():
        pytest.fail(f"shared data file {path} is missing; set LPM_KG_SHARED_DATA to the shared/data folder")
    return path


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory):
    jars = ensure_jars(Settings().cache_dir)
    server = ManagedNeo4j(tmp_path_factory.mktemp("neo4j"), jars, bolt_port=free_port(), http_port=free_port(),
                          heap="1g", pagecache="256m")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def session_graph(neo4j_server):
    graph = Graph(neo4j_server.uri, neo4j_server.auth)
    graph.verify()
    ensure_schema(graph)
    from lpm_kg.loading import load

    load(graph, shared(HGNC), "hgnc", "hgnc", show_progress=False)
    yield graph
    graph.close()


def clean(graph: Graph) -> None:
    """Delete everything but the session's gene map (Gene nodes and the hgnc Dataset)."""
    with graph.driver.session(database=graph.database) as s:
        s.run("MATCH (n) WHERE NOT n:Gene AND NOT n:SchemaInfo AND NOT (n:Dataset AND n.name = 'hgnc') "
              "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        s.run("MATCH (:Gene)-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS").consume()


@pytest.fixture
def graph(session_graph) -> Graph:
    """The session's server, emptied of everything but the gene map."""
    clean(session_graph)
    return session_graph


@pytest.fixture
def load_file(graph):
    """Load a shared data file into the clean graph: ``load_file(relpath, format, dataset, **options)``."""
    from lpm_kg.loading import load

    def _load(relpath, format, dataset, unmapped="auto", top_k=25, **options):
        path = relpath if isinstance(relpath, Path) else shared(relpath)
        return load(graph, path, format, dataset, options={k: str(v) for k, v in options.items()},
                    unmapped=unmapped, top_k=top_k, show_progress=False)

    return _load


def fingerprint(graph: Graph) -> dict:
    """What a load wrote, comparable across runs: counts per label and type, every experiment's
    values, and every CHANGES edge (timestamps left out)."""
    import hashlib

    labels = {r["l"]: r["n"] for r in graph.read("MATCH (n) UNWIND labels(n) AS l RETURN l, count(*) AS n")}
    types = {r["t"]: r["n"] for r in graph.read("MATCH ()-[r]->() RETURN type(r) AS t, count(*) AS n")}
    h = hashlib.sha256()
    for r in graph.read("MATCH (e:Experiment) RETURN e.id AS id, e.values AS v, e.perturbation AS p, e.context AS c "
                        "ORDER BY id"):
        h.update(repr((r["id"], r["p"], r["c"], [round(x, 5) for x in r["v"]])).encode())
    for r in graph.read("MATCH (e:Experiment)-[c:CHANGES]->(r:Readout) RETURN e.id AS e, r.symbol AS r, c.rank AS k, "
                        "c.value AS v ORDER BY e, k"):
        h.update(repr((r["e"], r["r"], r["k"], round(r["v"], 5))).encode())
    status = {r["n"]: r["s"] for r in graph.read("MATCH (d:Dataset) RETURN d.name AS n, d.status AS s")}
    return {"labels": labels, "types": types, "values": h.hexdigest(), "status": status}


def measured_values(graph: Graph, dataset: str) -> dict:
    """{(perturbation, gene): value} of every measured value of a dataset."""
    rows = graph.read("MATCH (e:Experiment {dataset: $d})-[:MEASURED_WITH]->(p) "
                      "UNWIND range(0, size(p.readouts) - 1) AS i WITH e, p, i WHERE NOT isNaN(e.values[i]) "
                      "RETURN e.perturbation AS pert, p.readouts[i] AS readout, e.values[i] AS v", {"d": dataset})
    return {(r["pert"], r["readout"].split("_", 1)[1]): r["v"] for r in rows}


def collision_record(graph: Graph, dataset: str) -> tuple[int, str, dict]:
    """What a load recorded on its Dataset about colliding values: (count, policy, kinds)."""
    import json

    row = graph.read("MATCH (d:Dataset {name: $n}) RETURN d.collisions AS n, d.collision_policy AS policy, "
                     "d.collision_kinds AS kinds", {"n": dataset})[0]
    return row["n"], row["policy"], json.loads(row["kinds"])


def server_env(server, home: Path | None = None) -> dict[str, str]:
    """Environment variables that point the CLI at the session's server (and a data home)."""
    user, password = server.auth
    env = {"NEO4J_URI": server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password}
    if home is not None:
        env["LPM_KG_DATA_DIR"] = str(home)
    return env


def graph_counts(graph: Graph) -> tuple[int, int]:
    """(nodes, relationships) in the whole graph."""
    row = graph.read("MATCH (n) WITH count(n) AS n OPTIONAL MATCH ()-[r]->() RETURN n, count(r) AS r")[0]
    return row["n"], row["r"]


def fuzz_call(runner, args: list[str], graph: Graph, failures: list[str], outcomes: dict) -> None:
    """One fuzzed CLI call: it must end in exit 0 or a clean refusal (exit 2) with no traceback, and
    a refusal must leave the graph as it was. A failure is appended to ``failures``; the exit code
    is counted per command in ``outcomes``."""
    from lpm_kg.cli import main

    before = graph_counts(graph)
    out = runner.invoke(main, args, catch_exceptions=True)
    text = out.output + (str(out.exception) if out.exception and not isinstance(out.exception, SystemExit) else "")
    outcomes.setdefault(args[0], {}).setdefault(out.exit_code, 0)
    outcomes[args[0]][out.exit_code] += 1
    broke = out.exit_code not in (0, 2) or "Traceback" in text or "unexpected" in text
    if out.exit_code == 2 and graph_counts(graph) != before:
        broke, text = True, text + " (the graph changed on a refusal)"
    if broke:
        failures.append(f"{[a[:60] for a in args]} -> exit {out.exit_code}: {text.strip()[-300:]}")


def sync_simulation(graph, folder, edit_compounds=None, seeds=(13,)):
    """The default simulation (genes, measurements, compounds, true network) loaded into a clean
    graph and a small LPM synced on it (``seeds``: its ensemble); ``edit_compounds(table)`` may
    change the compound table before it is written. Returns (sync report, simulation)."""
    import torch

    from lpm_kg.simulate import SimulationConfig, simulate
    from lpm_kg.sync import PredictConfig, SourceConfig, SyncConfig, sync
    from lpm_kg.training import TrainConfig

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a busy 2-core machine train many times slower
    try:
        clean(graph)
        simulation = simulate(SimulationConfig(seed=0))
        files = simulation.write(folder)
        if edit_compounds is not None:
            edit_compounds(simulation.compounds.copy()).to_csv(files["compounds"], sep="\t", index=False)
        config = SyncConfig(
            sources=[SourceConfig(path=files["genes"], format="hgnc", dataset="sim-genes"),
                     SourceConfig(path=files["measurements"], format="long", dataset="sim"),
                     SourceConfig(path=files["compounds"], format="repurposing-hub", dataset="sim-compounds"),
                     SourceConfig(path=files["network"], format="trrust", dataset="sim-network")],
            model=TrainConfig(datasets=["sim"], preset="small", overrides={"max_epochs": 15, "seeds": list(seeds)}),
            predict=PredictConfig(unperformed=False))
        report = sync(graph, config, checkpoint_dir=folder / "runs", show_progress=False, echo=lambda *_: None)
    finally:
        torch.set_num_threads(threads)
    return report, simulation
