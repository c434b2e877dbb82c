"""Model runs, one way each: which run a command means, and how a derived run is named.

A trained LPM's identity (its data fingerprint, run id and checkpoint path) is
:func:`lpm_kg.training.training_run_id` and :func:`lpm_kg.training.checkpoint_path`; the ModelRun
nodes themselves are read and written by :mod:`lpm_kg.graph.writeback`.
"""

from __future__ import annotations

import hashlib


def derived_run_id(prefix: str, *parts: str) -> str:
    """``<prefix>-<12 hex digits>``: a digest of ``parts``, so the same inputs always name the
    same run (a rerun finds its run, changed inputs make a new one)."""
    return f"{prefix}-{hashlib.sha256(''.join(parts).encode()).hexdigest()[:12]}"


def find_lpm_run(graph, run_id: str | None = None) -> dict | None:
    """The LPM run ``run_id`` (None if there is none or it is another kind), or without
    ``run_id`` the newest complete one (evaluation and prior runs are records, not models)."""
    from lpm_kg.graph import writeback

    if run_id:
        run = writeback.get_model_run(graph, run_id)
        return run if run is not None and run["kind"] == "lpm" else None
    return next((r for r in writeback.list_model_runs(graph) if r["kind"] == "lpm" and r["status"] == "complete"),
                None)
