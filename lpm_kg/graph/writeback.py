"""Writing a trained model back into the graph. Every value written names the model run that made it.

Like AnnData, where each embedding and prediction layer is tagged with the run that made it, nothing
a model infers is mixed with measurements or with another run's output.

Graph model
-----------
``(:ModelRun {run_id})``: one trained model. ``kind`` (``lpm``), ``status`` (``writing`` while
its outputs are being written, ``complete`` once :func:`complete_model_run` runs, ``deleting``
during a prune), ``config`` (JSON), ``data_fingerprint``, ``datasets`` (names), ``metrics``
(JSON or null), ``versions`` (JSON: lpm-kg, torch, neo4j driver), ``created_at``, ``completed_at``,
and once embeddings are written ``embedding_seed`` and ``embedding_dim``.
``(ModelRun)-[:TRAINED_ON]->(Dataset)`` for each of its datasets that is in the graph.

Embeddings, current and history:

* ``(:Embedding {id: '<run>:<kind>:<symbol>', run, kind, symbol, dim, vector})`` holds one vector
  (float32) of one run, ``kind`` being ``perturbations``, ``readouts`` or ``contexts``, with
  ``-[:EMBEDS]->`` its Perturbation / Readout / Context node and ``-[:FROM_RUN]->(ModelRun)``.
  These stay until their run is pruned, so an older run's space stays readable
  (:func:`read_embeddings`, :func:`most_similar` with ``run=``).
* ``Perturbation.embedding``, ``Readout.embedding`` and ``Context.embedding`` hold the current
  vector (float32), and ``embedding_run`` names its run. Embeddings of different models are not
  comparable, so all the nodes of a label carry one run's vectors: making a run current removes
  the ``embedding`` of every node of that label that the run does not embed. The vector indexes
  ``perturbation_embedding``, ``readout_embedding`` and ``context_embedding`` (cosine) index the
  current vectors. A vector index has a fixed dimension, so when a run of another dimension is
  made current its index is dropped and built again.

The perturbations most similar to one, with the current embeddings, in one Cypher call
(:data:`SIMILAR_QUERIES`; the query node itself comes first, scored 1.0)::

    MATCH (p:Perturbation {symbol: $symbol}) WHERE p.embedding IS NOT NULL
    CALL db.index.vector.queryNodes('perturbation_embedding', $k, p.embedding) YIELD node, score
    RETURN node.symbol AS symbol, score

Predictions are stored like measurements: ``(:PredictedExperiment {id: '<run>:<perturbation>@<context>',
run, perturbation, context, panel, values, std, n_readouts})``, with ``values`` and ``std`` float arrays
aligned with the ``readouts`` of a ReadoutPanel, ``-[:PREDICTED_BY]->(ModelRun)``,
``-[:OF_PERTURBATION]->(Perturbation)``, ``-[:IN_CONTEXT]->(Context)``,
``-[:MEASURED_WITH]->(ReadoutPanel)`` and ``-[:PREDICTS {value, std, rank}]->(Readout)`` for the
``top_k`` largest predicted |values|, rank 1 strongest. The measured ``CHANGES`` and the predicted
``PREDICTS`` never share a relationship type.

Writing is idempotent per run: ModelRun, Embedding and PredictedExperiment nodes are MERGEd on
their keys and their relationships replaced, so writing the same run again leaves the same graph,
and a killed write is finished by running it again. One writer at a time: two runs made current
at once can leave a label with some nodes from each.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from lpm_kg.errors import LpmKgError
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.write import VALUES_PER_TX, _chunks, _Values, panel_id
from lpm_kg.jsonsafe import json_safe

#: The model's embedding kinds -> (node label, vector index name). Labels and index names are
#: fixed strings: they are the only names ever pasted into Cypher text.
KINDS: dict[str, tuple[str, str]] = {
    "perturbations": ("Perturbation", "perturbation_embedding"),
    "readouts": ("Readout", "readout_embedding"),
    "contexts": ("Context", "context_embedding"),
}

#: One Cypher call per kind: the ``$k`` nodes whose current embedding is nearest (cosine) to that of
#: the node with symbol ``$symbol``, the node itself first.
SIMILAR_QUERIES: dict[str, str] = {
    kind: (f"MATCH (q:{label} {{symbol: $symbol}}) WHERE q.embedding IS NOT NULL "
           f"CALL db.index.vector.queryNodes('{index}', $k, q.embedding) YIELD node, score "
           "RETURN node.symbol AS symbol, score")
    for kind, (label, index) in KINDS.items()
}

EMBEDDINGS_PER_TX = 2_000
DELETE_PER_TX = 5_000
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
PREDICTION_COLUMNS = ("perturbation", "context", "readout", "value", "std")


class WritebackError(LpmKgError, ValueError):
    """A model output that cannot be written as given. Raised before anything is written."""


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is a valid run id (:data:`RUN_ID`: no '/', never '.' or '..'), so it is
    safe in a Cypher property and as a file name; a :class:`WritebackError` otherwise."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise WritebackError(f"run id {run_id!r} is not valid: use letters, digits, '.', '_' and '-' "
                             "(starting with a letter or digit, at most 200 characters)")
    return run_id


def _json_default(value):
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
    return json.dumps(value, sort_keys=True, default=_json_default)


# --------------------------------------------------------------------------- model runs

def runtime_versions() -> dict[str, str]:
    """Versions of the software that trains and writes: lpm-kg, torch, the neo4j driver."""
    import lpm_kg

    out = {"lpm-kg": lpm_kg.__version__}
    for name, dist in (("torch", "torch"), ("neo4j-driver", "neo4j")):
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def dataset_fingerprint(graph: Graph, datasets: Sequence[str]) -> str:
    """A digest of the named datasets' checksums and counts: equal fingerprints, equal training data."""
    rows = graph.read("UNWIND $names AS name OPTIONAL MATCH (d:Dataset {name: name}) "
                      "RETURN name, d.checksum AS checksum, d.status AS status, d.n_measurements AS n ORDER BY name",
                      {"names": sorted(set(datasets))})
    payload = [[r["name"], r["checksum"], r["status"], r["n"]] for r in rows]
    return "sha256:" + hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def create_model_run(graph: Graph, *, run_id: str, config: dict, data_fingerprint: str, datasets: list[str],
                     metrics: dict | None = None, versions: dict | None = None, kind: str = "lpm") -> str:
    """Record a trained model as ``(:ModelRun {run_id})`` with status ``writing``; returns ``run_id``.

    Idempotent: the same run again changes nothing (``metrics``, when given, are updated; the
    creation time and versions are those of the first call). A ``run_id`` that already names a run
    with another kind, config, data fingerprint or datasets raises :class:`WritebackError`.
    ``versions`` defaults to :func:`runtime_versions`. Each dataset in the graph gets a
    ``TRAINED_ON`` relationship; all names are kept in ``datasets``.
    """
    check_run_id(run_id)
    props = {"kind": str(kind), "config": _to_json(config), "data_fingerprint": str(data_fingerprint),
             "datasets": sorted({str(d) for d in datasets})}
    metrics_json = _to_json(metrics)
    versions_json = _to_json(versions if versions is not None else runtime_versions())

    def work(tx):
        rec = tx.run("MERGE (r:ModelRun {run_id: $id}) "
                     "ON CREATE SET r += $props, r.versions = $versions, r.metrics = $metrics, r.status = 'writing', "
                     "    r.created_at = datetime() "
                     "RETURN r.kind AS kind, r.config AS config, r.data_fingerprint AS data_fingerprint, "
                     "    r.datasets AS datasets",
                     id=run_id, props=props, versions=versions_json, metrics=metrics_json).single()
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


