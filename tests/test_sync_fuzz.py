"""`sync` and the commands after it, fuzzed on a trained graph: seeded one-field mutations of a
good sync config (paths, formats, names, presets, every kind of bad number in the overrides), and
the other commands with the run's real ids and symbols beside mutated ones. Each call ends in exit
0 or a clean refusal (exit 2) with no traceback, and a refusal leaves the graph as it was."""

from __future__ import annotations

import random

from click.testing import CliRunner

from conftest import fuzz_call, server_env, shared
from lpm_kg.cli import main

N_SYNC, N_COMMANDS = 60, 200

# One field of the good config at a time: (where, TOML value). Valid ones are mixed in, so a
# mutation that should load or train does, and its later repeats find nothing to do.
MUTATIONS = [
    ("source.path", '"{missing}"'), ("source.path", '"{folder}"'), ("source.path", '"{binary}"'),
    ("source.format", '"nope"'), ("source.format", '"long"'), ("source.format", '"gct"'), ("source.format", '""'),
    ("source.dataset", '""'), ("source.dataset", '"drug\\u0000nul"'), ("source.dataset", f'"{"x" * 10_000}"'),
    ("source.dataset", '"\'; MATCH (n) DETACH DELETE n //"'), ("source.dataset", '"copy"'),
    ("source.unmapped", '"nosuch"'), ("source.top_k", "-1"), ("source.top_k", "0"), ("source.top_k", "1e309"),
    ("source.options", '{ cell_line = "" }'), ("source.options", "{ where = \"nosuch == 1\" }"),
    ("model.preset", '"nosuch"'), ("model.preset", '""'), ("model.datasets", '["nosuch"]'), ("model.datasets", "[]"),
    ("override", "learning_rate = inf"), ("override", "learning_rate = nan"), ("override", "learning_rate = -1"),
    ("override", 'learning_rate = "abc"'), ("override", "weight_decay = inf"), ("override", "embedding_init_std = 1e30"),
    ("override", "hidden = [-1]"), ("override", "hidden = []"), ("override", "seeds = [1, 1]"), ("override", "seeds = []"),
    ("override", 'device = "bogus"'), ("override", 'device = "cuda:3"'), ("override", "max_epochs = 0"),
    ("override", "max_epochs = -1"), ("override", "batch_size = 0"), ("override", "embedding_dim = -1"),
    ("override", "dropout = 1.5"), ("override", "patience = -1"), ("override", "nosuch = 1"),
    ("override", "max_epochs = 1"),
    ("predict.max_experiments", "-1"), ("predict.max_experiments", "0"), ("predict.max_experiments", "99999999999999999999"),
    ("predict.top_k", "-5"), ("extra", "[nosuch]\nx = 1"), ("extra", "this is not toml ="),
]
NUMBERS = ["-1", "0", "1", "3", "9223372036854775807", "abc", "", "1e309", "nan"]
NAMES = ["nosuch", "", "x" * 10_000, "drug\x00nul", "'; MATCH (n) DETACH DELETE n //"]


def _config(tmp_path, where: str = "", value: str = "") -> str:
    paths = {"missing": tmp_path / "nosuch.csv", "folder": tmp_path, "binary": shared("cmapR-l1000/ds_matrix.csv.gz").parent}
    value = value.format(**{k: str(v) for k, v in paths.items()}) if "{" in value and "=" not in value else value
    source = {"path": f'"{shared("cmapR-l1000/ds_matrix.csv.gz")}"', "format": '"gct-csv"', "dataset": '"L1000"'}
    overrides = ["max_epochs = 2", "seeds = [13]", "patience = 1"]
    model = {"preset": '"small"', "datasets": '["L1000"]'}
    predict = {"max_experiments": "20"}
    extra = ""
    if where.startswith("source."):
        source[where.split(".")[1]] = value
    elif where.startswith("model."):
        model[where.split(".")[1]] = value
    elif where.startswith("predict."):
        predict[where.split(".")[1]] = value
    elif where == "override":
        key = value.split("=")[0].strip()
        overrides = [o for o in overrides if not o.startswith(key + " ")] + [value]
    elif where == "extra":
        extra = value
    lines = ["[[sources]]", *(f"{k} = {v}" for k, v in source.items()), "", "[model]",
             *(f"{k} = {v}" for k, v in model.items()), f"overrides = {{ {', '.join(overrides)} }}", "", "[predict]",
             *(f"{k} = {v}" for k, v in predict.items()), "", extra]
    return "\n".join(lines) + "\n"


