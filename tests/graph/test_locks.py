"""The graph's sync lock: one holder at a time, taken over from a killed holder, released however a sync ends."""

import socket
import subprocess
import sys

import pytest

from conftest import shared
from lpm_kg.errors import ConfigError
from lpm_kg.graph.locks import acquire, graph_lock, release
from lpm_kg.sync import SyncConfig, sync


def _holder(graph):
    return graph.read("MATCH (l:Lock {name: 'sync'}) RETURN l.pid AS pid, l.host AS host, l.token AS token")


def test_a_second_taker_is_refused_until_the_first_releases(graph):
    token = acquire(graph, "sync")
    with pytest.raises(ConfigError, match=r"another sync holds this graph \(pid \d+ on .*wait for it"):
        acquire(graph, "sync")
    release(graph, "sync", token)
    assert _holder(graph) == []
    with graph_lock(graph, "sync") as again:
        assert _holder(graph)[0]["token"] == again
    assert _holder(graph) == []


def test_a_killed_holder_on_this_host_is_taken_over(graph):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid no longer runs: a sync killed with SIGKILL leaves exactly this behind
    graph.query("CREATE (:Lock {name: 'sync', token: 'old', host: $host, pid: $pid, started_at: datetime()})",
                {"host": socket.gethostname(), "pid": dead.pid})
    token = acquire(graph, "sync")
    assert _holder(graph)[0]["token"] == token != "old"


def test_a_holder_on_another_host_needs_break_lock(graph):
    graph.query("CREATE (:Lock {name: 'sync', token: 'old', host: 'elsewhere', pid: 1, started_at: datetime()})")
    with pytest.raises(ConfigError, match="pid 1 on elsewhere.*--break-lock"):
        acquire(graph, "sync")
    assert acquire(graph, "sync", force=True) == _holder(graph)[0]["token"]


def test_a_sync_while_another_runs_is_refused_and_loads_nothing(graph, tmp_path):
    path = tmp_path / "lpm-kg.toml"
    path.write_text(f'[[sources]]\npath = "{shared("cmapR-l1000/ds_matrix.csv.gz")}"\nformat = "gct-csv"\n'
                    'dataset = "L1000"\n\n[model]\npreset = "small"\n')
    token = acquire(graph, "sync")
    with pytest.raises(ConfigError, match="another sync holds this graph"):
        sync(graph, SyncConfig.from_toml(path), checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert graph.read("MATCH (e:Experiment) RETURN count(e) AS n")[0]["n"] == 0
    release(graph, "sync", token)


def test_a_failed_sync_releases_the_lock(graph, tmp_path, monkeypatch):
    import lpm_kg.sync

    def fail(*args, **kwargs):  # any failure inside the locked work (a load, training, a write)
        assert _holder(graph), "the work runs under the lock"
        raise RuntimeError("failed mid-sync")

    monkeypatch.setattr(lpm_kg.sync, "_sync", fail)
    path = tmp_path / "lpm-kg.toml"
    path.write_text(f'[[sources]]\npath = "{shared("cmapR-l1000/ds_matrix.csv.gz")}"\nformat = "gct-csv"\n'
                    'dataset = "L1000"\n\n[model]\npreset = "small"\n')
    with pytest.raises(RuntimeError, match="failed mid-sync"):
        sync(graph, SyncConfig.from_toml(path), checkpoint_dir=tmp_path / "runs", show_progress=False)
    assert _holder(graph) == []
