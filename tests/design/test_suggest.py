"""``lpm-kg suggest`` against the real server on the simulator (a quarter of its experiments never
performed): the batch holds unmeasured pairs only, names its run, and writing it again changes
nothing."""

import json

import pytest
from click.testing import CliRunner
from conftest import fingerprint, server_env, sync_simulation

from lpm_kg.commands import lpm_run_and_model
from lpm_kg.design.suggest import SuggestSettings, suggest
from lpm_kg.errors import ConfigError
from lpm_kg.graph.suggestions import measured_pairs, read_plan


@pytest.fixture(scope="module")
def sim(session_graph, tmp_path_factory):
    folder = tmp_path_factory.mktemp("suggest-sim")
    report, simulation = sync_simulation(session_graph, folder, seeds=(13, 14, 15))
    run, model = lpm_run_and_model(session_graph, report.run_id, folder / "runs")
    return session_graph, run, model, simulation, folder


def _suggestions(graph, plan_id):
    return graph.read("MATCH (s:Suggestion)-[:IN_PLAN]->(pl:SuggestionPlan {id: $id})-[:FROM_RUN]->(m:ModelRun) "
                      "MATCH (s)-[:OF_PERTURBATION]->(p:Perturbation), (s)-[:IN_CONTEXT]->(c:Context) "
                      "RETURN s.rank AS rank, p.symbol AS p, c.symbol AS c, m.run_id AS run, s.run_id AS s_run, "
                      "s.strategy AS strategy ORDER BY rank", {"id": plan_id})


def test_a_batch_is_unmeasured_ranked_and_names_its_run(sim):
    graph, run, model, simulation, _ = sim
    measured = measured_pairs(graph)
    assert len(measured) == len(simulation.measurements[["perturbation", "context"]].drop_duplicates())
    plan = suggest(graph, run, model, SuggestSettings(batch=10, budget=3))
    t = plan.table
    assert len(t) == 10 and list(t["rank"]) == list(range(1, 11))
    pairs = list(zip(t["perturbation"], t["context"]))
    assert not set(pairs) & measured and len(set(pairs)) == 10
    assert t.groupby("context").size().max() <= 3
    # Every unmeasured pair of a trained perturbation in a trained context of its kind (a context is
    # a CRISPRi or a compound screen) is a candidate.
    kind = lambda s: "CRISPRi" if s.startswith("CRISPRi_") else "CMP"  # noqa: E731
    every = {(p, c) for p in model.vocab.perturbations for c in model.vocab.contexts if c.endswith(kind(p))} - measured
    assert set(zip(plan.candidates.perturbation, plan.candidates.context)) == every
    assert (t["uncertainty"] > 0).all() and all(len(r) == 5 for r in t["uncertain_readouts"])
    stored = _suggestions(graph, plan.plan_id)
    assert [(r["p"], r["c"]) for r in stored] == pairs
    assert {r["run"] for r in stored} == {r["s_run"] for r in stored} == {run["run_id"]}
    assert {r["strategy"] for r in stored} == {"coverage"}  # the default


def test_suggesting_again_changes_nothing_and_a_smaller_batch_is_its_own_plan(sim):
    graph, run, model, _, _ = sim
    settings = SuggestSettings(strategy="uncertainty", batch=6)
    first = suggest(graph, run, model, settings)
    before = fingerprint(graph), [dict(r) for r in read_plan(graph, first.plan_id)]
    again = suggest(graph, run, model, settings)
    assert again.plan_id == first.plan_id
    assert (fingerprint(graph), [dict(r) for r in read_plan(graph, first.plan_id)]) == before
    smaller = suggest(graph, run, model, SuggestSettings(strategy="uncertainty", batch=3))
    assert smaller.plan_id != first.plan_id
    assert [s["perturbation"] for s in read_plan(graph, smaller.plan_id)] == list(first.table.perturbation[:3])
    assert len(read_plan(graph, first.plan_id)) == 6


def test_available_and_kind_restrict_the_candidates(sim, tmp_path):
    graph, run, model, simulation, _ = sim
    compounds = sorted({p for p in model.vocab.perturbations if not p.startswith("CRISPR")})
    plan = suggest(graph, run, model, SuggestSettings(kinds=["chemical"], batch=50), write=False)
    assert set(plan.table.perturbation) <= set(compounds) and len(plan.table) == min(50, len(plan.candidates))
    gene = next(p for p in model.vocab.perturbations if p.startswith("CRISPR")).split("_", 1)[1]
    plan = suggest(graph, run, model, SuggestSettings(available=[gene], batch=50), write=False)
    assert set(plan.candidates.perturbation) == {f"CRISPRi_{gene}"}
    with pytest.raises(ConfigError, match="never trained in context"):
        suggest(graph, run, model, SuggestSettings(contexts=["nowhere"]), write=False)


def test_the_cli_prints_writes_a_csv_and_a_plot(sim, tmp_path, neo4j_server):
    graph, run, _, _, folder = sim
    from lpm_kg.cli import main

    available = tmp_path / "plate.csv"
    compounds = [s for s in run_symbols(graph) if not s.startswith("CRISPR")][:4]
    available.write_text("compound\n" + "\n".join(compounds) + "\n")
    env = server_env(neo4j_server, folder)
    out = CliRunner().invoke(main, ["suggest", "--run", run["run_id"], "--batch", "3", "--available", str(available),
                                    "--out", str(tmp_path / "plate-out.csv"), "--plot", str(tmp_path / "plan.png"),
                                    "--json"], env=env)
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["run"] == run["run_id"] and len(body["suggestions"]) == 3
    assert {s["perturbation"] for s in body["suggestions"]} <= set(compounds)
    assert (tmp_path / "plan.png").stat().st_size > 10_000 and (tmp_path / "plate-out.csv").read_text().count("\n") == 4
    bad = CliRunner().invoke(main, ["suggest", "--available", str(tmp_path / "empty.txt")], env=env)
    assert bad.exit_code != 0 and "does not exist" in bad.output


def run_symbols(graph):
    return [r["s"] for r in graph.read("MATCH (e:Experiment {dataset: 'sim'}) RETURN DISTINCT e.perturbation AS s "
                                       "ORDER BY s")]


def test_a_run_of_one_seed_is_refused_by_the_strategies_that_rank_by_disagreement(sim):
    graph, run, model, _, _ = sim
    one = object.__new__(type(model))  # the run's model with its first seed only
    one.__dict__.update(model.__dict__, modules={13: model.modules[13]})
    for name in ("uncertainty", "related", "diverse"):
        with pytest.raises(ConfigError, match="one seed"):
            suggest(graph, run, one, SuggestSettings(strategy=name), write=False)
    assert len(suggest(graph, run, one, SuggestSettings(strategy="random", batch=4), write=False).table) == 4
    # The default ranks first measurements first: with one seed its weight is flat, its ranking stands.
    plan = suggest(graph, run, one, SuggestSettings(batch=4), write=False)
    assert len(plan.table) == 4 and plan.table["perturbation"].nunique() == 4


def test_pruning_the_run_deletes_its_plans(sim):  # last: it deletes the module's run
    from lpm_kg.graph.prune import delete_runs

    graph, run, model, _, _ = sim
    suggest(graph, run, model, SuggestSettings(batch=2))
    assert graph.read("MATCH (s:Suggestion {run_id: $run}) RETURN count(s) AS n", {"run": run["run_id"]})[0]["n"]
    delete_runs(graph, [run["run_id"]])
    assert graph.read("MATCH (n) WHERE n:Suggestion OR n:SuggestionPlan RETURN count(n) AS n")[0]["n"] == 0