def test_sync_and_commands_on_a_trained_graph(graph, neo4j_server, tmp_path, monkeypatch):
    for key, value in server_env(neo4j_server, tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    good = tmp_path / "good.toml"
    good.write_text(_config(tmp_path))
    first = runner.invoke(main, ["sync", "--config", str(good)], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    run = graph.read("MATCH (m:ModelRun {kind: 'lpm', status: 'complete'}) RETURN m.run_id AS r")[0]["r"]
    contexts = [r["s"] for r in graph.read("MATCH (c:Context) RETURN c.symbol AS s ORDER BY s")]
    perts = [r["s"] for r in graph.read("MATCH (p:Perturbation) RETURN p.symbol AS s ORDER BY s LIMIT 20")]
    genes = [r["s"] for r in graph.read("MATCH (p:Perturbation)-[:TARGETS]->(g:Gene) RETURN DISTINCT g.symbol AS s "
                                        "ORDER BY s LIMIT 10")]

    rng = random.Random(20261205)
    failures, outcomes = [], {}
    for i in range(N_SYNC):
        where, value = rng.choice(MUTATIONS)
        path = tmp_path / f"sync{i}.toml"
        path.write_text(_config(tmp_path, where, value))
        fuzz_call(runner, ["sync", "--config", str(path)], graph, failures, outcomes)

    runs = [run, run, "lpm-000000000000", "../../etc/passwd", ""]
    plate = tmp_path / "plate.txt"  # what a lab can run: some of the graph's perturbations, and nonsense
    plate.write_text("\n".join(perts[:5] + [n for n in NAMES if n and "\x00" not in n]) + "\n")
    paths = [str(tmp_path / "missing" / "out.png"), str(tmp_path), str(tmp_path / "ok.png")]
    templates = [
        lambda: ["predict", "--context", rng.choice(contexts + NAMES), "--perturbation", rng.choice(perts + NAMES),
                 "--run", rng.choice(runs), "--no-write"],
        lambda: ["predict", "--context", rng.choice(contexts), "--perturbation", rng.choice(perts),
                 "--out", rng.choice(paths + [str(tmp_path / "p.csv")])],
        lambda: ["similar", rng.choice(perts + NAMES), "--k", rng.choice(NUMBERS), "--run", rng.choice(runs)],
        lambda: ["network", "--run", rng.choice(runs), "--top", rng.choice(NUMBERS), "--no-write"],
        lambda: ["network", "--per-gene", rng.choice(NUMBERS), "--plot", rng.choice(paths)],
        lambda: ["moa", "--run", rng.choice(runs), "--k", rng.choice(NUMBERS)],
        lambda: ["partners", rng.choice(genes + NAMES), "--top", rng.choice(NUMBERS), "--run", rng.choice(runs)],
        lambda: ["mechanisms", "--run", rng.choice(runs), "--null", rng.choice(["0", "5", "-1", "abc"]), "--no-write"],
        lambda: ["mechanisms", rng.choice(perts + NAMES), "--top", rng.choice(NUMBERS), "--run", rng.choice(runs)],
        lambda: ["suggest", "--run", rng.choice(runs), "--batch", rng.choice(NUMBERS), "--no-write",
                 "--context", rng.choice(contexts + NAMES), "--kind", rng.choice(["genetic", "chemical", "x"])],
        lambda: ["suggest", "--available", rng.choice(paths + [str(plate)]), "--budget", rng.choice(NUMBERS),
                 "--strategy", rng.choice(["random", "uncertainty", "related", "diverse", "coverage"]),
                 "--plot", rng.choice(paths), "--out", rng.choice(paths)],
        # (a valid run would train again: only ids that name no run, or not one sync made)
        lambda: ["replay", rng.choice(runs[2:] + ["eval-0"]), "--tolerance", rng.choice(NUMBERS)],
        lambda: ["plot", "embeddings", rng.choice(paths)],
        lambda: ["export-pyg", rng.choice(paths[:2] + [str(tmp_path / "g.pt")]), "--embeddings-run", rng.choice(runs)],
        lambda: ["query", "top-effects", "-p", f"k={rng.choice(NUMBERS)}"],
        lambda: ["analytics", "--top", rng.choice(NUMBERS), "--no-write"],
        lambda: ["prune", "--keep", rng.choice(["-1", "abc", "1", "99"])],
        lambda: ["delete", rng.choice(NAMES), "--yes"],
        lambda: ["runs"], lambda: ["status", "--json"],
        # (cheap models and one short epoch: a valid eval runs whole, and every model at full size would take long)
        lambda: ["eval", rng.choice(["--model", "--models"]), rng.choice(["nosuch", "linear,nosuch", "linear", "lpm"]),
                 "--target", rng.choice(contexts[:1] + NAMES), "--split", rng.choice(["context", "perturbation", "readout"]),
                 "--seeds", rng.choice(["0", "0,0", "abc", "-1"]), "--preset", "small", "--max-epochs", "1"],
    ]
    for _ in range(N_COMMANDS):
        fuzz_call(runner, rng.choice(templates)(), graph, failures, outcomes)
    n = N_SYNC + N_COMMANDS
    print(f"{n} calls on a trained graph, exit codes per command: {outcomes}")
    # a trained run survived everything above (prune --keep 1 may keep a newer one a valid mutation trained)
    assert graph.read("MATCH (m:ModelRun {kind: 'lpm', status: 'complete'}) RETURN count(m) AS n")[0]["n"] >= 1
    assert not failures, f"{len(failures)} of {n} calls failed (outcomes {outcomes}):\n" + "\n".join(failures[:20])