def _require_run(graph: Graph, run_id: str) -> dict:
    run = get_model_run(graph, run_id)
    if run is None:
        raise WritebackError(f"there is no model run {run_id!r}; create it first with create_model_run")
    return run


def complete_model_run(graph: Graph, run_id: str, metrics: dict | None = None) -> None:
    """Mark a run's outputs fully written (status ``complete``), optionally updating its metrics."""
    _require_run(graph, run_id)
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
               m=json.dumps(metrics, sort_keys=True, default=_json_default)).consume()
        return metrics

    merged = graph.write_tx(work)
    if merged is None:
        raise WritebackError(f"there is no model run {run_id!r} to record metrics on")
    return merged


_RUN_RETURN = ("RETURN r.run_id AS run_id, r.kind AS kind, r.status AS status, r.config AS config, "
               "r.data_fingerprint AS data_fingerprint, r.datasets AS datasets, r.metrics AS metrics, "
               "r.versions AS versions, r.created_at AS created_at, r.completed_at AS completed_at, "
               "r.embedding_seed AS embedding_seed, r.embedding_dim AS embedding_dim, "
               "COUNT { (r)<-[:FROM_RUN]-() } AS n_embeddings, COUNT { (r)<-[:PREDICTED_BY]-() } AS n_predictions")


