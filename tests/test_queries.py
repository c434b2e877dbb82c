"""The Cypher cookbook (cypher/queries, lpm_kg.queries, `lpm-kg query`) on real data and a tiny trained model.

One graph for the module: the real L1000 level-5 set, TRRUST, CORUM, the Drug Repurposing Hub's
rows for L1000's compounds and the HMGCR inhibitors, and STAT1's STRING edges, plus the simulated screen `lpm-kg demo` syncs (same dataset names, so the
headers' example values run as they are), trained for a few epochs with one seed.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from conftest import clean, server_env, shared
from lpm_kg.commands.query import format_table, queries_cmd, query_cmd
from lpm_kg import demo
from lpm_kg.queries import QueryError, get_query, list_queries, parse_query, run_query

COOKBOOK = {"datasets", "dataset-contents", "perturbation-experiments", "experiment-profile", "readout-values",
            "top-effects", "gene-changes", "prediction", "top-predictions", "similar-perturbations", "gene-partners",
            "model-runs", "model-run", "moa-compounds", "compound", "prior-prediction", "learned-partners",
            "compound-mechanisms", "next-plate"}

# The demo's own sources and settings, trained briefly.
DEMO_TOML = demo.DEMO_TOML.replace('preset = "stack-small"', 'preset = "small"\noverrides = { max_epochs = 5, seeds = [13] }')
# The same sources with the graph-informed LPM, synced first (so the paper model's run is the newest
# and holds the current embeddings); it predicts one never-perturbed gene from its prior.
GRAPH_TOML = demo.DEMO_TOML.replace('preset = "stack-small"', 'preset = "graph-small"\noverrides = { max_epochs = 5, seeds = [13, 14] }'
                                   ).replace("max_experiments = 500", "max_experiments = 0")
NEVER_PERTURBED = "CRISPRi_SIMG002"  # SIMG002 is in the demo's network but never knocked down


def _hub_subset(path, compounds: set[str], moa: str):
    """The real Drug Repurposing Hub file cut to some compounds and one mechanism's (its comment
    lines and header kept), to keep the module quick."""
    lines = shared("repurposing-hub/repurposing_drugs_20200324.txt").read_text(encoding="utf-8").splitlines(True)
    header = next(i for i, line in enumerate(lines) if not line.startswith("!"))
    keep = [line for line in lines[header + 1:]
            if line.split("\t")[0] in compounds or moa in line.split("\t")[2].split("|")]
    path.write_text("".join(lines[:header + 1] + keep), encoding="utf-8")
    return path


def _string_subset(path, gene: str):
    """The real STRING file cut to one gene's edges (the whole file takes a minute to load)."""
    with gzip.open(shared("string/string_v12_human_entrez_ntm700_top3_400.tsv.gz"), "rt") as src:
        header = next(src)
        cols = header.rstrip("\n").split("\t")
        a, b = cols.index("symbol1"), cols.index("symbol2")
        rows = [line for line in src if gene in (line.split("\t")[a], line.split("\t")[b])]
    with gzip.open(path, "wt") as out:
        out.write(header)
        out.writelines(rows)
    return path


