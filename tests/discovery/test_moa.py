"""Mechanism of action from the shared perturbation space, against the real server: on the
simulator (whose compounds act through their targets' knockdown responses, so the answer is
known) and on real annotations and measurements."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import sync_simulation

from lpm_kg.discovery.moa import METHODS, moa_ranks, moa_recall, recall_table, update_run_metrics
from lpm_kg.errors import MoaError
from lpm_kg.graph.embeddings import nearest_genetic
from lpm_kg.graph.runs import get_model_run
from lpm_kg.sync import PredictConfig, SyncConfig, sync
from lpm_kg.training import TrainConfig


@pytest.fixture(scope="module")
def sim_home(tmp_path_factory):
    """The data folder of the sim fixture: its run's checkpoint is under ``runs/``."""
    return tmp_path_factory.mktemp("moa-sim")


@pytest.fixture(scope="module")
def sim(session_graph, sim_home):
    """The default simulation synced (loaded, a small LPM trained, written back), once per module."""
    report, simulation = sync_simulation(session_graph, sim_home)
    return session_graph, report, simulation


def _sync_graph_model(graph, folder, annotations: list[str]):
    """A graph-informed LPM on the sim fixture's data, its compound priors fed by ``annotations``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = SyncConfig(sources=[], model=TrainConfig(
            datasets=["sim"], preset="graph-small",
            overrides={"max_epochs": 10, "seeds": [13], "priors": {"annotations": annotations}}),
            predict=PredictConfig(unperformed=False))
        return sync(graph, config, checkpoint_dir=folder, show_progress=False, echo=lambda *_: None)
    finally:
        torch.set_num_threads(threads)


def _compounds(simulation):
    return {f"{row.pert_iname}-10uM": set(row.target.split("|")) for row in simulation.compounds.itertuples()}


def test_nearest_genetic_returns_genetic_perturbations_nearest_first(sim):
    graph, report, simulation = sim
    symbol = sorted(_compounds(simulation))[0]
    found = nearest_genetic(graph, symbol, k=10)
    assert len(found) == 10
    kinds = {r["s"]: r["k"] for r in graph.read("MATCH (p:Perturbation) RETURN p.symbol AS s, p.kind AS k")}
    assert all(kinds[s] == "genetic" for s, _, _ in found)
    assert all(target == s.removeprefix("CRISPRi_") for s, target, _ in found)
    scores = [score for _, _, score in found]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    # The index and the exact search on the stored run agree on this small vocabulary.
    exact = nearest_genetic(graph, symbol, k=10, run=report.run_id)
    assert [s for s, _, _ in exact] == [s for s, _, _ in found]
    assert np.allclose([x for _, _, x in exact], scores, atol=1e-5)
    # Fewer genetic neighbours among the index's candidates than asked: it asks again for all.
    assert len(nearest_genetic(graph, symbol, k=30, candidates=31)) == 30
    with pytest.raises(MoaError, match="no Perturbation"):
        nearest_genetic(graph, "no-such-compound-10uM", k=3)
    with pytest.raises(MoaError, match="holds no perturbation embedding"):
        nearest_genetic(graph, "no-such-compound-10uM", k=3, run=report.run_id)


def test_recall_table_scores_the_lpm_raw_signatures_and_random_on_the_same_compounds(sim):
    graph, report, simulation = sim
    table = moa_recall(graph, k_values=(1, 5, 10, 20))
    assert list(table.columns) == ["method", "k", "recall", "target_recall", "n_compounds", "n_genetic"]
    assert set(table["method"]) == set(METHODS) and sorted(table["k"].unique()) == [1, 5, 10, 20]
    n_compounds = len(simulation.compounds)  # every simulated compound targets knocked-down genes
    assert (table["n_compounds"] == n_compounds).all() and table.attrs["n_compounds"] == n_compounds
    assert (table["n_genetic"] == 80).all() and table.attrs["run"] == report.run_id and table.attrs["note"] is None
    at = table.set_index(["method", "k"])
    for k in (1, 5, 10, 20):
        for col in ("recall", "target_recall"):
            assert 0 <= at.loc[("random", k), col] <= 1
        # Random is the exact expectation: k / n for a single target with a single knockdown.
        assert at.loc[("random", k), "target_recall"] == pytest.approx(k / 80)
        assert at.loc[("random", k), "recall"] >= at.loc[("random", k), "target_recall"] - 1e-12
    random10 = at.loc[("random", 10), "recall"]
    assert at.loc[("lpm-embedding", 10), "recall"] > random10 + 0.3, table.to_string()
    assert at.loc[("raw-signature", 10), "recall"] > random10 + 0.3, table.to_string()
    assert at.loc[("lpm-embedding", 10), "target_recall"] > at.loc[("random", 10), "target_recall"] + 0.2
    for method in ("lpm-embedding", "raw-signature"):
        assert list(at.loc[method, "recall"]) == sorted(at.loc[method, "recall"])  # monotone in k

    # Significance: the learned space's target ranks beat shuffled candidate genes; random is not a method here.
    significance = table.attrs["significance"]
    assert set(significance) == {"lpm-embedding", "raw-signature"}
    assert significance["lpm-embedding"]["p"] <= 0.01 and significance["lpm-embedding"]["mean_rank_share"] < 0.3
    assert significance["lpm-embedding"]["null_mean"] == pytest.approx(0.5, abs=0.1)

    ranks = moa_ranks(graph)
    truth = _compounds(simulation)
    assert {r.perturbation: set(r.targets) for r in ranks.itertuples()} == truth
    # Consistency with nearest_genetic: a compound's best-ranked target is where the index puts it.
    row = ranks.sort_values("perturbation").iloc[0]
    near = [t for _, t, _ in nearest_genetic(graph, row.perturbation, k=int(row["rank:lpm-embedding"]))]
    assert set(near) & truth[row.perturbation] and not set(near[:-1]) & truth[row.perturbation]
    assert recall_table(ranks, (10,)).set_index("method").loc["lpm-embedding", "recall"] == \
        at.loc[("lpm-embedding", 10), "recall"]


def test_cli_prints_neighbours_records_moa_on_the_run_and_plots(sim, neo4j_server, tmp_path):
    from lpm_kg.commands.discovery_moa import moa, similar

    graph, report, simulation = sim
    user, password = neo4j_server.auth
    env = {"NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password}
    runner = CliRunner()
    symbol = sorted(_compounds(simulation))[0]
    out = runner.invoke(similar, [symbol, "--k", "4", "--json"], env=env)
    assert out.exit_code == 0, out.output
    neighbours = json.loads(out.output)["neighbours"]
    assert len(neighbours) == 4 and symbol not in [n["perturbation"] for n in neighbours]
    out = runner.invoke(similar, [symbol, "--k", "3", "--genetic-only", "--run", report.run_id], env=env)
    assert out.exit_code == 0, out.output
    assert out.output.count("CRISPRi_") == 3 and "target SIMG" in out.output

    before = get_model_run(graph, report.run_id)["metrics"]
    assert "val_rmse" in before
    update_run_metrics(graph, report.run_id, {"other": {"x": 1}})
    plot = tmp_path / "moa.png"
    out = runner.invoke(moa, ["--k", "1,10", "--json", "--plot", str(plot)], env=env)
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["recorded_on"] == [report.run_id] and result["n_compounds"] == len(simulation.compounds)
    assert {(r["method"], r["k"]) for r in result["rows"]} == {(m, k) for m in METHODS for k in (1, 10)}
    metrics = get_model_run(graph, report.run_id)["metrics"]
    assert metrics["moa"]["rows"] == result["rows"]
    assert metrics["other"] == {"x": 1} and metrics["val_rmse"] == before["val_rmse"]  # nothing clobbered
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = runner.invoke(moa, ["--k", "1,x"], env=env)
    assert out.exit_code != 0 and "comma-separated" in out.output


def test_predicted_profiles_compare_compounds_and_knockdowns_as_a_method(sim, sim_home, neo4j_server):
    """`lpm-kg moa --predicted` scores the run's predicted profiles beside its embeddings; in the
    simulator a compound acts through its targets' knockdown responses, so its predicted profile
    finds them."""
    from lpm_kg.commands.discovery_moa import moa

    graph, report, simulation = sim
    user, password = neo4j_server.auth
    env = {"NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
           "LPM_KG_DATA_DIR": str(sim_home)}
    out = CliRunner().invoke(moa, ["--k", "1,10", "--predicted", "--no-write", "--json"], env=env)
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)  # progress goes to stderr, the JSON alone to stdout
    assert "predicted profiles: 1/" in out.stderr
    assert result["predicted_run"] == report.run_id and "lpm-predicted" in result["methods"]
    at = {(r["method"], r["k"]): r["recall"] for r in result["rows"]}
    assert at[("lpm-predicted", 10)] > at[("random", 10)] + 0.3, result["rows"]
    assert at[("lpm-predicted", 1)] <= at[("lpm-predicted", 10)]
    assert result["significance"]["lpm-predicted"]["p"] <= 0.01
    text = CliRunner().invoke(moa, ["--k", "10", "--predicted", "--no-write"], env=env)
    assert text.exit_code == 0, text.output
    assert "significance lpm-predicted: best target rank at" in text.output and "shuffles)" in text.output
    assert result["recorded_on"] == []
    # Without the run's checkpoint there is nothing to predict with: a clear error, not a silent skip.
    from lpm_kg.cli import main

    out = CliRunner().invoke(main, ["moa", "--predicted", "--no-write"],
                             env={**env, "LPM_KG_DATA_DIR": str(sim_home / "none")})
    assert out.exit_code != 0 and f"the checkpoint of run {report.run_id} is not at" in out.output, out.output


def test_runs_are_scored_side_by_side_and_a_run_fed_the_targets_is_called_circular(sim, tmp_path):
    """The paper's LPM, a graph LPM whose compound priors leave HAS_TARGET out and one fed the
    targets, scored in one call on the same compounds: the last is flagged as circular, and both
    graph runs share one gene prior run (the annotations act in the model, not in the fit)."""
    graph, report, simulation = sim
    honest = _sync_graph_model(graph, tmp_path, ["HAS_MOA"]).run_id
    fed = _sync_graph_model(graph, tmp_path, ["HAS_TARGET", "HAS_MOA"]).run_id
    assert len({report.run_id, honest, fed}) == 3
    priors = graph.read("MATCH (r:ModelRun)-[:USED_PRIORS]->(p:ModelRun) WHERE r.run_id IN $runs "
                        "RETURN collect(DISTINCT p.run_id) AS p", {"runs": [honest, fed]})
    assert len(priors[0]["p"]) == 1

    table = moa_recall(graph, (1, 10), run=[report.run_id, honest, fed])
    methods = ["lpm-embedding", f"graph-lpm-embedding:{honest}", f"graph-lpm-embedding:{fed}", "raw-signature",
               "random"]
    assert list(dict.fromkeys(table["method"])) == methods and table.attrs["methods"] == methods
    assert table.attrs["runs"] == [report.run_id, honest, fed]
    assert table.attrs["circular"] == [f"graph-lpm-embedding:{fed}"]
    assert "circular" in table.attrs["note"] and honest not in table.attrs["note"]
    assert (table["n_compounds"] == len(simulation.compounds)).all()
    # The single-run table of the paper's run is the same rows as its part of the joint one.
    alone = moa_recall(graph, (1, 10), run=report.run_id).set_index(["method", "k"])
    joint = table.set_index(["method", "k"])
    for key in alone.index:
        assert alone.loc[key, "recall"] == joint.loc[key, "recall"]
    ranks = moa_ranks(graph, [honest, fed])
    assert {f"rank:graph-lpm-embedding:{r}" for r in (honest, fed)} <= set(ranks.columns)
    with pytest.raises(MoaError, match="no model run 'nope'"):
        moa_recall(graph, run=[honest, "nope"])


def test_real_annotations_and_measurements_report_what_can_be_evaluated(graph, load_file):
    """The real Drug Repurposing Hub, the L1000 compound signatures and the L1000 shRNA plate: no
    annotated target of those three compounds (BRAF, HMGCR, SLC6A4, ...) is knocked down on the
    plate, so nothing can be scored, and the function says so instead of dividing by zero."""
    load_file("repurposing-hub/repurposing_drugs_20200324.txt", "repurposing-hub", "drughub")
    load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    load_file("cmapR-l1000/kd_gct_matrix.csv.gz", "gct-csv", "L1000-kd", cell_line="KD017")
    annotated = graph.read("MATCH (p:Perturbation {kind: 'chemical'})-[:OF_COMPOUND]->(:Compound)-[:HAS_TARGET]->"
                           "(g:Gene) RETURN count(DISTINCT p) AS n, collect(DISTINCT g.symbol) AS genes")[0]
    assert annotated["n"] > 0 and {"BRAF", "HMGCR"} <= set(annotated["genes"])
    with np.errstate(all="raise"):
        table = moa_recall(graph)
    assert (table["n_compounds"] == 0).all() and table.attrs["n_compounds"] == 0
    assert table["recall"].isna().all() and table["target_recall"].isna().all()
    assert table.attrs["n_genetic"] == 85
    note = table.attrs["note"]
    assert note.startswith("no compound can be evaluated") and "85 genetic perturbations" in note
    assert moa_ranks(graph).empty
