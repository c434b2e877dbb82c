"""The managed Neo4j server, for real: Maven-resolved jars, a Java process, Bolt and HTTP.

One server for the module (started once, restarted once by the persistence test, which runs
last); each start costs several seconds on a small machine.
"""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import neo4j
import pytest
import yaml
from neo4j.exceptions import AuthError

from lpm_kg.server import ManagedNeo4j, MavenError, Neo4jServerError, ensure_jars, free_port
from lpm_kg.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_initial_passwords_never_start_with_a_dash():
    """neo4j-admin reads the password from an @file; picocli takes a leading '-' for an option
    ("Missing required parameter: '<password>'"), which 1 in 64 raw token_urlsafe draws had. With
    3,000 draws a regression slips through with probability (63/64)^3000, about 1e-21."""
    import re

    from lpm_kg.server.managed import new_password

    for _ in range(3000):
        pw = new_password()
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{23}", pw), pw


@pytest.fixture(scope="module")
def jars():
    return ensure_jars(Settings().cache_dir)


COMMANDS: list[list[str]] = []
"""Every command line the module's server start ran (real processes, only recorded)."""


@pytest.fixture(scope="module")
def server(jars, tmp_path_factory):
    srv = ManagedNeo4j(tmp_path_factory.mktemp("managed") / "neo4j", jars, bolt_port=free_port(),
                       http_port=free_port(), heap="512m", pagecache="128m")
    real_run, real_popen = subprocess.run, subprocess.Popen

    def run(cmd, *a, **k):
        COMMANDS.append([str(c) for c in cmd])
        return real_run(cmd, *a, **k)

    def popen(cmd, *a, **k):
        COMMANDS.append([str(c) for c in cmd])
        return real_popen(cmd, *a, **k)

    t0 = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subprocess, "run", run)
        mp.setattr(subprocess, "Popen", popen)
        srv.start()
    print(f"cold start (incl. set-initial-password): {time.monotonic() - t0:.1f} s")
    yield srv
    srv.stop()


def test_the_password_is_never_on_a_command_line(server):
    """`ps` shows every local user the arguments of a process: the password is read from its file."""
    assert any("set-initial-password" in cmd for cmd in COMMANDS), COMMANDS
    assert not [cmd for cmd in COMMANDS if any(server.password in arg for arg in cmd)]
    with neo4j.GraphDatabase.driver(server.uri, auth=server.auth) as driver:  # and it is the password set
        driver.verify_connectivity()