@pytest.fixture(scope="module")
def cookbook(session_graph, neo4j_server, tmp_path_factory):
    from lpm_kg.loading import load
    from lpm_kg.simulate import SimulationConfig, simulate
    from lpm_kg.sync import SyncConfig, sync

    graph = session_graph
    clean(graph)
    folder = tmp_path_factory.mktemp("cookbook")

    def _load(path, fmt, dataset):
        load(graph, path, fmt, dataset, show_progress=False)

    _load(shared("cmapR-l1000/ds_matrix.csv.gz"), "gct-csv", "L1000")
    _load(_hub_subset(folder / "repurposing_drugs.txt", {"vemurafenib", "atorvastatin", "venlafaxine"},
                      "HMGCR inhibitor"), "repurposing-hub", "drughub")
    _load(shared("trrust/trrust_rawdata.human.tsv"), "trrust", "trrust")
    _load(shared("corum/coreComplexes.txt"), "corum", "corum")
    _load(_string_subset(folder / "string_STAT1.tsv.gz", "STAT1"), "string", "string")
    simulate(SimulationConfig(seed=0)).write(folder / "demo")
    (folder / "demo" / "graph.toml").write_text(GRAPH_TOML)
    home = folder / "home"
    graph_report = sync(graph, SyncConfig.from_toml(folder / "demo" / "graph.toml"), checkpoint_dir=home / "runs",
                        show_progress=False, echo=lambda *_: None)
    (folder / "demo" / "lpm-kg.toml").write_text(DEMO_TOML)
    report = sync(graph, SyncConfig.from_toml(folder / "demo" / "lpm-kg.toml"), checkpoint_dir=home / "runs",
                  show_progress=False, echo=lambda *_: None)
    assert report.trained and report.n_predicted > 0
    env = {**os.environ, **server_env(neo4j_server, home)}
    predicted = subprocess.run([sys.executable, "-m", "lpm_kg.cli", "predict", "--run", graph_report.run_id,
                                "--context", "demo_SIM-A_CRISPRi", "--perturbation", NEVER_PERTURBED], env=env,
                               capture_output=True, text=True, timeout=600)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    # The next plate from the graph run: two genes it trained on and one it knows only by its priors.
    plate = folder / "plate.txt"
    plate.write_text(f"SIMG001\nSIMG004\n{NEVER_PERTURBED.split('_', 1)[1]}\n")
    suggested = subprocess.run([sys.executable, "-m", "lpm_kg.cli", "suggest", "--run", graph_report.run_id,
                                "--available", str(plate), "--batch", "4", "--json"], env=env, capture_output=True,
                               text=True, timeout=600)
    assert suggested.returncode == 0, suggested.stderr[-3000:]
    return SimpleNamespace(graph=graph, run_id=report.run_id, graph_run_id=graph_report.run_id,
                           plan=json.loads(suggested.stdout),
                           prior_run=graph_report.metrics["prior_run"], server=neo4j_server)


def _params(cookbook, name):
    params = get_query(name).example_params()
    if "run" in params:  # a run id is a hash of the data and config: the example names another run
        params["run"] = cookbook.run_id
    return params


# --------------------------------------------------------------------------- the files


def test_the_cookbook_has_every_query_with_a_documented_header():
    queries = {q.name: q for q in list_queries()}
    assert set(queries) == COOKBOOK
    for q in queries.values():
        assert q.description and q.cypher.startswith("// name: ")
        body = "\n".join(line for line in q.cypher.splitlines() if not line.lstrip().startswith("//"))
        used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", body))
        assert used == set(q.param_names), q.name
        for p in q.params:
            assert p.example is not None and p.description, (q.name, p.name)
            # Only parameters: no example value is pasted into the statement.
            for value in (p.example if isinstance(p.example, list) else [p.example]):
                assert not isinstance(value, str) or value not in body, (q.name, p.name, value)


# --------------------------------------------------------------------------- every query on real data


@pytest.mark.parametrize("name", sorted(COOKBOOK))
def test_query_runs_with_its_example_parameters(cookbook, name):
    rows = run_query(cookbook.graph, name, _params(cookbook, name))
    assert rows, f"{name} returned no rows"
    CHECKS[name](rows, cookbook)


def _datasets(rows, cb):
    by_name = {r["dataset"]: r for r in rows}
    assert {"hgnc", "L1000", "drughub", "trrust", "corum", "string", "demo"} <= set(by_name)
    assert all(r["status"] == "complete" for r in rows)
    assert by_name["L1000"]["measurements"] > 100_000 and by_name["L1000"]["source"]
    assert by_name["demo"]["model_runs"] == 2 and by_name["L1000"]["model_runs"] == 0  # the paper's and the graph LPM
    assert by_name["L1000"]["files"][0].endswith("ds_matrix.csv.gz") and by_name["L1000"]["loaded_at"]


