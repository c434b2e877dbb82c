"""Every command, as careful as `load`: seeded mutations of numbers, names, paths and run ids, on a
graph that holds only the gene map (nothing to predict from). Each call ends in exit 0 or a clean
refusal (exit 2) with no traceback, and a refusal leaves the graph as it was."""

from __future__ import annotations

import random

from click.testing import CliRunner

from conftest import fuzz_call, server_env

NUMBERS = ["-1", "0", "1", "3", "9223372036854775807", "99999999999999999999", "abc", "", "1e309", "nan", "-0"]
NAMES = ["nosuch", "", "x" * 10_000, "drug\x00nul", "'; MATCH (n) DETACH DELETE n //", "CRISPRi_STAT1", "lpm-0"]
RUNS = ["lpm-000000000000", "../../etc/passwd", "", "eval-0", "prior-0"]
N_CALLS = 300


def _paths(tmp_path):
    return [str(tmp_path / "missing" / "out.png"), str(tmp_path), "/proc/nope/x.pt", str(tmp_path / "ok.png")]


def _cases(tmp_path, rng: random.Random, n: int) -> list[list[str]]:
    paths = _paths(tmp_path)
    templates = [
        lambda: ["similar", rng.choice(NAMES), "--k", rng.choice(NUMBERS)],
        lambda: ["similar", rng.choice(NAMES), "--run", rng.choice(RUNS)],
        lambda: ["query", rng.choice(["top-effects", "gene-partners", "nosuch"]), "-p", f"k={rng.choice(NUMBERS)}",
                 "-p", f"gene={rng.choice(NAMES)}"],
        lambda: ["network", "--top", rng.choice(NUMBERS), "--no-write"],
        lambda: ["network", "--run", rng.choice(RUNS), "--per-gene", rng.choice(NUMBERS)],
        lambda: ["moa", "--k", rng.choice(NUMBERS), "--run", rng.choice(RUNS)],
        lambda: ["partners", rng.choice(NAMES + ["STAT1"]), "--top", rng.choice(NUMBERS), "--run", rng.choice(RUNS)],
        lambda: ["mechanisms", rng.choice(NAMES + [""]), "--null", rng.choice(NUMBERS), "--run", rng.choice(RUNS)],
        lambda: ["replay", rng.choice(RUNS), "--tolerance", rng.choice(NUMBERS)],
        lambda: ["suggest", "--batch", rng.choice(NUMBERS), "--run", rng.choice(RUNS), "--context", rng.choice(NAMES)],
        lambda: ["suggest", "--budget", rng.choice(NUMBERS), "--strategy", rng.choice(["coverage", "diverse", "nosuch", ""]),
                 "--plot", rng.choice(paths), "--available", rng.choice(paths)],
        lambda: ["predict", "--context", rng.choice(NAMES), "--perturbation", rng.choice(NAMES),
                 "--out", rng.choice(paths)],
        lambda: ["predict", "--context", "L1000_A375_CMP", "--perturbation", "x", "--run", rng.choice(RUNS)],
        lambda: ["plot", "embeddings", rng.choice(paths)],
        lambda: ["export-pyg", rng.choice(paths), "--embeddings-run", rng.choice(RUNS)],
        lambda: ["eval", "--seeds", rng.choice(NUMBERS), "--max-epochs", rng.choice(NUMBERS)],
        lambda: ["eval", "--split", "perturbation", rng.choice(["--dataset", "--datasets"]), rng.choice(NAMES)],
        lambda: ["analytics", "--top", rng.choice(NUMBERS), "--min-score", rng.choice(NUMBERS), "--no-write"],
        lambda: ["prune", "--keep", rng.choice(NUMBERS)],
        lambda: ["delete", rng.choice(NAMES), "--yes"],
        lambda: ["runs"], lambda: ["status", "--json"], lambda: ["models"], lambda: ["presets"],
    ]
    return [rng.choice(templates)() for _ in range(n)]


def test_commands_end_in_success_or_a_clean_refusal(graph, neo4j_server, tmp_path, monkeypatch):
    for key, value in server_env(neo4j_server, tmp_path / "home").items():
        monkeypatch.setenv(key, value)
    rng = random.Random(20261205)
    runner = CliRunner()
    failures, outcomes = [], {}
    for args in _cases(tmp_path, rng, N_CALLS):
        fuzz_call(runner, args, graph, failures, outcomes)
    print(f"{N_CALLS} calls, exit codes per command: {outcomes}")
    assert not failures, f"{len(failures)} of {N_CALLS} calls failed (outcomes {outcomes}):\n" + "\n".join(failures[:15])