def test_the_home_is_private(server, jars, tmp_path):
    assert stat.S_IMODE(server.home.stat().st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    srv = ManagedNeo4j(loose, jars, bolt_port=free_port(), http_port=free_port())
    srv._make_home()
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


def test_password_file_is_private(server):
    mode = stat.S_IMODE(server.password_file.stat().st_mode)
    assert mode == 0o600
    assert len(server.password) >= 16 and server.auth == ("neo4j", server.password)


def test_write_and_read_with_file_password(server):
    pw = server.password_file.read_text().strip()
    with neo4j.GraphDatabase.driver(server.uri, auth=("neo4j", pw)) as driver:
        driver.execute_query("MERGE (:Probe {key: 'persist'})")
        records, _, _ = driver.execute_query("MATCH (p:Probe {key: 'persist'}) RETURN count(p) AS n")
    assert records[0]["n"] == 1


def test_wrong_password_rejected(server):
    with neo4j.GraphDatabase.driver(server.uri, auth=("neo4j", "not-the-password")) as driver:
        with pytest.raises(AuthError):
            driver.verify_connectivity()


def test_browser_served(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/browser/", timeout=30) as resp:
        body = resp.read().decode(errors="replace")
        assert resp.status == 200
        assert "text/html" in resp.headers.get("Content-Type", "")
    assert "<html" in body.lower()
    assert f"bolt://127.0.0.1:{server.bolt_port}" in server.status().browser_url


def test_start_twice_is_a_noop(server):
    pid = server.status().pid
    t0 = time.monotonic()
    server.start()
    assert server.status().pid == pid
    assert time.monotonic() - t0 < 10


def test_status_running_and_plugins(server, jars):
    st = server.status()
    assert st.running and st.pid and st.home == server.home
    assert st.bolt_uri == server.uri and st.http_url.endswith(str(server.http_port))
    # Every plugin that resolved must also have loaded; report what did for the record.
    print(f"plugins loaded: {st.plugins_loaded}; errors: {st.plugin_errors}")
    assert st.plugins_loaded == sorted(jars.plugin_dirs)
    assert st.plugin_errors == jars.plugin_errors


def test_plugins_work(server):
    st = server.status()
    with server.driver() as driver:
        if "apoc" in st.plugins_loaded:
            # These use the commons-lang3 / jsonpath classes the APOC jar bundles.
            records, _, _ = driver.execute_query(
                "RETURN apoc.version() AS v, apoc.text.capitalize('abc') AS c, "
                "apoc.convert.fromJsonList('{\"a\": [1, 2]}', '$.a') AS j")
            assert records[0]["v"].startswith("5.26") and records[0]["c"] == "Abc" and records[0]["j"] == [1, 2]
        if "gds" in st.plugins_loaded:
            driver.execute_query("MERGE (a:GdsProbe {i: 1})-[:R]->(b:GdsProbe {i: 2})")
            driver.execute_query("CALL gds.graph.project('probe', 'GdsProbe', 'R')")
            records, _, _ = driver.execute_query("CALL gds.pageRank.stream('probe') YIELD score RETURN count(*) AS n")
            emb, _, _ = driver.execute_query(
                "CALL gds.fastRP.stream('probe', {embeddingDimension: 8, randomSeed: 1}) YIELD embedding "
                "RETURN size(embedding) AS d")
            driver.execute_query("CALL gds.graph.drop('probe')")
            driver.execute_query("MATCH (n:GdsProbe) DETACH DELETE n")
            assert records[0]["n"] == 2 and emb[0]["d"] == 8


def test_port_in_use_is_a_clear_error(jars, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        other = ManagedNeo4j(tmp_path / "neo4j", jars, bolt_port=busy, http_port=free_port())
        with pytest.raises(Neo4jServerError, match=rf"{busy}.*in use"):
            other.start()


def test_stale_pid_file(jars, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    srv = ManagedNeo4j(tmp_path / "neo4j", jars, bolt_port=free_port(), http_port=free_port())
    srv.pid_file.parent.mkdir(parents=True)
    srv.pid_file.write_text(f"{dead.pid}\n")
    st = srv.status()
    assert not st.running and st.pid is None and st.plugins_loaded == []
    assert not srv.pid_file.exists()
    srv.stop()  # idempotent on a stopped server


def test_jars_cached_without_maven(jars, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn here: a cached cache must not need it
    again = ensure_jars(Settings().cache_dir)
    assert again == jars and (again.lib_dir / ".complete").exists()
    assert any(again.lib_dir.glob("neo4j-browser-*.jar"))
    for name, d in again.plugin_dirs.items():
        core = {p.name for p in again.lib_dir.glob("*.jar")}
        assert any(d.glob("*.jar")), f"{name} has no procedure jar"
        assert not core & {p.name for p in d.glob("**/*.jar")}, f"{name} duplicates core jars"


def test_missing_maven_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MavenError, match="apt-get install maven"):
        ensure_jars(tmp_path / "cache")


def test_docker_compose_is_valid():
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    svc = doc["services"]["neo4j"]
    assert "5.26" in svc["image"] and "community" in svc["image"]
    env = svc["environment"]
    assert env["NEO4J_AUTH"].startswith("neo4j/${NEO4J_PASSWORD")
    assert set(yaml.safe_load(env["NEO4J_PLUGINS"])) == {"apoc", "graph-data-science"}
    assert {v.split(":")[-1] for v in svc["volumes"]} == {"/data", "/logs", "/plugins"}
    assert any(p.endswith("7687:7687") for p in svc["ports"]) and "healthcheck" in svc


# Last on purpose: it restarts the module's server.
def test_data_survives_restart(server):
    server.stop()
    st = server.status()
    assert not st.running and st.pid is None and not server.pid_file.exists()
    server.stop()  # idempotent
    t0 = time.monotonic()
    server.start()
    print(f"warm start: {time.monotonic() - t0:.1f} s")
    with server.driver() as driver:
        records, _, _ = driver.execute_query("MATCH (p:Probe {key: 'persist'}) RETURN count(p) AS n")
    assert records[0]["n"] == 1