def _dataset_contents(rows, cb):
    assert {r["dataset"] for r in rows} == {"L1000"}
    a375 = next(r for r in rows if r["context"] == "L1000_A375_CMP")
    assert a375["cell_line"] == "A375" and a375["experiments"] > 0 and a375["measurements"] >= 978
    assert sum(r["experiments"] for r in rows) == cb.graph.read(
        "MATCH (e:Experiment {dataset: 'L1000'}) RETURN count(e) AS n")[0]["n"]


def _perturbation_experiments(rows, cb):
    assert {r["kind"] for r in rows} == {"measured"}  # the model never saw L1000
    assert "L1000:vemurafenib-10uM@A375@24h" in {r["experiment"] for r in rows}
    assert all(r["source"] == "L1000" and r["readouts"] == 978 for r in rows)
    predicted = run_query(cb.graph, "perturbation-experiments", {"perturbation": "CRISPRi_SIMG001"})
    kinds = {r["kind"] for r in predicted}
    assert kinds == {"measured", "predicted"}
    assert {r["source"] for r in predicted if r["kind"] == "predicted"} == {cb.run_id}


def _experiment_profile(rows, cb):
    panel = cb.graph.read("MATCH (:Experiment {id: 'L1000:vemurafenib-10uM@A375@24h'})-[:MEASURED_WITH]->(p) "
                          "RETURN p.readouts AS r")[0]["r"]
    assert [r["readout"] for r in rows] == panel and [r["position"] for r in rows] == list(range(1, 979))
    dusp6 = next(r["value"] for r in rows if r["readout"] == "Transcriptome_DUSP6")
    assert dusp6 < -2  # vemurafenib (a BRAF inhibitor) shuts down MAPK output in A375 (BRAF V600E)


def _readout_values(rows, cb):
    assert {r["readout"] for r in rows} == {"Transcriptome_DUSP6", "Transcriptome_EGR1", "Transcriptome_FOS"}
    assert len({r["experiment"] for r in rows}) * 3 == len(rows)
    profile = {r["readout"]: r["value"] for r in run_query(
        cb.graph, "experiment-profile", {"experiment": "L1000:vemurafenib-10uM@A375@24h"})}
    here = {r["readout"]: r["value"] for r in rows if r["experiment"] == "L1000:vemurafenib-10uM@A375@24h"}
    assert here == {k: profile[k] for k in here}


def _top_effects(rows, cb):
    per_experiment = {}
    for r in rows:
        per_experiment.setdefault(r["experiment"], []).append(r)
    for effects in per_experiment.values():
        assert [e["rank"] for e in effects] == [1, 2, 3, 4, 5]
        assert abs(effects[0]["value"]) >= abs(effects[-1]["value"])


def _gene_changes(rows, cb):
    assert len(rows) == 10 and all(r["readout"] == "Transcriptome_DUSP6" for r in rows)
    values = [abs(r["value"]) for r in rows]
    assert values == sorted(values, reverse=True)


def _prediction(rows, cb):
    assert [r["rank"] for r in rows] == list(range(1, 11))
    assert {r["run"] for r in rows} == {cb.run_id} and rows[0]["run_status"] == "complete"
    assert all(r["std"] is not None and r["std"] >= 0 for r in rows)  # one seed: a spread of 0
    assert abs(rows[0]["predicted"]) >= abs(rows[-1]["predicted"])


def _top_predictions(rows, cb):
    assert len(rows) == 10 and {r["run"] for r in rows} == {cb.run_id}
    values = [abs(r["predicted"]) for r in rows]
    assert values == sorted(values, reverse=True)


def _similar_perturbations(rows, cb):
    assert len(rows) == 5 and "CRISPRi_SIMG001" not in {r["perturbation"] for r in rows}
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert {r["run"] for r in rows} == {cb.run_id}


def _learned_partners(rows, cb):
    assert len(rows) == 10 and "SIMG001" not in {r["partner"] for r in rows}
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True) and all(0 <= s <= 1 for s in sims)
    assert {r["run"] for r in rows} == {cb.run_id}
    # The evidence is the demo's true network where it links the pair, named by its dataset.
    known = [line for r in rows for line in r["known"]]
    assert all(line.startswith("demo-network: regulat") for line in known)
    linked = {r["p"] for r in cb.graph.read("MATCH (:Gene {symbol: 'SIMG001'})-[:REGULATES]-(p:Gene) "
                                            "RETURN p.symbol AS p")}
    assert {r["partner"] for r in rows if r["known"]} == linked & {r["partner"] for r in rows}


