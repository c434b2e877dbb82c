"""`lpm-kg sync` and `lpm-kg demo` end to end against the real server."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import server_env, shared
from lpm_kg.errors import ConfigError
from lpm_kg.sync import SyncConfig, check_graph_plan, sync

FAST_MODEL = """
[model]
datasets = ["L1000"]
preset = "small"
overrides = { max_epochs = 4, seeds = [13, 14], patience = 2 }

[predict]
max_experiments = 50
"""


def _config(tmp_path, extra=FAST_MODEL):
    path = tmp_path / "lpm-kg.toml"
    path.write_text(f'[[sources]]\npath = "{shared("cmapR-l1000/ds_matrix.csv.gz")}"\nformat = "gct-csv"\n'
                    f'dataset = "L1000"\n{extra}')
    return path


def _counts(graph):
    return {r["l"]: r["n"] for r in graph.read("MATCH (n) UNWIND labels(n) AS l RETURN l, count(*) AS n")}


def test_sync_loads_trains_writes_back_and_is_idempotent(graph, tmp_path):
    config = SyncConfig.from_toml(_config(tmp_path))
    first = sync(graph, config, checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert first.loaded == ["L1000"] and first.trained and first.n_predicted == 50
    run = graph.read("MATCH (m:ModelRun {run_id: $id})-[:TRAINED_ON]->(d:Dataset) RETURN m.status AS s, d.name AS d",
                     {"id": first.run_id})
    assert [(r["s"], r["d"]) for r in run] == [("complete", "L1000")]
    missing = graph.read("MATCH (p:Perturbation)<-[:OF_PERTURBATION]-(:Experiment {dataset: 'L1000'}) "
                         "WHERE p.embedding IS NULL OR p.embedding_run <> $id RETURN count(DISTINCT p) AS n",
                         {"id": first.run_id})[0]["n"]
    assert missing == 0
    before = _counts(graph)
    second = sync(graph, config, checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert second.did_nothing and second.run_id == first.run_id
    assert _counts(graph) == before


def test_bad_config_names_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[sources]]\npath = "x.csv"\nformat = "long"\ndataset = "d"\n\n[model]\npreset = "l1000"\n'
                    'overides = {}\n')
    with pytest.raises(ConfigError, match=r"key 'model.overides'"):
        SyncConfig.from_toml(path)
    path.write_text('[[sources]]\npath = "x.csv"\nformat = "long"\n')
    with pytest.raises(ConfigError, match=r"key 'sources\[0\].dataset'"):
        SyncConfig.from_toml(path)


def _env(server, tmp_path):
    return {**os.environ, **server_env(server, tmp_path / "home"), "PYTHONUNBUFFERED": "1"}


def test_an_interrupted_sync_resumes(graph, neo4j_server, tmp_path):
    slow = FAST_MODEL.replace("max_epochs = 4", "max_epochs = 10").replace("patience = 2", "patience = 10")
    path = _config(tmp_path, slow)
    env = _env(neo4j_server, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "lpm_kg.cli", "sync", "--config", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    runs = tmp_path / "home" / "runs"
    deadline = time.time() + 300
    while time.time() < deadline and not list(runs.glob("*.pt")):
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    checkpoint = next(runs.glob("*.pt"))
    import torch

    saved = torch.load(checkpoint, weights_only=False)
    epochs_before = sum(s["epoch"] for s in saved["seeds"].values())
    assert 0 < epochs_before < 20
    out = subprocess.run([sys.executable, "-m", "lpm_kg.cli", "sync", "--config", str(path)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "L1000: unchanged" in out.stdout and "trained model run" in out.stdout
    resumed = torch.load(checkpoint, weights_only=False)
    for seed, state in saved["seeds"].items():
        # Resumed, not restarted: the epochs done before the kill (wall-clock seconds included) are kept.
        assert resumed["seeds"][seed]["history"][:len(state["history"])] == state["history"]
        assert resumed["seeds"][seed]["done"]
    again = subprocess.run([sys.executable, "-m", "lpm_kg.cli", "sync", "--config", str(path)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert "nothing changed" in again.stdout


def test_demo_runs_end_to_end(graph, neo4j_server, tmp_path):
    out = subprocess.run([sys.executable, "-m", "lpm_kg.cli", "demo"], env=_env(neo4j_server, tmp_path),
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trained model run" in out.stdout and "Cypher to try" in out.stdout
    assert "perturbations closest to" in out.stdout
    assert graph.read("MATCH (x:PredictedExperiment) RETURN count(x) AS n")[0]["n"] > 0
    status = json.loads(subprocess.run([sys.executable, "-m", "lpm_kg.cli", "status", "--json"],
                                       env=_env(neo4j_server, tmp_path), capture_output=True, text=True).stdout)
    assert status["labels"]["ModelRun"] >= 1


def test_eval_and_predict_from_the_command_line(graph, neo4j_server, tmp_path):
    from lpm_kg.simulate import SimulationConfig, simulate

    files = simulate(SimulationConfig(n_genes=40, n_knockdowns=30, n_compounds=4)).write(tmp_path / "sim")
    config = tmp_path / "lpm-kg.toml"
    config.write_text(f'[[sources]]\npath = "{files["genes"]}"\nformat = "hgnc"\ndataset = "sim-genes"\n\n'
                      f'[[sources]]\npath = "{files["measurements"]}"\nformat = "long"\ndataset = "sim"\n\n'
                      '[model]\ndatasets = ["sim"]\npreset = "small"\noverrides = { max_epochs = 5, seeds = [13, 14] }\n')
    env = _env(neo4j_server, tmp_path)
    run = lambda *args: subprocess.run([sys.executable, "-m", "lpm_kg.cli", *args], env=env, capture_output=True,  # noqa: E731
                                       text=True, timeout=900)
    synced = run("sync", "--config", str(config))
    assert synced.returncode == 0, synced.stderr
    evaluated = run("eval", "--seeds", "0", "--target", "sim_SIM-A_CRISPRi", "--max-epochs", "5", "--preset", "small",
                    "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    models = {row["model"] for row in result["rows"]}
    assert {"lpm", "additive-transfer", "global-mean", "linear"} <= models
    assert graph.read("MATCH (m:ModelRun {run_id: $id}) RETURN m.kind AS k", {"id": result["run_id"]})[0]["k"] == "eval"

    performed = {r["p"] for r in graph.read("MATCH (e:Experiment {context: 'sim_SIM-B_CRISPRi'}) RETURN e.perturbation AS p")}
    everywhere = {r["p"] for r in graph.read("MATCH (e:Experiment {dataset: 'sim'}) RETURN e.perturbation AS p")}
    unperformed = sorted(p for p in everywhere - performed if p.startswith("CRISPRi_"))[0]
    out = tmp_path / "pred.csv"
    predicted = run("predict", "--context", "sim_SIM-B_CRISPRi", "--perturbation", unperformed, "--out", str(out))
    assert predicted.returncode == 0, predicted.stderr
    import pandas as pd

    frame = pd.read_csv(out)
    assert len(frame) == 40 and (frame["std"] > 0).all()
    stored = graph.read("MATCH (x:PredictedExperiment {perturbation: $p, context: 'sim_SIM-B_CRISPRi'}) "
                        "RETURN x.values AS v", {"p": unperformed})
    assert stored and len(stored[0]["v"]) == 40
    unknown = run("predict", "--context", "sim_SIM-B_CRISPRi", "--perturbation", "CRISPRi_NOPE")
    assert unknown.returncode == 2 and "never seen the perturbation 'CRISPRi_NOPE'" in unknown.stderr

    listed = json.loads(run("runs", "--json").stdout)
    assert {r["kind"] for r in listed} == {"lpm", "eval"}
    kept = run("prune", "--keep", "1")  # one trained model: nothing to delete, and the eval record is no model
    assert kept.returncode == 0 and "deleted 0 run(s)" in kept.stdout
    pruned = run("prune", "--keep", "0", "--kind", "eval")
    assert pruned.returncode == 0 and f"deleted 1 run(s): {result['run_id']}" in pruned.stdout
    remaining = graph.read("MATCH (m:ModelRun) RETURN m.kind AS k, m.run_id AS id")
    assert [r["k"] for r in remaining] == ["lpm"]
    assert graph.read("MATCH (x:PredictedExperiment) RETURN count(x) AS n")[0]["n"] > 0
    # Pruning the model takes its checkpoint file too.
    checkpoint = tmp_path / "home" / "runs" / f"{remaining[0]['id']}.pt"
    assert checkpoint.exists(), sorted(p.name for p in tmp_path.rglob("*.pt"))
    gone = run("prune", "--keep", "0")
    assert gone.returncode == 0 and "deleted 1 checkpoint file(s)" in gone.stdout and not checkpoint.exists()


def test_a_checkpoint_is_tied_to_its_run(graph, tmp_path):
    from lpm_kg.commands import lpm_run_and_model
    from lpm_kg.errors import InputError

    first = sync(graph, SyncConfig.from_toml(_config(tmp_path)), checkpoint_dir=tmp_path / "runs", show_progress=False)
    other = sync(graph, SyncConfig.from_toml(_config(tmp_path, FAST_MODEL.replace("seeds = [13, 14]", "seeds = [15]"))),
                 checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert other.run_id != first.run_id
    run, model = lpm_run_and_model(graph, first.run_id, tmp_path / "runs")
    assert len(run["checkpoint_sha256"]) == 64 and list(model.states) == [13, 14]
    # Another run's checkpoint copied over this run's file is refused, not used under this run's name.
    (tmp_path / "runs" / f"{first.run_id}.pt").write_bytes((tmp_path / "runs" / f"{other.run_id}.pt").read_bytes())
    with pytest.raises(InputError, match="not the checkpoint run .* wrote"):
        lpm_run_and_model(graph, first.run_id, tmp_path / "runs")


def test_a_sync_checks_its_plan_before_loading_anything(graph, tmp_path):
    good = shared("cmapR-l1000/ds_matrix.csv.gz")
    path = tmp_path / "lpm-kg.toml"
    path.write_text(f'[[sources]]\npath = "{good}"\nformat = "gct-csv"\ndataset = "L1000"\n\n'
                    f'[[sources]]\npath = "{tmp_path / "nosuch.csv"}"\nformat = "long"\ndataset = "gone"\n{FAST_MODEL}')
    before = _counts(graph)
    with pytest.raises(ConfigError, match=r"sources\[1\] \(gone\): .*nosuch.csv is missing"):
        sync(graph, SyncConfig.from_toml(path), checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert _counts(graph) == before  # the first source was not loaded
    path.write_text(f'[[sources]]\npath = "{good}"\nformat = "gct-csv"\ndataset = "L1000"\n'
                    + FAST_MODEL.replace("patience = 2", 'patience = 2, device = "cuda:7"'))
    with pytest.raises(ConfigError, match="cuda:7"):
        sync(graph, SyncConfig.from_toml(path), checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert _counts(graph) == before


def test_a_config_that_is_a_folder_or_not_text_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        SyncConfig.from_toml(tmp_path)
    binary = tmp_path / "x.toml"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match="not a text file"):
        SyncConfig.from_toml(binary)


def test_commands_refuse_a_missing_run_or_a_broken_checkpoint(graph, tmp_path):
    from lpm_kg.commands import lpm_run_and_model
    from lpm_kg.errors import InputError

    with pytest.raises(ConfigError, match="no complete LPM run in the graph"):
        lpm_run_and_model(graph, None, tmp_path / "runs")
    with pytest.raises(ConfigError, match="there is no LPM run 'lpm-000000000000'"):
        lpm_run_and_model(graph, "lpm-000000000000", tmp_path / "runs")
    report = sync(graph, SyncConfig.from_toml(_config(tmp_path)), checkpoint_dir=tmp_path / "runs", show_progress=False)
    checkpoint = tmp_path / "runs" / f"{report.run_id}.pt"
    graph.query("MATCH (r:ModelRun {run_id: $id}) REMOVE r.checkpoint_sha256", {"id": report.run_id})
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # truncated
    with pytest.raises(InputError, match="cannot be read as run"):
        lpm_run_and_model(graph, report.run_id, tmp_path / "runs")
    checkpoint.unlink()
    with pytest.raises(ConfigError, match="was pruned or moved"):
        lpm_run_and_model(graph, report.run_id, tmp_path / "runs")


def test_a_sync_naming_a_dataset_it_will_not_have_loads_nothing(graph, tmp_path):
    path = _config(tmp_path, FAST_MODEL.replace('datasets = ["L1000"]', 'datasets = ["L1000", "nosuch"]'))
    before = _counts(graph)
    with pytest.raises(ConfigError, match=r"model.datasets names 'nosuch'.*there: L1000"):
        sync(graph, SyncConfig.from_toml(path), checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert _counts(graph) == before


def test_a_sync_that_fails_after_loading_says_what_it_kept(graph, tmp_path):
    from lpm_kg.errors import SyncStopped

    diverging = FAST_MODEL.replace("patience = 2", "patience = 2, learning_rate = 1e30, embedding_init_std = 1e10")
    with pytest.raises(SyncStopped, match=r"training diverged.*completed and kept: loaded L1000\..*rerun"):
        sync(graph, SyncConfig.from_toml(_config(tmp_path, diverging)), checkpoint_dir=tmp_path / "runs",
             show_progress=False)
    # the load is whole and the failed training left no run behind
    assert graph.read("MATCH (d:Dataset {name: 'L1000'}) RETURN d.status AS s")[0]["s"] == "complete"
    assert graph.read("MATCH (m:ModelRun) RETURN count(m) AS n")[0]["n"] == 0
    assert not list((tmp_path / "runs").glob("*.pt"))  # (an absent folder globs to nothing)
    again = sync(graph, SyncConfig.from_toml(_config(tmp_path)), checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert again.unchanged == ["L1000"] and again.trained  # the rerun continues: no second load


def test_a_graph_preset_on_a_graph_without_reference_relations_is_refused_before_loading(graph, tmp_path):
    before = _counts(graph)
    path = _config(tmp_path, FAST_MODEL.replace('preset = "small"', 'preset = "graph-small"'))
    with pytest.raises(ConfigError, match=r"preset 'graph-small' learns gene priors .* the graph holds none.*"
                                          r"add a reference source"):
        sync(graph, SyncConfig.from_toml(path), checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert _counts(graph) == before
    # the default stack needs no relation: it leaves its graph LPM out (lpm_kg.stacked)
    stack = SyncConfig.from_toml(_config(tmp_path, FAST_MODEL.replace('preset = "small"', 'preset = "stack-small"')))
    check_graph_plan(graph, stack)