def _run_dict(rec) -> dict:
    out = dict(rec)
    for key in ("config", "metrics", "versions"):
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


# --------------------------------------------------------------------------- embeddings

def _kind(kind: str) -> tuple[str, str]:
    if kind not in KINDS:
        raise WritebackError(f"unknown embedding kind {kind!r}; kinds: {', '.join(KINDS)}")
    return KINDS[kind]


def _index_config(dim: int) -> dict:
    # Quantization off: scores are exact cosines (the node itself scores 1.0), and the vocabularies
    # a model embeds are small enough that full-precision vectors cost little memory.
    return {"vector.dimensions": int(dim), "vector.similarity_function": "cosine",
            "vector.quantization.enabled": False}


def _index_matches(graph: Graph, index: str, label: str, config: dict) -> bool | None:
    """None if there is no index of that name, else whether it is the one ``config`` describes."""
    rows = graph.read("SHOW VECTOR INDEXES YIELD name, labelsOrTypes, properties, options WHERE name = $name "
                      "RETURN labelsOrTypes AS labels, properties, options", {"name": index})
    if not rows:
        return None
    have = rows[0]["options"]["indexConfig"]
    return (rows[0]["labels"] == [label] and rows[0]["properties"] == ["embedding"]
            and int(have.get("vector.dimensions", -1)) == config["vector.dimensions"]
            and str(have.get("vector.similarity_function", "")).lower() == "cosine"
            and bool(have.get("vector.quantization.enabled", False)) == config["vector.quantization.enabled"])


def _missing_symbols(graph: Graph, label: str, symbols: Sequence[str]) -> list[str]:
    missing: list[str] = []
    for batch in _chunks(list(symbols), 20_000):
        missing += graph.read(f"UNWIND $symbols AS s OPTIONAL MATCH (n:{label} {{symbol: s}}) "
                              "WITH s, n WHERE n IS NULL RETURN collect(s) AS missing", {"symbols": batch})[0]["missing"]
    return missing


def _delete_in_batches(graph: Graph, match: str, params: dict) -> int:
    """DETACH DELETE what ``match`` (binding ``x``) finds, a batch per transaction."""
    return graph.in_batches(f"{match} WITH x LIMIT $batch DETACH DELETE x RETURN count(*) AS n", params,
                            batch=DELETE_PER_TX)


def write_embeddings(graph: Graph, run_id: str, model, *, seed: int | None = None,
                     kinds: Iterable[str] = tuple(KINDS), make_current: bool = True) -> dict:
    """Write ``model``'s embedding tables (one seed's, default its first: seeds' spaces are not
    aligned) as the run's Embedding history and, with ``make_current``, as the current
    ``embedding`` of every Perturbation, Readout and Context in its vocabulary (see the module
    docstring). ``model`` needs ``vocab``, ``config.seeds`` and ``embeddings(kind, seed)``, as
    :class:`lpm_kg.model.LPM` has.

    Symbols of the vocabulary with no node in the graph are skipped and counted. Returns, per
    kind, ``written``, ``missing`` and ``dim``, and the total ``seconds``.
    """
    check_run_id(run_id)
    _require_run(graph, run_id)
    seed = model.config.seeds[0] if seed is None else seed
    kinds = list(kinds)
    for kind in kinds:
        _kind(kind)
    tables = {}
    for kind in kinds:  # everything is checked before anything is written
        vectors = np.asarray(model.embeddings(kind, seed), dtype=np.float32)
        symbols = list(getattr(model.vocab, kind))
        if vectors.ndim != 2 or len(vectors) != len(symbols) or vectors.shape[1] < 1:
            raise WritebackError(f"the model's {kind} embeddings have shape {vectors.shape}, "
                                 f"not ({len(symbols)}, dim) for its {len(symbols)} {kind}")
        if not np.isfinite(vectors).all():
            raise WritebackError(f"the model's {kind} embeddings hold NaN or infinite values; "
                                 "the model did not train properly: retrain it")
        tables[kind] = (symbols, vectors)

    started = time.perf_counter()
    report: dict[str, Any] = {}
    for kind, (symbols, vectors) in tables.items():
        label, _ = KINDS[kind]
        dim = int(vectors.shape[1])
        missing = set(_missing_symbols(graph, label, symbols))
        rows = [{"id": f"{run_id}:{kind}:{s}", "s": s, "v": _Values(v.tolist())}
                for s, v in zip(symbols, vectors) if s not in missing]
        for batch in _chunks(rows, EMBEDDINGS_PER_TX):
            graph.query(
                "MATCH (run:ModelRun {run_id: $run}) "
                f"UNWIND $rows AS row MATCH (n:{label} {{symbol: row.s}}) "
                "MERGE (e:Embedding {id: row.id}) "
                "SET e.run = $run, e.kind = $kind, e.symbol = row.s, e.dim = $dim "
                "WITH run, n, e, row CALL db.create.setNodeVectorProperty(e, 'vector', row.v) "
                "MERGE (e)-[:EMBEDS]->(n) MERGE (e)-[:FROM_RUN]->(run)",
                {"run": run_id, "kind": kind, "dim": dim, "rows": batch})
        # The same run written again from a changed vocabulary keeps no stale vectors.
        _delete_in_batches(graph, "MATCH (x:Embedding {run: $run}) WHERE x.kind = $kind AND NOT x.id IN $ids",
                           {"run": run_id, "kind": kind, "ids": [r["id"] for r in rows]})
        report[kind] = {"written": len(rows), "missing": len(missing), "dim": dim}
    graph.query("MATCH (r:ModelRun {run_id: $run}) SET r.embedding_seed = $seed, r.embedding_dim = $dim",
                {"run": run_id, "seed": int(seed), "dim": max((r["dim"] for r in report.values()), default=None)})
    if make_current:
        use_embeddings(graph, run_id, kinds=kinds)
    report["seconds"] = time.perf_counter() - started
    return report