def _compound_mechanisms(rows, cb):
    assert rows and {r["run"] for r in rows} == {cb.run_id}
    support = [r["support"] for r in rows]
    assert support == sorted(support, reverse=True)
    assert sum(len(r["compounds"]) for r in rows) >= 10  # the 10 nearest compounds each vote for their MOAs
    assert all("simcompound-01 (" not in c for r in rows for c in r["compounds"])  # not itself
    assert all(r["annotated"] is False for r in rows)  # each simulated compound has its own MOA


def _gene_partners(rows, cb):
    assert len(rows) == 20
    partners = {r["partner"]: r for r in rows}
    # Reference: STAT2 is in STRING, TRRUST and the ISGF3 complex with STAT1; no inferred edges yet.
    assert "STAT2" in partners and partners["STAT2"]["in_reference"]
    evidence = " ".join(partners["STAT2"]["reference"])
    assert "string: interacts" in evidence and "corum: complex" in evidence and "trrust: " in evidence
    assert all(r["inferred"] == [] and r["inferred_rank"] is None for r in rows)


def _model_runs(rows, cb):
    assert [r["run"] for r in rows][0] == cb.run_id  # newest first
    assert {r["run"]: r["kind"] for r in rows} == {cb.run_id: "lpm", cb.graph_run_id: "lpm", cb.prior_run: "prior"}
    assert all(r["status"] == "complete" for r in rows)
    assert rows[0]["datasets"] == ["demo"] and rows[0]["embeddings"] > 0 and rows[0]["predicted_experiments"] > 0
    graph_run = next(r for r in rows if r["run"] == cb.graph_run_id)
    assert graph_run["predicted_experiments"] == 1  # the prior-based prediction


def _model_run(rows, cb):
    (run,) = rows
    assert run["run"] == cb.run_id and run["trained_on"] == ["demo"]
    assert json.loads(run["metrics"])["val_rmse"] > 0
    n_vocab = cb.graph.read("MATCH (n:Perturbation|Readout|Context) WHERE n.embedding_run = $r RETURN count(n) AS n",
                            {"r": cb.run_id})[0]["n"]
    assert run["embeddings"] == run["current_embeddings"] == n_vocab > 0
    assert run["predicted_experiments"] > 0 and run["predicted_changes"] >= run["predicted_experiments"]
    assert run["inferred_interactions"] == 0 and run["embedding_dim"] == 32


def _moa_compounds(rows, cb):
    compounds = {r["compound"]: r for r in rows}
    assert {"atorvastatin", "simvastatin", "lovastatin"} <= set(compounds)
    assert all(r["moa"] == "HMGCR inhibitor" for r in rows)
    assert "HMGCR" in compounds["atorvastatin"]["targets"]
    assert rows[0]["compound"] == "atorvastatin" and "atorvastatin-10uM" in rows[0]["perturbations"]


def _compound(rows, cb):
    (c,) = rows
    assert c["compound"] == "atorvastatin" and c["moa"] == ["HMGCR inhibitor"] and "HMGCR" in c["targets"]
    assert "atorvastatin-10uM" in c["perturbations"] and c["sources"] == ["drughub"]
    # A simulated compound's targets were also knocked down: the genetic perturbations to compare with.
    (sim,) = run_query(cb.graph, "compound", {"compound": "simcompound-01"})
    assert sim["perturbations"] == ["simcompound-01-10uM"]
    assert sim["target_perturbations"] and set(sim["target_perturbations"]) == {f"CRISPRi_{t}" for t in sim["targets"]}


