"""`lpm-kg replay`: a synced run trained again from what the graph stored, against the real server."""

import json

from click.testing import CliRunner

from conftest import shared
from lpm_kg.errors import ConfigError
from lpm_kg.graph.runs import get_model_run, merge_run_metrics
from lpm_kg.replay import replay_run
from lpm_kg.sync import SyncConfig, sync

MODEL = """
[model]
datasets = ["L1000"]
preset = "small"
overrides = { max_epochs = 3, seeds = [13], patience = 2 }

[predict]
max_experiments = 0
"""


def _synced(graph, tmp_path):
    path = tmp_path / "lpm-kg.toml"
    path.write_text(f'[[sources]]\npath = "{shared("cmapR-l1000/ds_matrix.csv.gz")}"\nformat = "gct-csv"\n'
                    f'dataset = "L1000"\n{MODEL}')
    return sync(graph, SyncConfig.from_toml(path), checkpoint_dir=tmp_path / "runs", show_progress=False)


def test_a_run_replays_from_the_graph_and_a_changed_one_does_not(graph, neo4j_server, tmp_path):
    report = _synced(graph, tmp_path)
    run = get_model_run(graph, report.run_id)
    # The run stores the settings its preset resolved to, beside the config that names them.
    assert run["resolved_config"]["max_epochs"] == 3 and run["resolved_config"]["hidden"] == [128, 128]
    assert run["config"]["preset"] == "small"
    replayed = replay_run(graph, report.run_id)
    assert replayed.reproduced, (replayed.stored, replayed.replayed)
    assert replayed.replayed["n_tuples"] == run["metrics"]["n_tuples"] and replayed.setting_changes == {}
    assert graph.read("MATCH (r:ModelRun) RETURN count(r) AS n")[0]["n"] == 1  # the replay wrote nothing

    user, password = neo4j_server.auth
    env = {"NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password}
    from lpm_kg.cli import main

    out = CliRunner().invoke(main, ["replay", report.run_id, "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["reproduced"] is True
    listed = CliRunner().invoke(main, ["runs"], env=env)
    assert listed.exit_code == 0 and f"{report.run_id}" in listed.output and "spec=v1" in listed.output

    # Metrics that do not match what training gives: not reproduced, named, exit status 1.
    merge_run_metrics(graph, report.run_id, {"val_rmse": run["metrics"]["val_rmse"] + 0.5})
    out = CliRunner().invoke(main, ["replay", report.run_id], env=env)
    assert out.exit_code == 1 and "NOT reproduced (val_rmse)" in out.output

    # A run from before resolved settings were stored replays with its preset as it resolves today.
    graph.query("MATCH (r:ModelRun {run_id: $id}) REMOVE r.resolved_config, r.spec, r.spec_version",
                {"id": report.run_id})
    merge_run_metrics(graph, report.run_id, {"val_rmse": run["metrics"]["val_rmse"]})
    old = replay_run(graph, report.run_id)
    assert old.reproduced and not old.resolved_stored


def test_replay_refuses_what_it_cannot_replay(graph, tmp_path):
    report = _synced(graph, tmp_path)
    import pytest

    with pytest.raises(ConfigError, match="there is no model run"):
        replay_run(graph, "lpm-000000000000")
    # The data changed since the run trained: a replay would prove nothing.
    graph.query("MATCH (d:Dataset {name: 'L1000'}) SET d.checksum = 'changed'")
    with pytest.raises(ConfigError, match="changed since it trained"):
        replay_run(graph, report.run_id)


def test_the_run_id_is_the_digest_of_the_stored_resolved_spec(graph, tmp_path):
    from lpm_kg.training import RUN_SPEC_VERSION, RunSpec

    report = _synced(graph, tmp_path)
    run = get_model_run(graph, report.run_id)
    spec = RunSpec(**run["spec"])
    assert spec.spec_version == RUN_SPEC_VERSION and spec.run_id == report.run_id
    assert spec.model.max_epochs == 3 and spec.model.hidden == [128, 128] and spec.datasets == ["L1000"]
    assert spec.data_fingerprint == run["data_fingerprint"]
    # A spec edited in the graph no longer names its run: the replay refuses rather than train another run.
    edited = json.dumps({**run["spec"], "split_seed": 7})
    graph.query("MATCH (r:ModelRun {run_id: $id}) SET r.spec = $spec", {"id": report.run_id, "spec": edited})
    import pytest

    with pytest.raises(ConfigError, match="resolve to run"):
        replay_run(graph, report.run_id)


def test_a_run_named_before_run_specs_stays_up_to_date_until_its_preset_resolves_otherwise(graph, tmp_path):
    from lpm_kg.training import legacy_run_id

    report = _synced(graph, tmp_path)
    run = get_model_run(graph, report.run_id)
    # The run as lpm-kg stored it before run specs: named by a digest of its preset's name and
    # overrides (as the config file writes them), no spec.
    config = SyncConfig.from_toml(tmp_path / "lpm-kg.toml").model
    old_id = legacy_run_id(run["data_fingerprint"], config)
    graph.query("MATCH (r:ModelRun {run_id: $id}) SET r.run_id = $old REMOVE r.spec, r.spec_version",
                {"id": report.run_id, "old": old_id})
    again = _synced(graph, tmp_path)
    assert not again.trained and again.run_id == old_id  # its resolved settings are today's: nothing to train
    # The preset resolves otherwise today than when the run trained (here: the stored settings say
    # 4 epochs): the old id, a digest of the preset's name, would have called it up to date.
    stale = {**run["resolved_config"], "max_epochs": 4}
    graph.query("MATCH (r:ModelRun {run_id: $id}) SET r.resolved_config = $c", {"id": old_id, "c": json.dumps(stale)})
    third = _synced(graph, tmp_path)
    assert third.trained and third.run_id == report.run_id
    assert {r["run_id"] for r in graph.read("MATCH (r:ModelRun) RETURN r.run_id AS run_id")} == {old_id, report.run_id}