def use_embeddings(graph: Graph, run_id: str, kinds: Iterable[str] = tuple(KINDS)) -> dict[str, int]:
    """Make a run's stored Embedding history the current ``embedding`` of its nodes, rebuilding
    a vector index whose dimension or settings differ. Nodes of the label that the run does not
    embed lose their ``embedding``. A kind the run has no history for is left as it is. Returns
    the number of nodes set per kind."""
    check_run_id(run_id)
    _require_run(graph, run_id)
    out = {}
    for kind in kinds:
        label, index = _kind(kind)
        info = graph.read("MATCH (e:Embedding {run: $run}) WHERE e.kind = $kind "
                          "RETURN collect(e.id) AS ids, min(e.dim) AS lo, max(e.dim) AS hi",
                          {"run": run_id, "kind": kind})[0]
        if not info["ids"]:
            continue
        if info["lo"] != info["hi"]:
            raise WritebackError(f"run {run_id!r} holds {kind} embeddings of dimensions {info['lo']} and "
                                 f"{info['hi']}; write its embeddings again")
        dim = int(info["hi"])
        config = _index_config(dim)
        if _index_matches(graph, index, label, config) is False:
            graph.query(f"DROP INDEX {index} IF EXISTS")
        # Another run's vectors live in another space: off every node before this run's go on.
        graph.in_batches(f"MATCH (n:{label}) WHERE n.embedding IS NOT NULL AND "
                         "(n.embedding_run IS NULL OR n.embedding_run <> $run) "
                         "WITH n LIMIT $batch REMOVE n.embedding, n.embedding_run RETURN count(*) AS n",
                         {"run": run_id}, batch=DELETE_PER_TX)
        for batch in _chunks(info["ids"], EMBEDDINGS_PER_TX):
            graph.query(f"UNWIND $ids AS id MATCH (e:Embedding {{id: id}})-[:EMBEDS]->(n:{label}) "
                        "CALL db.create.setNodeVectorProperty(n, 'embedding', e.vector) SET n.embedding_run = $run",
                        {"ids": batch, "run": run_id})
        graph.query(f"CREATE VECTOR INDEX {index} IF NOT EXISTS FOR (n:{label}) ON n.embedding "
                    "OPTIONS {indexConfig: $config}", {"config": config})
        graph.query("CALL db.awaitIndex($index, 300)", {"index": index})
        out[kind] = len(info["ids"])
    return out