def _prior_prediction(rows, cb):
    assert [r["rank"] for r in rows] == list(range(1, 11))
    assert {(r["run"], r["source"], r["prior_run"], r["gene"]) for r in rows} == {
        (cb.graph_run_id, "prior", cb.prior_run, "SIMG002")}
    assert rows[0]["gene_prior_current"] and rows[0]["gene_relations"] > 0
    assert json.loads(rows[0]["prior_config"])["dim"] == 64
    assert all(r["std"] > 0 for r in rows)  # two seeds: a spread


def _next_plate(rows, cb):
    plan = cb.plan
    assert plan["run"] == cb.graph_run_id and plan["strategy"] == "coverage"
    assert [(r["rank"], r["perturbation"], r["context"]) for r in rows] == [
        (s["rank"], s["perturbation"], s["context"]) for s in plan["suggestions"]]
    assert {r["run"] for r in rows} == {cb.graph_run_id} and len(rows) == 4
    assert {r["perturbation"] for r in rows} <= {"CRISPRi_SIMG001", "CRISPRi_SIMG004", NEVER_PERTURBED}
    assert all(r["uncertainty"] > 0 and r["uncertain_readouts"] for r in rows)
    # The gene never perturbed is a candidate in every CRISPRi context, from its priors.
    assert plan["n_candidates"] >= 4 and not plan["skipped"]


CHECKS = {"datasets": _datasets, "dataset-contents": _dataset_contents,
          "perturbation-experiments": _perturbation_experiments, "experiment-profile": _experiment_profile,
          "readout-values": _readout_values, "top-effects": _top_effects, "gene-changes": _gene_changes,
          "prediction": _prediction, "top-predictions": _top_predictions,
          "similar-perturbations": _similar_perturbations, "gene-partners": _gene_partners,
          "model-runs": _model_runs, "model-run": _model_run, "moa-compounds": _moa_compounds,
          "compound": _compound, "prior-prediction": _prior_prediction,
          "learned-partners": _learned_partners, "compound-mechanisms": _compound_mechanisms,
          "next-plate": _next_plate}


def test_gene_partners_puts_inferred_edges_beside_the_reference(cookbook):
    """INFERRED_INTERACTION edges as lpm_kg.graph.networks writes them (once per pair, smaller
    symbol first, {run, method, score, rank}) show up beside the reference evidence."""
    graph = cookbook.graph
    graph.query("UNWIND $edges AS e MATCH (a:Gene {symbol: e.a}), (b:Gene {symbol: e.b}) "
                "CREATE (a)-[:INFERRED_INTERACTION {run: $run, method: 'cosine', score: e.s, rank: e.k}]->(b)",
                {"run": cookbook.run_id, "edges": [{"a": "HMGCR", "b": "STAT1", "s": 0.9, "k": 1},
                                                   {"a": "STAT1", "b": "STAT2", "s": 0.8, "k": 2}]})
    try:
        rows = run_query(graph, "gene-partners", {"gene": "STAT1", "k": 20})
        assert [r["partner"] for r in rows[:2]] == ["HMGCR", "STAT2"]
        hmgcr, stat2 = rows[0], rows[1]
        assert not hmgcr["in_reference"] and hmgcr["reference"] == [] and hmgcr["inferred_rank"] == 1
        assert hmgcr["inferred"] == [f"cosine score 0.9 rank 1 ({cookbook.run_id})"]
        assert stat2["in_reference"] and stat2["inferred_score"] == 0.8 and len(stat2["reference"]) >= 3
        assert all(r["inferred"] == [] for r in rows[2:])
        (run,) = run_query(graph, "model-run", {"run": cookbook.run_id})
        assert run["inferred_interactions"] == 2
    finally:
        graph.query("MATCH ()-[i:INFERRED_INTERACTION {run: $run}]->() DELETE i", {"run": cookbook.run_id})


# --------------------------------------------------------------------------- parameters and errors


