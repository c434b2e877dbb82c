"""Model runs in the graph. Every value a model writes names the run that made it.

Like AnnData, where each embedding and prediction layer is tagged with the run that made it, nothing
a model infers is mixed with measurements or with another run's output. The run's embeddings are
:mod:`lpm_kg.graph.embeddings`, its predictions :mod:`lpm_kg.graph.predictions`, its inferred
gene-gene edges :mod:`lpm_kg.graph.networks`; :mod:`lpm_kg.graph.prune` deletes a run with all of them.

Graph model
-----------
``(:ModelRun {run_id})``: one trained model. ``kind`` (``lpm``), ``status`` (``writing`` while
its outputs are being written, ``complete`` once :func:`complete_model_run` runs, ``deleting``
during a prune), ``config`` (JSON), ``data_fingerprint``, ``datasets`` (names), ``metrics``
(JSON or null), ``versions`` (JSON: lpm-kg, torch, neo4j driver), ``created_at``, ``completed_at``,
and once embeddings are written ``embedding_seed`` and ``embedding_dim``.
``(ModelRun)-[:TRAINED_ON]->(Dataset)`` for each of its datasets that is in the graph.

Writing is idempotent per run: ModelRun, Embedding and PredictedExperiment nodes are MERGEd on
their keys and their relationships replaced, so writing the same run again leaves the same graph,
and a killed write is finished by running it again. One writer at a time: two runs made current
at once can leave a label with some nodes from each.
"""

from __future__ import annotations

import json
import re
from importlib import metadata

import numpy as np

import lpm_kg
from lpm_kg.errors import LpmKgError
from lpm_kg.graph.connection import Graph

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")

# A trained LPM's identity (data fingerprint, run id, checkpoint path) is lpm_kg.training's
# RunSpec (its run id) and checkpoint_path; the run ids of records derived from it are derived_run_id's.


class WritebackError(LpmKgError, ValueError):
    """A model output that cannot be written as given. Raised before anything is written."""


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is a valid run id (:data:`RUN_ID`: no '/', never '.' or '..'), so it is
    safe in a Cypher property and as a file name; a :class:`WritebackError` otherwise."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise WritebackError(f"run id {run_id!r} is not valid: use letters, digits, '.', '_' and '-' "
                             "(starting with a letter or digit, at most 200 characters)")
    return run_id


def json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "model_dump"):
        return value.model_dump()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _to_json(value) -> str | None:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return json.dumps(value, sort_keys=True, default=json_default)


def runtime_versions() -> dict[str, str]:
    """Versions of the software that trains and writes: lpm-kg, torch, the neo4j driver."""
    out = {"lpm-kg": lpm_kg.__version__}
    for name, dist in (("torch", "torch"), ("neo4j-driver", "neo4j")):
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def create_model_run(graph: Graph, *, run_id: str, config: dict, data_fingerprint: str, datasets: list[str],
                     metrics: dict | None = None, versions: dict | None = None, kind: str = "lpm",
                     resolved: dict | None = None, spec: dict | None = None) -> str:
    """Record a trained model as ``(:ModelRun {run_id})`` with status ``writing``; returns ``run_id``.

    Idempotent: the same run again changes nothing (``metrics``, when given, are updated; the
    creation time and versions are those of the first call). A ``run_id`` that already names a run
    with another kind, config, data fingerprint or datasets raises :class:`WritebackError`.
    ``versions`` defaults to :func:`runtime_versions`. Each dataset in the graph gets a
    ``TRAINED_ON`` relationship; all names are kept in ``datasets``. ``resolved``: the model
    settings ``config`` resolved to (its preset with the overrides applied), stored as
    ``resolved_config`` on creation, so the run can be replayed after a preset or a default changed.
    ``spec``: the run's resolved spec (lpm_kg.training.RunSpec, whose digest is the run id), stored
    as ``spec`` with its ``spec_version`` on creation.
    """
    check_run_id(run_id)
    props = {"kind": str(kind), "config": _to_json(config), "data_fingerprint": str(data_fingerprint),
             "datasets": sorted({str(d) for d in datasets})}
    metrics_json = _to_json(metrics)
    versions_json = _to_json(versions if versions is not None else runtime_versions())

    def work(tx):
        rec = tx.run("MERGE (r:ModelRun {run_id: $id}) "
                     "ON CREATE SET r += $props, r.versions = $versions, r.metrics = $metrics, r.status = 'writing', "
                     "    r.created_at = datetime(), r.resolved_config = $resolved, r.spec = $spec, "
                     "    r.spec_version = $spec_version "
                     "RETURN r.kind AS kind, r.config AS config, r.data_fingerprint AS data_fingerprint, "
                     "    r.datasets AS datasets",
                     id=run_id, props=props, versions=versions_json, metrics=metrics_json,
                     resolved=_to_json(resolved), spec=_to_json(spec),
                     spec_version=(spec or {}).get("spec_version")).single()
        stored = {k: rec[k] for k in props}
        if stored != props:
            diff = ", ".join(k for k in props if stored[k] != props[k])
            raise WritebackError(f"model run {run_id!r} already exists with another {diff}; "
                                 "choose a new run id for a different model")
        if metrics_json is not None:
            tx.run("MATCH (r:ModelRun {run_id: $id}) SET r.metrics = $metrics", id=run_id, metrics=metrics_json)
        tx.run("MATCH (r:ModelRun {run_id: $id}) UNWIND $datasets AS name MATCH (d:Dataset {name: name}) "
               "MERGE (r)-[:TRAINED_ON]->(d)", id=run_id, datasets=props["datasets"]).consume()

    graph.write_tx(work)
    return run_id


