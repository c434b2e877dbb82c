"""The command line, run as a user would (a subprocess against the test server)."""

import json
import os
import subprocess
import sys

from conftest import shared


def _run(server, *args, check=True):
    user, password = server.auth
    env = {**os.environ, "NEO4J_URI": server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password}
    proc = subprocess.run([sys.executable, "-m", "lpm_kg.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_formats_lists_every_loader(neo4j_server):
    out = _run(neo4j_server, "formats").stdout
    for name in ("long", "gct", "gctx", "gct-csv", "h5ad", "ranked-signatures", "hgnc", "repurposing-hub",
                 "lincs-compounds", "string", "corum", "dorothea", "trrust", "gmt"):
        assert f"\n{name} " in "\n" + out, name


def test_load_then_status_json(graph, neo4j_server):
    out = _run(neo4j_server, "load", str(shared("cmapR-l1000/ds_matrix.csv.gz")), "--format", "gct-csv",
               "--dataset", "L1000")
    assert "L1000: loaded" in out.stdout and "n_measurements=215160" in out.stdout
    again = _run(neo4j_server, "load", str(shared("cmapR-l1000/ds_matrix.csv.gz")), "--format", "gct-csv",
                 "--dataset", "L1000")
    assert "nothing to do" in again.stdout
    status = json.loads(_run(neo4j_server, "status", "--json").stdout)
    assert status["server"]["managed"] is False
    assert status["labels"]["Experiment"] == 220
    l1000 = next(d for d in status["datasets"] if d["name"] == "L1000")
    assert l1000["status"] == "complete" and l1000["n_measurements"] == 215160
    assert "LINCS L1000" in l1000["source"]  # provenance read from SOURCES.md beside the file


def test_bad_input_exits_with_a_one_line_error(graph, neo4j_server, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("perturbation,readout,context,value\nCRISPRi_STAT1,IRF1,K562,oops\n")
    proc = _run(neo4j_server, "load", str(bad), "--format", "long", "--dataset", "bad", check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: file ") and "row 1" in proc.stderr and "Traceback" not in proc.stderr
    unknown = _run(neo4j_server, "load", str(bad), "--format", "nope", "--dataset", "bad", check=False)
    assert unknown.returncode == 2 and "lpm-kg formats" in unknown.stderr


def test_a_tampered_run_id_in_the_graph_never_becomes_a_checkpoint_path(graph, neo4j_server, tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "runs").mkdir(parents=True)
    outside = tmp_path / "evil.pt"  # where data_dir/runs/../../evil.pt points
    outside.write_text("not a checkpoint")
    graph.query("CREATE (:ModelRun {run_id: '../../evil', kind: 'lpm', status: 'complete', created_at: datetime()})")
    env = {**os.environ, "LPM_KG_DATA_DIR": str(data_dir)}
    user, password = neo4j_server.auth
    env.update(NEO4J_URI=neo4j_server.uri, NEO4J_USER=user, NEO4J_PASSWORD=password)
    for args in (["predict", "--context", "K562", "--perturbation", "CRISPRi_STAT1"],
                 ["predict", "--run", "../../evil", "--context", "K562", "--perturbation", "CRISPRi_STAT1"],
                 ["network"]):
        proc = subprocess.run([sys.executable, "-m", "lpm_kg.cli", *args], env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "refusing to build a checkpoint path" in proc.stderr and "'../../evil' is not valid" in proc.stderr
        assert "Traceback" not in proc.stderr and "not a safe LPM checkpoint" not in proc.stderr


def test_load_prints_what_collided_and_formats_documents_the_option(graph, neo4j_server, tmp_path):
    path = tmp_path / "coll.csv"
    path.write_text("perturbation,readout,context,value\nCRISPRi_STAT1,6772,K562,2\nCRISPRi_STAT1,STAT1,K562,4\n"
                    "CRISPRi_IRF1,STAT1,K562,-1\n")
    out = _run(neo4j_server, "load", str(path), "--format", "long", "--dataset", "coll").stdout
    assert "collisions=1" in out and "collision_policy=mean" in out and "collision_kinds" not in out
    assert "collisions: 1 row(s) merged into another under collisions=mean" in out
    assert "1 x two source ids of one gene (ids_onto_one_gene)" in out
    assert "rows 1 and 2: perturbation 'CRISPRi_STAT1' / 'CRISPRi_STAT1', readout '6772' / 'STAT1', " \
           "context 'K562' -> CRISPRi_STAT1 / STAT1" in out
    refused = _run(neo4j_server, "load", str(path), "--format", "long", "--dataset", "coll2", "--option",
                   "collisions=error", check=False)
    assert refused.returncode == 2 and "rows 1 and 2" in refused.stderr and "collisions=mean" in refused.stderr
    formats = _run(neo4j_server, "formats").stdout
    assert formats.count("--option collisions=...  error, first or mean") >= 2
    assert "(default first)" in formats and "(default mean)" in formats


def test_network_refuses_a_count_below_one_before_touching_the_graph():
    from click.testing import CliRunner

    from lpm_kg.cli import main

    for option in ("--top", "--per-gene"):
        out = CliRunner().invoke(main, ["network", option, "-5"])
        assert out.exit_code == 2 and "-5 is not in the range x>=1" in out.output, out.output


def test_eval_refuses_bad_seeds_and_epochs_before_touching_the_graph():
    from click.testing import CliRunner

    from lpm_kg.cli import main

    for args, text in ((["--seeds", "abc"], "not a comma-separated list"), (["--seeds", "1,1"], "repeats a seed"),
                       (["--max-epochs", "0"], "0 is not in the range x>=1")):
        out = CliRunner().invoke(main, ["eval", *args])
        assert out.exit_code == 2 and text in out.output, out.output


def test_delete_asks_and_a_no_deletes_nothing(graph, neo4j_server, load_file):
    from conftest import fingerprint

    load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    before = fingerprint(graph)
    user, password = neo4j_server.auth
    env = {**os.environ, "NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password}
    for answer in ("n\n", ""):  # no, and end of input (Ctrl-D) at the question
        proc = subprocess.run([sys.executable, "-m", "lpm_kg.cli", "delete", "L1000"], env=env, input=answer,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "not confirmed: nothing was deleted" in proc.stderr, proc.stderr
        assert "Aborted" not in proc.stderr + proc.stdout
        assert fingerprint(graph) == before
    done = _run(neo4j_server, "delete", "L1000", "--yes")
    assert done.stdout.startswith("deleted L1000: 220 Experiment") and "Readout" in done.stdout
    assert graph.read("MATCH (n) WHERE NOT n:Gene AND NOT n:SchemaInfo AND NOT n:Dataset RETURN count(n) AS n"
                      )[0]["n"] == 0