def test_string_parameters_are_converted_to_the_declared_types(cookbook):
    rows = run_query(cookbook.graph, "readout-values", {"perturbation": "vemurafenib-10uM",
                                                        "readouts": "Transcriptome_DUSP6, Transcriptome_FOS"})
    assert {r["readout"] for r in rows} == {"Transcriptome_DUSP6", "Transcriptome_FOS"}
    as_json = run_query(cookbook.graph, "readout-values", {"perturbation": "vemurafenib-10uM",
                                                           "readouts": '["Transcriptome_DUSP6", "Transcriptome_FOS"]'})
    assert as_json == rows
    assert len(run_query(cookbook.graph, "gene-changes", {"gene": "DUSP6", "k": "3"})) == 3

    q = parse_query('// name: typed\n// description: all the types.\n// params:\n'
                    '//   x (float) — a number, e.g. 0.5\n//   ns (list[int]) — numbers, e.g. [1, 2]\n'
                    '//   xs (list[float]) — numbers, e.g. [0.5]\n//   n (int) — a count, e.g. 3\n'
                    'RETURN $x AS x, $ns AS ns, $xs AS xs, $n AS n')
    assert q.example_params() == {"x": 0.5, "ns": [1, 2], "xs": [0.5], "n": 3}
    assert q.bind({"x": "2", "ns": "4,5", "xs": "[1, 2.5]", "n": "7"}) == {"x": 2.0, "ns": [4, 5], "xs": [1.0, 2.5],
                                                                           "n": 7}
    assert q.bind({"x": 2, "ns": [4], "xs": (1,), "n": 7}) == {"x": 2.0, "ns": [4], "xs": [1.0], "n": 7}
    for bad in ({"x": "nan"}, {"x": "two"}, {"ns": "1,b"}, {"n": "2.5"}, {"n": True}, {"xs": '{"a": 1}'}):
        with pytest.raises(QueryError, match=f"parameter '{next(iter(bad))}' must be"):
            q.bind({**q.example_params(), **bad})


def test_unknown_query_and_missing_or_extra_parameters_are_clear_errors(cookbook):
    graph = cookbook.graph
    with pytest.raises(QueryError, match=r"there is no query 'similar' \(did you mean 'similar-perturbations'\?\)"):
        run_query(graph, "similar", {})
    with pytest.raises(QueryError, match=r"there is no query 'nope'; the queries are compound-mechanisms, compound, "):
        run_query(graph, "nope")
    with pytest.raises(QueryError, match=r"query 'similar-perturbations' needs the parameter\(s\) k=<int> "
                                         r"\(e\.g\. k=5\)"):
        run_query(graph, "similar-perturbations", {"symbol": "CRISPRi_SIMG001"})
    with pytest.raises(QueryError, match=r"query 'datasets' has no parameter 'k'; it takes: no parameters"):
        run_query(graph, "datasets", {"k": 3})
    with pytest.raises(QueryError, match=r"has no parameter 'kk'; it takes: symbol, k"):
        run_query(graph, "similar-perturbations", {"symbol": "CRISPRi_SIMG001", "k": 5, "kk": 1})
    with pytest.raises(QueryError, match=r"parameter 'k' must be an integer, not 'five'"):
        run_query(graph, "similar-perturbations", {"symbol": "CRISPRi_SIMG001", "k": "five"})
    # A symbol the graph lacks is no error: no rows.
    assert run_query(graph, "similar-perturbations", {"symbol": "CRISPRi_NOPE", "k": 5}) == []
    # A value the server refuses (a negative LIMIT) is the user's to fix, named, not a crash.
    with pytest.raises(QueryError, match=r"query gene-partners: the server refused the parameter values \(gene='STAT1', "
                                         r"k=-1\)"):
        run_query(graph, "gene-partners", {"gene": "STAT1", "k": -1})


@pytest.mark.parametrize("text, message", [
    ("MATCH (n) RETURN n", "needs a '// name:' line"),
    ("// name: x\n// description: d.\n// params: none\n", "no Cypher statement"),
    ("// name: Bad Name\n// description: d.\n// params: none\nRETURN 1", "must be one lower-case word"),
    ("// name: x\n// description: d.\n// params:\n//   k (integer) — e.g. 1\nRETURN $k", "has type 'integer'"),
    ("// name: x\n// description: d.\n// params:\n//   k (int) — a count\nRETURN $k", "needs an example value"),
    ("// name: x\n// description: d.\n// params:\n//   k (int) — e.g. 1\nRETURN 1", "never uses $k"),
    ("// name: x\n// description: d.\n// params:\n//   k (int) — e.g. one\nRETURN $k", "must be an integer"),
])
def test_a_bad_header_is_reported(text, message):
    with pytest.raises(QueryError, match=re.escape(message)):
        parse_query(text, "queries/x.cypher")