def most_similar(graph: Graph, kind: str, symbol: str, k: int = 10, *, run: str | None = None
                 ) -> list[tuple[str, float]]:
    """The ``k`` symbols of ``kind`` nearest (cosine, scored 0..1, 1 = same direction) to ``symbol``,
    nearest first (``symbol`` itself among them). With ``run``, searched exactly in that run's
    Embedding history; otherwise in the current embeddings through the vector index."""
    _kind(kind)
    k = int(k)
    if k < 1:
        raise WritebackError(f"k must be at least 1, not {k}")
    if run is None:
        rows = graph.read(SIMILAR_QUERIES[kind], {"symbol": symbol, "k": k})
    else:
        rows = graph.read("MATCH (q:Embedding {id: $id}) MATCH (e:Embedding {run: $run}) WHERE e.kind = $kind "
                          "WITH e, vector.similarity.cosine(q.vector, e.vector) AS score "
                          "RETURN e.symbol AS symbol, score ORDER BY score DESC, symbol LIMIT $k",
                          {"id": f"{run}:{kind}:{symbol}", "run": run, "kind": kind, "k": k})
    if not rows:
        label = KINDS[kind][0]
        if run is not None:
            raise WritebackError(f"run {run!r} holds no {kind} embedding of {symbol!r}")
        exists = graph.read(f"MATCH (n:{label} {{symbol: $symbol}}) RETURN n.embedding_run AS run", {"symbol": symbol})
        raise WritebackError(f"{label} {symbol!r} has no current embedding; write a run's embeddings with "
                             "write_embeddings" if exists else f"there is no {label} {symbol!r} in the graph")
    return [(r["symbol"], float(r["score"])) for r in rows]


def read_embeddings(graph: Graph, run_id: str, kind: str) -> tuple[list[str], np.ndarray]:
    """A run's stored vectors of one kind: (symbols sorted, float32 array [n, dim])."""
    _kind(kind)
    rows = graph.read("MATCH (e:Embedding {run: $run}) WHERE e.kind = $kind RETURN e.symbol AS s, e.vector AS v "
                      "ORDER BY s", {"run": run_id, "kind": kind})
    dim = len(rows[0]["v"]) if rows else 0
    return [r["s"] for r in rows], np.array([r["v"] for r in rows], dtype=np.float32).reshape(len(rows), dim)


# --------------------------------------------------------------------------- predictions

