"""Bad input, failed loads, kills and lost connections, against the real server."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import fingerprint, shared
from lpm_kg.errors import InputError, ServerError
from lpm_kg.graph import Graph
from lpm_kg.graph.datasets import get_state
from lpm_kg.graph.pull import pull_tuples
from lpm_kg.loading import load
from proxy import CuttableProxy

REPLOGLE = "sigrecon-signatures/perturbseq_ranked_signatures_long.parquet"
REPLOGLE_OPTS = {"perturbation_type": "CRISPRi", "scoring": "top"}


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "perturbation,readout,context,value\nCRISPRi_STAT1,IRF1,K562,-1.5\nCRISPRi_STAT1,STAT1,K562,-3.0\n"

BAD_INPUTS = {
    "empty": ("", "empty", None, None),
    "header only": ("perturbation,readout,context,value\n", "no data rows", None, None),
    "malformed": ('perturbation,readout,context,value\n"CRISPRi_STAT1,IRF1,K562,-1.5\n', "malformed", None, None),
    "misnamed column": ("perturbation,readout,context,valeu\nCRISPRi_STAT1,IRF1,K562,-1.5\n",
                        "missing column 'value'", None, "value"),
    "non-numeric": ("perturbation,readout,context,value\nCRISPRi_STAT1,IRF1,K562,-1.5\nCRISPRi_STAT1,STAT1,K562,high\n",
                    "not a finite number", 2, "value"),
    "NaN": ("perturbation,readout,context,value\nCRISPRi_STAT1,IRF1,K562,NaN\n", "not a finite number", 1, "value"),
    "infinity": ("perturbation,readout,context,value\nCRISPRi_STAT1,IRF1,K562,-1.5\nCRISPRi_STAT1,STAT1,K562,inf\n",
                 "not a finite number", 2, "value"),
    "unknown gene": ("perturbation,readout,context,value\nCRISPRi_STAT1,NOTAGENE1,K562,-1.5\n", "unknown gene id",
                     1, "readout"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_a_clear_error_and_changes_nothing(graph, load_file, tmp_path, case):
    load_file(_write(tmp_path, "good.csv", GOOD), "long", "good")
    before = fingerprint(graph)
    text, problem, row, field = BAD_INPUTS[case]
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(InputError) as err:
        load_file(path, "long", "bad")
    msg = str(err.value)
    assert str(path) in msg and problem in msg and "Fix:" in msg
    if row is not None:
        assert f"row {row}" in msg
    if field is not None:
        assert f"field '{field}'" in msg
    assert fingerprint(graph) == before


def test_a_refused_collision_names_both_rows_and_changes_nothing(graph, load_file, tmp_path):
    # A long table averages repeated rows by default; collisions=error refuses them before any write.
    load_file(_write(tmp_path, "good.csv", GOOD), "long", "good")
    before = fingerprint(graph)
    path = _write(tmp_path, "dup.csv", GOOD + "CRISPRi_STAT1,IRF1,K562,-1.4\n")
    with pytest.raises(InputError) as err:
        load_file(path, "long", "bad", collisions="error")
    msg = str(err.value)
    assert str(path) in msg and "rows 1 and 3 land on one value (the same source row twice)" in msg
    assert "row 3" in msg and "field 'perturbation+readout+context'" in msg and "Fix:" in msg and "collisions=mean" in msg
    assert fingerprint(graph) == before


def test_ambiguous_gene_id_is_named(graph, load_file, tmp_path):
    from lpm_kg.loading import resolver_from_graph

    resolver = resolver_from_graph(graph)
    ambiguous = next(a for a, hits in resolver._prev.items() if len(hits) > 1 and a not in resolver._upper)
    path = _write(tmp_path, "amb.csv", f"perturbation,readout,context,value\nCRISPRi_STAT1,{ambiguous},K562,1.0\n")
    with pytest.raises(InputError, match=f"'{ambiguous}' is ambiguous: it names"):
        load_file(path, "long", "amb", unmapped="error")


def test_loading_twice_changes_nothing(graph, load_file):
    first = load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    before = fingerprint(graph)
    second = load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    assert not first.skipped and second.skipped
    assert fingerprint(graph) == before


def test_a_changed_file_replaces_its_dataset(graph, load_file, tmp_path):
    load_file(_write(tmp_path, "v.csv", GOOD), "long", "ds")
    load_file(_write(tmp_path, "v.csv", "perturbation,readout,context,value\nCRISPRi_IRF1,STAT1,K562,2.0\n"), "long", "ds")
    exps = graph.read("MATCH (e:Experiment {dataset: 'ds'}) RETURN e.perturbation AS p")
    assert [r["p"] for r in exps] == ["CRISPRi_IRF1"]


def _cli_env(server):
    user, password = server.auth
    return {**os.environ, "NEO4J_URI": server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
            "PYTHONUNBUFFERED": "1"}


def test_kill_mid_load_then_rerun_equals_one_clean_run(graph, neo4j_server, load_file):
    args = [sys.executable, "-m", "lpm_kg.cli", "load", str(shared(REPLOGLE)), "--format", "ranked-signatures",
            "--dataset", "replogle"] + [a for k, v in REPLOGLE_OPTS.items() for a in ("-o", f"{k}={v}")]
    proc = subprocess.Popen(args, env=_cli_env(neo4j_server), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while time.time() < deadline:
        n = graph.read("MATCH (e:Experiment {dataset: 'replogle'}) RETURN count(e) AS n")[0]["n"]
        if n >= 100:
            break
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert get_state(graph, "replogle").status == "loading"  # marked incomplete, not silently partial
    with pytest.raises(ValueError, match="not loaded completely"):
        pull_tuples(graph, ["replogle"])

    resumed = load_file(REPLOGLE, "ranked-signatures", "replogle", **REPLOGLE_OPTS)
    assert not resumed.skipped
    after_resume = fingerprint(graph)
    from conftest import clean

    clean(graph)
    load_file(REPLOGLE, "ranked-signatures", "replogle", **REPLOGLE_OPTS)
    assert fingerprint(graph) == after_resume


def test_lost_connection_is_retried(graph, neo4j_server, load_file):
    proxy = CuttableProxy(int(neo4j_server.uri.rsplit(":", 1)[1]))
    flaky = Graph(f"bolt://127.0.0.1:{proxy.port}", neo4j_server.auth, retry_seconds=30)
    try:
        timer = threading.Timer(1.5, proxy.cut, kwargs={"refuse_new": False})
        timer.start()
        load(flaky, shared(REPLOGLE), "ranked-signatures", "replogle", options=REPLOGLE_OPTS, show_progress=False)
        timer.join()
    finally:
        flaky.close()
        proxy.close()
    assert get_state(graph, "replogle").status == "complete"
    retried = fingerprint(graph)
    from conftest import clean

    clean(graph)
    load_file(REPLOGLE, "ranked-signatures", "replogle", **REPLOGLE_OPTS)
    assert fingerprint(graph) == retried


def test_lost_connection_for_good_is_reported_and_the_next_run_completes(graph, neo4j_server, load_file):
    proxy = CuttableProxy(int(neo4j_server.uri.rsplit(":", 1)[1]))
    flaky = Graph(f"bolt://127.0.0.1:{proxy.port}", neo4j_server.auth, retry_seconds=3)

    def cut_when_started():
        while not graph.read("MATCH (e:Experiment {dataset: 'replogle'}) RETURN count(e) > 0 AS started")[0]["started"]:
            time.sleep(0.1)
        proxy.cut(refuse_new=True)

    cutter = threading.Thread(target=cut_when_started, daemon=True)
    cutter.start()
    try:
        with pytest.raises(ServerError, match="lost the connection|cannot reach"):
            load(flaky, shared(REPLOGLE), "ranked-signatures", "replogle", options=REPLOGLE_OPTS, show_progress=False)
    finally:
        flaky.close()
        proxy.close()
    assert get_state(graph, "replogle").status == "loading"
    report = load_file(REPLOGLE, "ranked-signatures", "replogle", **REPLOGLE_OPTS)
    assert not report.skipped and get_state(graph, "replogle").status == "complete"
