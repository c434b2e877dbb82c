"""A lock in the graph for work that must not run twice at once (``lpm-kg sync``).

The lock is a ``(:Lock {name})`` node under a unique constraint, so taking it is one atomic MERGE,
and it works for every client of a shared server, not only processes on one machine. It names its
holder (host, pid, start time). A holder killed with SIGKILL cannot release it: a later taker on
the same host sees that the pid is gone and takes the lock over (compare-and-set on the holder's
token, so two takers cannot both win); a holder on another host cannot be checked, so the refusal
says how to break the lock by hand.
"""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import contextmanager

from lpm_kg.errors import ConfigError
from lpm_kg.graph.connection import Graph


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def acquire(graph: Graph, name: str, *, force: bool = False) -> str:
    """Take the lock ``name``; its token. Refused (ConfigError) while a live holder has it."""
    me = {"token": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
    row = graph.query("MERGE (l:Lock {name: $name}) ON CREATE SET l += $me, l.started_at = datetime() "
                      "RETURN l.token AS token, l.host AS host, l.pid AS pid, toString(l.started_at) AS since",
                      {"name": name, "me": me})[0]
    if row["token"] == me["token"]:
        return me["token"]
    stale = row["host"] == me["host"] and not _alive(int(row["pid"]))
    if not (stale or force):
        raise ConfigError(f"another {name} holds this graph (pid {row['pid']} on {row['host']}, since {row['since']}); "
                          f"wait for it to finish. If it was killed on another machine, rerun with --break-lock")
    taken = graph.query("MATCH (l:Lock {name: $name, token: $old}) SET l += $me, l.started_at = datetime() "
                        "RETURN l.token AS token", {"name": name, "old": row["token"], "me": me})
    if not taken:  # another taker won the race for the stale lock
        return acquire(graph, name)
    return me["token"]


def release(graph: Graph, name: str, token: str) -> None:
    graph.query("MATCH (l:Lock {name: $name, token: $token}) DELETE l", {"name": name, "token": token})


@contextmanager
def graph_lock(graph: Graph, name: str, *, force: bool = False):
    """Hold the lock ``name`` for the block; released however the block ends (short of SIGKILL)."""
    token = acquire(graph, name, force=force)
    try:
        yield token
    finally:
        release(graph, name, token)