def _validate_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise WritebackError(f"the predictions lack column(s) {', '.join(missing)}; "
                             f"they need {', '.join(PREDICTION_COLUMNS)}")
    frame = predictions[list(PREDICTION_COLUMNS)].copy()
    for col in ("perturbation", "context", "readout"):
        if frame[col].isna().any():
            raise WritebackError(f"the predictions' {col} column has empty entries")
        frame[col] = frame[col].astype(str)
    for col in ("value", "std"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(np.float64)
    if not np.isfinite(frame["value"].to_numpy()).all():
        raise WritebackError("the predictions hold missing, NaN or infinite values; predict them again or drop them")
    std = frame["std"].to_numpy()
    if (np.isinf(std) | (std < 0)).any():
        raise WritebackError("the predictions hold negative or infinite std (NaN is allowed: unknown)")
    dup = frame.duplicated(["perturbation", "context", "readout"])
    if dup.any():
        first = frame[dup].iloc[0]
        raise WritebackError(f"the predictions hold {int(dup.sum())} repeated (perturbation, context, readout) "
                             f"rows, e.g. ({first.perturbation}, {first.context}, {first.readout}); keep one each")
    return frame


def write_predictions(graph: Graph, run_id: str, predictions: pd.DataFrame, top_k: int = 25) -> dict:
    """Store a run's predictions, one PredictedExperiment per (perturbation, context) (see the
    module docstring). Its readouts, in the order they first appear in ``predictions``, are its
    ReadoutPanel: predictions made in a measured panel's order share that panel.

    Every perturbation, context and readout must be a node of the graph. Writing a
    (perturbation, context) again replaces its prediction; the run's other predictions stay, so
    large prediction sets can be written in parts. Returns counts and ``seconds``.
    """
    check_run_id(run_id)
    _require_run(graph, run_id)
    frame = _validate_predictions(predictions)
    for col, label in (("perturbation", "Perturbation"), ("context", "Context"), ("readout", "Readout")):
        absent = _missing_symbols(graph, label, frame[col].unique().tolist())
        if absent:
            raise WritebackError(f"{len(absent)} {col}(s) of the predictions are not in the graph, e.g. "
                                 f"{', '.join(map(repr, absent[:3]))}; predictions must name loaded {label} nodes")

    started = time.perf_counter()
    pair_codes, pairs = pd.MultiIndex.from_frame(frame[["perturbation", "context"]]).factorize()
    order = np.argsort(pair_codes, kind="stable")  # keeps each group's readouts in input order
    bounds = np.flatnonzero(np.diff(pair_codes[order])) + 1
    readouts = frame["readout"].to_numpy()[order]
    values = frame["value"].to_numpy()[order]
    stds = frame["std"].to_numpy()[order]
    starts = np.concatenate([[0], bounds]) if len(order) else np.array([], int)
    stops = np.concatenate([bounds, [len(order)]]) if len(order) else np.array([], int)

    panels: dict[tuple[str, ...], str] = {}
    rows: list[dict] = []
    for g, (a, b) in enumerate(zip(starts, stops)):
        pert, ctx = pairs[pair_codes[order[a]]]
        panel = tuple(readouts[a:b])
        pid = panels.setdefault(panel, panel_id(list(panel)))
        v, s = values[a:b], stds[a:b]
        top = np.argsort(-np.abs(v), kind="stable")[:max(0, top_k)]
        rows.append({"id": f"{run_id}:{pert}@{ctx}", "p": pert, "c": ctx, "panel": pid,
                     "values": _Values(v.tolist()), "std": _Values(s.tolist()),
                     "top": [{"r": panel[j], "v": float(v[j]), "s": json_safe(s[j]), "k": n + 1}
                             for n, j in enumerate(top)]})
    for readout_list, pid in panels.items():
        graph.query("MERGE (p:ReadoutPanel {id: $id}) SET p.readouts = $readouts, p.size = size($readouts)",
                    {"id": pid, "readouts": list(readout_list)})

    done = 0
    while done < len(rows):
        # About VALUES_PER_TX floats (values and std) per transaction, as the measurement writes.
        budget, stop = 0, done
        while stop < len(rows) and (stop == done or budget + 2 * len(rows[stop]["values"]) <= VALUES_PER_TX):
            budget += 2 * len(rows[stop]["values"])
            stop += 1
        graph.write_tx(_write_prediction_batch, rows[done:stop], run_id)
        done = stop
    return {"n_predicted_experiments": len(rows), "n_predictions": len(frame), "n_panels": len(panels),
            "seconds": time.perf_counter() - started}


def _write_prediction_batch(tx, rows, run_id):
    tx.run("MATCH (run:ModelRun {run_id: $run}) "
           "UNWIND $rows AS row "
           "MERGE (e:PredictedExperiment {id: row.id}) "
           "SET e.run = $run, e.perturbation = row.p, e.context = row.c, e.panel = row.panel, "
           "    e.values = row.values, e.std = row.std, e.n_readouts = size(row.values) "
           "WITH run, e, row "
           "MATCH (p:Perturbation {symbol: row.p}), (c:Context {symbol: row.c}), (panel:ReadoutPanel {id: row.panel}) "
           "MERGE (e)-[:PREDICTED_BY]->(run) MERGE (e)-[:OF_PERTURBATION]->(p) MERGE (e)-[:IN_CONTEXT]->(c) "
           "MERGE (e)-[:MEASURED_WITH]->(panel)",
           run=run_id, rows=[{k: r[k] for k in ("id", "p", "c", "panel", "values", "std")} for r in rows]).consume()
    light = [{"id": r["id"], "panel": r["panel"], "top": r["top"]} for r in rows]
    # A prediction written again may have another panel and another top set: replace, never add.
    tx.run("UNWIND $rows AS row MATCH (e:PredictedExperiment {id: row.id})-[m:MEASURED_WITH]->(x) "
           "WHERE x.id <> row.panel DELETE m", rows=light).consume()
    tx.run("UNWIND $rows AS row MATCH (e:PredictedExperiment {id: row.id})-[c:PREDICTS]->() DELETE c",
           rows=light).consume()
    tx.run("UNWIND $rows AS row MATCH (e:PredictedExperiment {id: row.id}) "
           "UNWIND row.top AS t MATCH (r:Readout {symbol: t.r}) "
           "CREATE (e)-[:PREDICTS {value: t.v, std: t.s, rank: t.k}]->(r)", rows=light).consume()


def read_predictions(graph: Graph, run_id: str, *, perturbation: str | None = None,
                     context: str | None = None) -> pd.DataFrame:
    """A run's stored predictions as a frame of ``perturbation, context, readout, value, std``."""
    rows = graph.read("MATCH (e:PredictedExperiment {run: $run}) "
                      "WHERE ($p IS NULL OR e.perturbation = $p) AND ($c IS NULL OR e.context = $c) "
                      "MATCH (e)-[:MEASURED_WITH]->(panel:ReadoutPanel) "
                      "RETURN e.perturbation AS p, e.context AS c, panel.readouts AS r, e.values AS v, e.std AS s "
                      "ORDER BY p, c", {"run": run_id, "p": perturbation, "c": context})
    parts = [pd.DataFrame({"perturbation": r["p"], "context": r["c"], "readout": r["r"],
                           "value": np.asarray(r["v"], dtype=np.float64), "std": np.asarray(r["s"], dtype=np.float64)})
             for r in rows]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("perturbation", "context", "readout") else np.float64)
                             for c in PREDICTION_COLUMNS})
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- pruning

