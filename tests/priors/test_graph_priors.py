"""Priors against the real server: read from the reference relations in the graph, never from a
measurement; written back as Gene.prior with their run; a never-measured gene predicted from its
prior through the CLI and stored with that provenance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import clean, server_env

from lpm_kg.priors import fit_gene_priors, read_knowledge
from lpm_kg.simulate import SimulationConfig, simulate

SIM = SimulationConfig(n_genes=40, n_knockdowns=30, n_compounds=4)
NEVER_PERTURBED = "CRISPRi_SIMG008"  # SIMG008 has REGULATES edges in SIM but no knockdown
CONTEXT = "sim_SIM-B_CRISPRi"


def _config(files, folder):
    path = folder / "lpm-kg.toml"
    path.write_text(
        "".join(f'[[sources]]\npath = "{files[k]}"\nformat = "{fmt}"\ndataset = "{name}"\n\n'
                for k, fmt, name in (("genes", "hgnc", "sim-genes"), ("measurements", "long", "sim"),
                                     ("compounds", "repurposing-hub", "sim-compounds"),
                                     ("network", "trrust", "sim-network")))
        + '[model]\ndatasets = ["sim"]\npreset = "graph-small"\noverrides = { max_epochs = 5, seeds = [13, 14] }\n'
        + "[predict]\nmax_experiments = 20\n")
    return path


@pytest.fixture(scope="module")
def synced(session_graph, neo4j_server, tmp_path_factory):
    clean(session_graph)
    folder = tmp_path_factory.mktemp("priors")
    sim = simulate(SIM)
    config = _config(sim.write(folder / "sim"), folder)
    env = {**os.environ, **server_env(neo4j_server, folder / "home"), "PYTHONUNBUFFERED": "1"}
    run = lambda *args: subprocess.run([sys.executable, "-m", "lpm_kg.cli", *args], env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=900)
    out = run("sync", "--config", str(config))
    assert out.returncode == 0, out.stderr[-3000:]
    runs = {r["kind"]: r["id"] for r in session_graph.read("MATCH (m:ModelRun) RETURN m.kind AS kind, m.run_id AS id")}
    return SimpleNamespace(graph=session_graph, run=run, config=config, sim=sim, sync_out=out.stdout,
                           lpm_run=runs["lpm"], prior_run=runs["prior"])


def test_priors_are_written_on_genes_with_their_run(synced):
    g = synced.graph
    assert "gene priors prior-" in synced.sync_out
    prior = g.read("MATCH (m:ModelRun {run_id: $id}) RETURN m.kind AS kind, m.status AS status, m.config AS config, "
                   "m.metrics AS metrics", {"id": synced.prior_run})[0]
    assert prior["kind"] == "prior" and prior["status"] == "complete"
    assert json.loads(prior["config"])["relations"] == ["INTERACTS_WITH", "MEMBER_OF", "REGULATES"]
    genes = g.read("MATCH (x:Gene) WHERE x.symbol STARTS WITH 'SIMG' RETURN x.symbol AS s, x.prior AS v, "
                   "x.prior_run AS run ORDER BY s")
    with_prior = [r for r in genes if r["v"] is not None]
    src, dst = np.nonzero(synced.sim.network)
    related = {synced.sim.genes[i] for i in np.r_[src, dst]}
    assert {r["s"] for r in with_prior} == related  # exactly the genes the network relates
    assert {r["run"] for r in with_prior} == {synced.prior_run} and len(with_prior[0]["v"]) == 64
    assert g.read("MATCH (:ModelRun {run_id: $a})-[:USED_PRIORS]->(p:ModelRun) RETURN p.run_id AS p",
                  {"a": synced.lpm_run}) == [{"p": synced.prior_run}]
    # The vector index answers "which genes have a prior like SIMG008's" in Cypher.
    near = g.read("MATCH (q:Gene {symbol: 'SIMG008'}) CALL db.index.vector.queryNodes('gene_prior', 5, q.prior) "
                  "YIELD node, score RETURN node.symbol AS s, score")
    assert near[0]["s"] == "SIMG008" and near[0]["score"] == pytest.approx(1.0, abs=1e-4) and len(near) == 5


def test_a_gene_never_perturbed_is_predicted_from_its_prior_and_stored_with_its_provenance(synced):
    g = synced.graph
    assert not g.read("MATCH (e:Experiment {perturbation: $p}) RETURN e LIMIT 1", {"p": NEVER_PERTURBED})
    out = synced.run("predict", "--context", CONTEXT, "--perturbation", NEVER_PERTURBED)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"{NEVER_PERTURBED}: never measured in training; predicted from the graph " \
           f"(prior run {synced.prior_run})" in out.stdout
    (x,) = g.read("MATCH (x:PredictedExperiment {perturbation: $p, context: $c})-[:FROM_PRIORS]->(pr:ModelRun) "
                  "MATCH (x)-[:PREDICTED_BY]->(m:ModelRun) RETURN x.source AS source, x.prior_run AS prior_run, "
                  "pr.run_id AS pr, m.run_id AS run, x.std AS std, x.values AS values",
                  {"p": NEVER_PERTURBED, "c": CONTEXT})
    assert x["source"] == "prior" and x["prior_run"] == x["pr"] == synced.prior_run and x["run"] == synced.lpm_run
    assert len(x["values"]) == SIM.n_genes and min(x["std"]) > 0  # two seeds: a spread
    from lpm_kg.queries import run_query

    rows = run_query(g, "prior-prediction", {"perturbation": NEVER_PERTURBED, "context": CONTEXT, "k": 5})
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert {(r["source"], r["prior_run"], r["gene"], r["gene_prior_current"]) for r in rows} == {
        ("prior", synced.prior_run, "SIMG008", True)}
    assert rows[0]["gene_relations"] > 0 and rows[0]["run"] == synced.lpm_run
    # Again: the same prediction replaces itself.
    again = synced.run("predict", "--context", CONTEXT, "--perturbation", NEVER_PERTURBED)
    assert again.returncode == 0
    assert g.read("MATCH (x:PredictedExperiment {perturbation: $p}) RETURN count(x) AS n",
                  {"p": NEVER_PERTURBED})[0]["n"] == 1


def test_a_compound_without_targets_gets_the_clear_error(synced):
    out = synced.run("predict", "--context", "sim_SIM-B_CMP", "--perturbation", "novelcompound-10uM", "--no-write")
    assert out.returncode == 2
    assert "no HAS_TARGET in the graph; load an annotation table" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_second_sync_changes_nothing(synced):
    before = synced.graph.read("MATCH (x:Gene) WHERE x.prior IS NOT NULL RETURN x.symbol AS s, x.prior AS v ORDER BY s")
    out = synced.run("sync", "--config", str(synced.config))
    assert out.returncode == 0 and "nothing to train" in out.stdout
    assert synced.graph.read("MATCH (x:Gene) WHERE x.prior IS NOT NULL RETURN x.symbol AS s, x.prior AS v "
                             "ORDER BY s") == before


def test_pruning_the_prior_run_removes_its_vectors(synced):
    """Last in the module: it deletes what the other tests read."""
    from lpm_kg.graph.prune import prune_model_runs

    assert prune_model_runs(synced.graph, keep=0, kind="prior") == [synced.prior_run]
    assert synced.graph.read("MATCH (g:Gene) WHERE g.prior IS NOT NULL OR g.prior_run IS NOT NULL "
                             "RETURN count(g) AS n")[0]["n"] == 0
    assert synced.graph.read("MATCH (m:ModelRun {kind: 'lpm'}) RETURN count(m) AS n")[0]["n"] == 1


def test_priors_use_no_measurement(graph, load_file, tmp_path):
    """The leak test: priors read with the measurements in the graph equal those read with none,
    so no measurement, of a held-out perturbation or any other, can reach them."""
    files = simulate(SIM).write(tmp_path / "sim")
    for key, fmt, name in (("genes", "hgnc", "sim-genes"), ("compounds", "repurposing-hub", "sim-compounds"),
                           ("network", "trrust", "sim-network")):
        load_file(files[key], fmt, name)
    without = read_knowledge(graph)
    load_file(files["measurements"], "long", "sim")
    with_measurements = read_knowledge(graph)
    assert graph.read("MATCH (e:Experiment) RETURN count(e) AS n")[0]["n"] > 0
    assert with_measurements.fingerprint() == without.fingerprint()
    a, b = fit_gene_priors(without), fit_gene_priors(with_measurements)
    assert a.run_id == b.run_id and np.array_equal(a.vectors, b.vectors)
    assert with_measurements.compound_targets  # the annotations were read
