"""A model run's embeddings in the graph: its history and the current vectors, with vector indexes.

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
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from lpm_kg.errors import MoaError
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.runs import WritebackError, check_run_id, require_run
from lpm_kg.graph.write import _chunks, _Values

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


def missing_symbols(graph: Graph, label: str, symbols: Sequence[str]) -> list[str]:
    missing: list[str] = []
    for batch in _chunks(list(symbols), 20_000):
        missing += graph.read(f"UNWIND $symbols AS s OPTIONAL MATCH (n:{label} {{symbol: s}}) "
                              "WITH s, n WHERE n IS NULL RETURN collect(s) AS missing", {"symbols": batch})[0]["missing"]
    return missing


def delete_in_batches(graph: Graph, match: str, params: dict) -> int:
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
    require_run(graph, run_id)
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
        missing = set(missing_symbols(graph, label, symbols))
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
        delete_in_batches(graph, "MATCH (x:Embedding {run: $run}) WHERE x.kind = $kind AND NOT x.id IN $ids",
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
    require_run(graph, run_id)
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


def current_embedding_run(graph: Graph) -> str | None:
    """The run whose vectors are the Perturbation nodes' current embeddings, else the newest
    complete run holding perturbation embeddings, else None."""
    rows = graph.read("MATCH (p:Perturbation) WHERE p.embedding_run IS NOT NULL "
                      "RETURN p.embedding_run AS run LIMIT 1")
    if rows:
        return rows[0]["run"]
    rows = graph.read("MATCH (r:ModelRun) WHERE r.status = 'complete' "
                      "AND EXISTS { MATCH (e:Embedding {run: r.run_id}) WHERE e.kind = 'perturbations' } "
                      "RETURN r.run_id AS run ORDER BY r.created_at DESC, r.run_id DESC LIMIT 1")
    return rows[0]["run"] if rows else None


#: A compound perturbation's nearest genetic perturbations by the current embeddings, through the
#: vector index. The index returns the ``$candidates`` nearest perturbations of any kind; the
#: genetic ones among them are kept, nearest first, at most ``$k``. Scores are the index's cosine
#: similarity, (1 + cos) / 2 in [0, 1]. Params: ``symbol``, ``k``, ``candidates`` (> k).
NEAREST_GENETIC_QUERY = (
    "MATCH (q:Perturbation {symbol: $symbol}) WHERE q.embedding IS NOT NULL "
    "CALL db.index.vector.queryNodes('perturbation_embedding', $candidates, q.embedding) YIELD node, score "
    "WITH q, node, score WHERE node.kind = 'genetic' AND node <> q "
    "OPTIONAL MATCH (node)-[:TARGETS]->(g:Gene) "
    "WITH node, score, coalesce(min(g.symbol), node.gene) AS target "
    "RETURN node.symbol AS symbol, target, score ORDER BY score DESC, symbol LIMIT $k")

#: The same, exact, on a stored run's Embedding history (``$run``): every genetic perturbation the
#: run embeds is scored with ``vector.similarity.cosine`` (same scale as the index).
NEAREST_GENETIC_RUN_QUERY = (
    "MATCH (q:Embedding {id: $id}) "
    "MATCH (e:Embedding {run: $run})-[:EMBEDS]->(node:Perturbation) "
    "WHERE e.kind = 'perturbations' AND node.kind = 'genetic' AND e <> q "
    "WITH node, vector.similarity.cosine(q.vector, e.vector) AS score "
    "OPTIONAL MATCH (node)-[:TARGETS]->(g:Gene) "
    "WITH node, score, coalesce(min(g.symbol), node.gene) AS target "
    "RETURN node.symbol AS symbol, target, score ORDER BY score DESC, symbol LIMIT $k")


def nearest_genetic(graph: Graph, symbol: str, k: int = 10, run: str | None = None, *,
                    candidates: int | None = None) -> list[tuple[str, str | None, float]]:
    """The ``k`` genetic perturbations nearest to perturbation ``symbol`` (usually a compound's)
    in the perturbation embedding space: ``(perturbation, target gene, score)``, nearest first,
    scores (1 + cos) / 2.

    Without ``run``: the current embeddings through the vector index, one call of
    :data:`NEAREST_GENETIC_QUERY` asking the index for ``candidates`` neighbours (default
    ``max(10 k, 200)``) and keeping the genetic ones. When that leaves fewer than ``k`` and the index
    holds more, it asks once more for all of them. With ``run``: exact, on that run's stored
    vectors (:data:`NEAREST_GENETIC_RUN_QUERY`).
    """
    k = int(k)
    if k < 1:
        raise MoaError(f"k must be at least 1, not {k}")
    if run is not None:
        rows = graph.read(NEAREST_GENETIC_RUN_QUERY, {"id": f"{run}:perturbations:{symbol}", "run": run, "k": k})
        if not rows:
            held = graph.read("MATCH (e:Embedding {id: $id}) RETURN count(e) AS n",
                              {"id": f"{run}:perturbations:{symbol}"})[0]["n"]
            if not held:
                raise MoaError(f"run {run!r} holds no perturbation embedding of {symbol!r}; "
                               "check the symbol and the run (`lpm-kg status`)")
        return [(r["symbol"], r["target"], float(r["score"])) for r in rows]

    asked = int(candidates) if candidates is not None else max(10 * k, 200)
    rows = graph.read(NEAREST_GENETIC_QUERY, {"symbol": symbol, "k": k, "candidates": max(asked, k + 1)})
    if len(rows) < k:
        n = graph.read("MATCH (q:Perturbation {symbol: $symbol}) "
                       "RETURN q.embedding IS NOT NULL AS embedded, "
                       "COUNT { MATCH (p:Perturbation) WHERE p.embedding IS NOT NULL } AS n", {"symbol": symbol})
        if not n:
            raise MoaError(f"there is no Perturbation {symbol!r} in the graph")
        if not n[0]["embedded"]:
            raise MoaError(f"Perturbation {symbol!r} has no current embedding; train and write back a model "
                           "(`lpm-kg sync`) or pass a run that embeds it")
        if n[0]["n"] > asked:
            rows = graph.read(NEAREST_GENETIC_QUERY, {"symbol": symbol, "k": k, "candidates": int(n[0]["n"])})
    return [(r["symbol"], r["target"], float(r["score"])) for r in rows]


def current_perturbation_embeddings(graph: Graph) -> tuple[list[str], np.ndarray, list[str]]:
    """The Perturbation nodes' current embeddings: (symbols sorted, [n, dim] float32, the runs that
    wrote them)."""
    rows = graph.read("MATCH (p:Perturbation) WHERE p.embedding IS NOT NULL "
                      "RETURN p.symbol AS s, p.embedding AS v, p.embedding_run AS run ORDER BY s")
    if not rows:
        return [], np.zeros((0, 0), np.float32), []
    vectors = np.array([r["v"] for r in rows], dtype=np.float32).reshape(len(rows), -1)
    return [r["s"] for r in rows], vectors, sorted({r["run"] for r in rows if r["run"]})


def current_embedding_rows(graph: Graph, label: str, key: str) -> list[tuple]:
    """(key value, current embedding, the run that wrote it) of every ``label`` node that has one;
    ``label`` and ``key`` are fixed names of the export's node types, never user input."""
    rows = graph.read(f"MATCH (n:{label}) WHERE n.embedding IS NOT NULL "
                      f"RETURN n.{key} AS k, n.embedding AS e, n.embedding_run AS er")
    return [(r["k"], r["e"], r["er"]) for r in rows]