# --------------------------------------------------------------------------- the command line


def test_query_command_prints_a_table_or_json(cookbook):
    runner = CliRunner()
    env = server_env(cookbook.server)
    out = runner.invoke(query_cmd, ["similar-perturbations", "-p", "symbol=CRISPRi_SIMG001", "--param", "k=3",
                                    "--json"], env=env)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert rows == run_query(cookbook.graph, "similar-perturbations", {"symbol": "CRISPRi_SIMG001", "k": 3})
    table = runner.invoke(query_cmd, ["similar-perturbations", "-p", "symbol=CRISPRi_SIMG001", "-p", "k=3"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["perturbation", "kind", "target", "score", "run"]
    assert lines[2].split()[0] == rows[0]["perturbation"] and lines[-1] == "(3 rows)"
    assert f"{rows[0]['score']:.4g}" in lines[2]

    profile = runner.invoke(query_cmd, ["experiment-profile", "-p", "experiment=L1000:vemurafenib-10uM@A375@24h",
                                        "--json"], env=env)
    assert profile.exit_code == 0 and len(json.loads(profile.output)) == 978

    for args, message in ((["nope"], "there is no query 'nope'"),
                          (["top-effects", "-p", "k=5"], "needs the parameter(s) perturbation=<string>"),
                          (["top-effects", "-p", "k"], "'k' is not key=value"),
                          (["top-effects", "-p", "k=1", "-p", "k=2"], "parameter 'k' is given twice"),
                          (["datasets", "-p", "x=1"], "has no parameter 'x'")):
        bad = runner.invoke(query_cmd, args, env=env)
        assert bad.exit_code == 2 and message in bad.output, (args, bad.output)


def test_query_command_prints_browser_input():
    out = CliRunner().invoke(query_cmd, ["readout-values", "--cypher", "-p", "perturbation=vemurafenib-10uM",
                                         "-p", "readouts=Transcriptome_DUSP6,Transcriptome_FOS"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[:3] == [':param perturbation => "vemurafenib-10uM"',
                         ':param readouts => ["Transcriptome_DUSP6", "Transcriptome_FOS"]',
                         "// name: readout-values"]
    examples = CliRunner().invoke(query_cmd, ["top-effects", "--cypher"])
    assert examples.output.splitlines()[:2] == [':param perturbation => "vemurafenib-10uM"', ":param k => 5"]


def test_queries_command_lists_every_query():
    out = CliRunner().invoke(queries_cmd, [])
    assert out.exit_code == 0
    for name in COOKBOOK:
        assert re.search(rf"^{re.escape(name)}  \[", out.output, flags=re.MULTILINE), name
    assert "similar-perturbations  [symbol (string), k (int)]" in out.output
    listed = json.loads(CliRunner().invoke(queries_cmd, ["--json"]).output)
    assert {q["name"] for q in listed} == COOKBOOK
    top = next(q for q in listed if q["name"] == "top-effects")
    assert top["params"][1] == {"name": "k", "type": "int", "example": 5,
                                "description": "effects per experiment, at most the load's --top (default 25), "
                                               "e.g. 5"}


def test_format_table():
    text = format_table([{"a": "x", "n": 1.23456, "l": ["p", "q"], "none": None}, {"a": "long" * 20, "n": 10,
                                                                                  "l": [], "none": None}])
    lines = text.splitlines()
    assert lines[0].split() == ["a", "n", "l", "none"]
    assert "1.235" in lines[2] and "p, q" in lines[2] and "…" in lines[3] and lines[-1] == "(2 rows)"
    assert format_table([]) == "(no rows)"