def require_run(graph: Graph, run_id: str) -> dict:
    run = get_model_run(graph, run_id)
    if run is None:
        raise WritebackError(f"there is no model run {run_id!r}; create it first with create_model_run")
    return run


def complete_model_run(graph: Graph, run_id: str, metrics: dict | None = None) -> None:
    """Mark a run's outputs fully written (status ``complete``), optionally updating its metrics."""
    require_run(graph, run_id)
    graph.query("MATCH (r:ModelRun {run_id: $id}) "
                "SET r.status = 'complete', r.completed_at = coalesce(r.completed_at, datetime()), "
                "    r.metrics = coalesce($metrics, r.metrics)",
                {"id": run_id, "metrics": _to_json(metrics)})


def _deep_merge(old: dict, new: dict) -> dict:
    out = dict(old)
    for k, v in new.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def merge_run_metrics(graph: Graph, run_id: str, updates: dict, *, deep: bool = False) -> dict:
    """Merge ``updates`` into a run's ``metrics`` JSON, other keys kept: top-level keys replaced,
    or with ``deep`` nested dicts merged. One write transaction that locks the run first, so
    concurrent updates of other keys (``moa``, ``network``) are not lost. Returns the merged metrics."""
    check_run_id(run_id)

    def work(tx):
        rec = tx.run("MATCH (r:ModelRun {run_id: $id}) SET r.metrics = r.metrics RETURN r.metrics AS m",
                     id=run_id).single()
        if rec is None:
            return None
        metrics = json.loads(rec["m"]) if rec["m"] else {}
        if not isinstance(metrics, dict):
            metrics = {"previous": metrics}
        metrics = _deep_merge(metrics, updates) if deep else {**metrics, **updates}
        tx.run("MATCH (r:ModelRun {run_id: $id}) SET r.metrics = $m", id=run_id,
               m=json.dumps(metrics, sort_keys=True, default=json_default)).consume()
        return metrics

    merged = graph.write_tx(work)
    if merged is None:
        raise WritebackError(f"there is no model run {run_id!r} to record metrics on")
    return merged


_RUN_RETURN = ("RETURN r.run_id AS run_id, r.kind AS kind, r.status AS status, r.config AS config, "
               "r.data_fingerprint AS data_fingerprint, r.datasets AS datasets, r.metrics AS metrics, "
               "r.versions AS versions, r.resolved_config AS resolved_config, r.spec AS spec, r.created_at AS created_at, "
               "r.completed_at AS completed_at, "
               "r.embedding_seed AS embedding_seed, r.embedding_dim AS embedding_dim, r.checkpoint_sha256 AS checkpoint_sha256, "
               "COUNT { (r)<-[:FROM_RUN]-() } AS n_embeddings, COUNT { (r)<-[:PREDICTED_BY]-() } AS n_predictions")


def _run_dict(rec) -> dict:
    out = dict(rec)
    for key in ("config", "metrics", "versions", "resolved_config", "spec"):
        out[key] = json.loads(out[key]) if out[key] is not None else None
    for key in ("created_at", "completed_at"):
        if out[key] is not None:
            out[key] = out[key].to_native()
    return out


def get_model_run(graph: Graph, run_id: str) -> dict | None:
    """One run as a dict (config, metrics and versions decoded; counts of its embeddings and
    predicted experiments), or None."""
    rows = graph.read("MATCH (r:ModelRun {run_id: $id}) " + _RUN_RETURN, {"id": run_id})
    return _run_dict(rows[0]) if rows else None


def list_model_runs(graph: Graph) -> list[dict]:
    """Every run, newest first."""
    rows = graph.read("MATCH (r:ModelRun) " + _RUN_RETURN + " ORDER BY created_at DESC, run_id DESC")
    return [_run_dict(r) for r in rows]


def latest_model_run(graph: Graph, complete_only: bool = True) -> dict | None:
    """The newest run (by creation), by default the newest ``complete`` one; None if there is none."""
    rows = graph.read("MATCH (r:ModelRun) WHERE NOT $complete_only OR r.status = 'complete' "
                      + _RUN_RETURN + " ORDER BY created_at DESC, run_id DESC LIMIT 1",
                      {"complete_only": complete_only})
    return _run_dict(rows[0]) if rows else None


def find_lpm_run(graph: Graph, run_id: str | None = None) -> dict | None:
    """The LPM run ``run_id`` (None if there is none or it is another kind), or without
    ``run_id`` the newest complete one (evaluation and prior runs are records, not models)."""
    if run_id:
        run = get_model_run(graph, run_id)
        return run if run is not None and run["kind"] == "lpm" else None
    return next((r for r in list_model_runs(graph) if r["kind"] == "lpm" and r["status"] == "complete"), None)


def record_checkpoint_digest(graph: Graph, run_id: str, digest: str) -> None:
    """Tie a run to its checkpoint file: the file's SHA-256, checked when the run's model is loaded."""
    graph.query("MATCH (r:ModelRun {run_id: $id}) SET r.checkpoint_sha256 = $digest", {"id": run_id, "digest": digest})