def prune_model_runs(graph: Graph, keep: int = 1, kind: str = "lpm") -> list[str]:
    """Delete all but the ``keep`` newest complete runs of ``kind`` (trained models by default;
    evaluation records are another kind and never count against them), with everything they wrote (Embedding
    history, PredictedExperiments, node ``embedding`` properties they set; for ``kind='prior'``
    the ``Gene.prior`` vectors). Runs still
    ``writing`` that are newer than the newest complete run may be in progress and are kept.
    Nodes whose current embedding came from a deleted run take that of the newest kept run that
    embeds their kind (or none). Returns the deleted run ids. A killed prune is finished by
    running it again."""
    if keep < 0:
        raise WritebackError(f"keep must be 0 or more, not {keep}")
    runs = [r for r in list_model_runs(graph) if r["kind"] == kind]  # newest first
    complete = [r for r in runs if r["status"] == "complete"]
    kept = {r["run_id"] for r in complete[:keep]}
    newest_complete = complete[0]["created_at"] if complete else None
    kept |= {r["run_id"] for r in runs if r["status"] == "writing"
             and (newest_complete is None or r["created_at"] > newest_complete)}
    doomed = [r["run_id"] for r in runs if r["run_id"] not in kept]
    if not doomed:
        return []

    for run_id in doomed:
        # Readers asking for the latest complete run stop seeing it before anything goes.
        graph.query("MATCH (r:ModelRun {run_id: $run}) SET r.status = 'deleting'", {"run": run_id})
    orphaned: set[str] = set()
    for run_id in doomed:
        _delete_in_batches(graph, "MATCH (x:Embedding {run: $run})", {"run": run_id})
        _delete_in_batches(graph, "MATCH (x:PredictedExperiment {run: $run})", {"run": run_id})
        # Inferred gene-gene edges (lpm_kg.discovery.networks) name their run too.
        graph.in_batches("MATCH ()-[e:INFERRED_INTERACTION {run: $run}]->() WITH e LIMIT $batch DELETE e "
                         "RETURN count(*) AS n", {"run": run_id})
        for kind, (label, _) in KINDS.items():
            if graph.in_batches(f"MATCH (n:{label}) WHERE n.embedding_run = $run WITH n LIMIT $batch "
                                "REMOVE n.embedding, n.embedding_run RETURN count(*) AS n", {"run": run_id},
                                batch=DELETE_PER_TX):
                orphaned.add(kind)
        # A prior run's vectors are on Gene nodes (lpm_kg.graph.priors).
        graph.in_batches("MATCH (g:Gene) WHERE g.prior_run = $run WITH g LIMIT $batch "
                         "REMOVE g.prior, g.prior_run RETURN count(*) AS n", {"run": run_id}, batch=DELETE_PER_TX)
        graph.query("MATCH (r:ModelRun {run_id: $run}) DETACH DELETE r", {"run": run_id})

    # The newest surviving run with vectors of a kind whose current vectors were just removed.
    for kind in sorted(orphaned):
        rows = graph.read("MATCH (r:ModelRun) WHERE r.status = 'complete' "
                          "AND EXISTS { MATCH (e:Embedding {run: r.run_id}) WHERE e.kind = $kind } "
                          "RETURN r.run_id AS run ORDER BY r.created_at DESC, r.run_id DESC LIMIT 1", {"kind": kind})
        if rows:
            use_embeddings(graph, rows[0]["run"], kinds=[kind])
    return doomed
