"""Gene networks in the graph: the reference networks read, and the inferred ones written back.

References: ``INTERACTS_WITH`` (STRING), ``REGULATES`` (DoRothEA, TRRUST) and co-membership of a
``Complex`` (CORUM), one reference per loaded dataset (:func:`list_references`, :func:`load_reference`).

Inferred: ``(:Gene)-[:INFERRED_INTERACTION {run, method, score, rank}]->(:Gene)``, a method's
strongest edges, stored once per unordered pair from the alphabetically smaller symbol to the
larger, ``rank`` 1 strongest, ``run`` naming the ModelRun that inferred them. Reference relations
are never written here. Writing is idempotent per (run, method): :func:`write_network` replaces
that run and method's edges and touches no other. An evaluation is recorded in the ModelRun's
``metrics`` JSON (:func:`record_network_metrics`), merged into what is there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from lpm_kg.gene_network import DEFAULT_TOP, GeneNetwork, NetworkError, Reference
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.runs import check_run_id, merge_run_metrics, require_run
from lpm_kg.jsonsafe import json_safe

EDGES_PER_TX = 50_000  # edges written (and the old ones deleted) in one transaction, atomically
DELETE_PER_TX = 10_000
REL_TYPE = "INFERRED_INTERACTION"
#: Reference relations in the graph: relationship type -> how its pairs are read.
REFERENCE_TYPES = ("INTERACTS_WITH", "REGULATES", "MEMBER_OF")


def perturbation_targets(graph: Graph, perturbations: Iterable[str] | None = None) -> dict[str, str]:
    """Genetic perturbation symbol -> the symbol of the Gene it ``TARGETS`` (perturbations
    targeting several genes are left out). With ``perturbations``, only those."""
    symbols = None if perturbations is None else list(perturbations)
    rows = graph.read("MATCH (p:Perturbation)-[:TARGETS]->(g:Gene) WHERE p.kind = 'genetic' "
                      "AND ($symbols IS NULL OR p.symbol IN $symbols) "
                      "WITH p, collect(g.symbol) AS genes WHERE size(genes) = 1 "
                      "RETURN p.symbol AS p, genes[0] AS g", {"symbols": symbols})
    return {r["p"]: r["g"] for r in rows}


def list_references(graph: Graph) -> list[dict]:
    """Every reference network in the graph: ``name`` (dataset), ``relation``, ``format``, ``source``,
    ``n`` (relationships)."""
    rows = []
    for rel, pattern in (("INTERACTS_WITH", "(:Gene)-[r:INTERACTS_WITH]->(:Gene)"),
                         ("REGULATES", "(:Gene)-[r:REGULATES]->(:Gene)"),
                         ("MEMBER_OF", "(:Gene)-[r:MEMBER_OF]->(:Complex)")):
        rows += [{"relation": rel, **dict(r)} for r in graph.read(
            f"MATCH {pattern} WITH r.dataset AS name, r.source AS source, count(*) AS n "
            "OPTIONAL MATCH (d:Dataset {name: name}) RETURN name, source, n, d.format AS format ORDER BY name")]
    return rows


def _matches(ref: dict, token: str) -> bool:
    token = token.lower()
    return any(str(ref.get(k) or "").lower() == token for k in ("name", "format", "source"))


def select_references(graph: Graph, wanted: Sequence[str] | None = None) -> list[dict]:
    """The references named in ``wanted`` (each token matches a dataset name, a loader format such as
    ``string``/``corum``/``dorothea``/``trrust``, or a source such as ``STRING``), default all.
    A token that matches nothing raises :class:`NetworkError` naming what is loaded."""
    found = list_references(graph)
    if wanted is None:
        return found
    out, missing = [], []
    for token in wanted:
        hits = [r for r in found if _matches(r, token)]
        if not hits:
            missing.append(token)
        out += [r for r in hits if r not in out]
    if missing:
        have = ", ".join(f"{r['name']} ({r['format'] or r['source']}, {r['relation']})" for r in found) or "none"
        raise NetworkError(f"no reference network {', '.join(map(repr, missing))} in the graph; loaded: {have}")
    return out


def load_reference(graph: Graph, name: str, relation: str) -> Reference:
    """One dataset's reference network (undirected pairs; a complex makes all its members pairs)."""
    if relation not in REFERENCE_TYPES:
        raise NetworkError(f"unknown reference relation {relation!r}; one of {', '.join(REFERENCE_TYPES)}")
    info = next((r for r in list_references(graph) if r["name"] == name and r["relation"] == relation), None)
    if info is None:
        raise NetworkError(f"there is no {relation} reference of dataset {name!r} in the graph")
    pairs: set[tuple[str, str]] = set()
    genes: set[str] = set()
    if relation == "MEMBER_OF":
        rows = graph.read("MATCH (g:Gene)-[m:MEMBER_OF]->(c:Complex) WHERE m.dataset = $name "
                          "RETURN c.id AS c, collect(DISTINCT g.symbol) AS members", {"name": name})
        for r in rows:
            members = sorted(r["members"])
            genes.update(members)
            pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1:])
    else:
        rows = graph.read(f"MATCH (a:Gene)-[r:{relation}]->(b:Gene) WHERE r.dataset = $name "
                          "RETURN a.symbol AS a, b.symbol AS b", {"name": name})
        for r in rows:
            a, b = r["a"], r["b"]
            genes.update((a, b))
            if a != b:
                pairs.add((a, b) if a < b else (b, a))
    return Reference(name, relation, info.get("format"), info.get("source"), frozenset(genes), frozenset(pairs))


def load_references(graph: Graph, wanted: Sequence[str] | None = None) -> dict[str, Reference]:
    """:func:`select_references` loaded, keyed by dataset name (``name:relation`` if a dataset has two)."""
    chosen = select_references(graph, wanted)
    names = [r["name"] for r in chosen]
    return {(r["name"] if names.count(r["name"]) == 1 else f"{r['name']}:{r['relation']}"):
            load_reference(graph, r["name"], r["relation"]) for r in chosen}


def _check_run(graph: Graph, run_id: str) -> None:
    check_run_id(run_id)
    require_run(graph, run_id)


def _replace_edges(tx, run_id: str, method: str, rows: list[dict], delete: bool) -> None:
    if delete:
        tx.run(f"MATCH (:Gene)-[x:{REL_TYPE} {{run: $run}}]->(:Gene) WHERE x.method = $method DELETE x",
               run=run_id, method=method).consume()
    tx.run(f"UNWIND $rows AS row MATCH (a:Gene {{symbol: row.s}}), (b:Gene {{symbol: row.t}}) "
           f"CREATE (a)-[:{REL_TYPE} {{run: $run, method: $method, score: row.score, rank: row.rank}}]->(b)",
           run=run_id, method=method, rows=rows).consume()


def write_network(graph: Graph, run_id: str, network: GeneNetwork | pd.DataFrame, *, method: str | None = None,
                  top: int | None = DEFAULT_TOP, per_gene: int | None = None) -> dict:
    """Store a network's strongest edges as ``INFERRED_INTERACTION`` of run ``run_id`` (which must
    exist: :func:`lpm_kg.graph.runs.create_model_run`), replacing that run and method's edges
    (other runs and methods are untouched). ``network`` is a :class:`GeneNetwork` (pruned with
    :meth:`GeneNetwork.edges` and ``top`` / ``per_gene``) or a frame of ``source, target, score, rank``
    with ``method``. Up to :data:`EDGES_PER_TX` edges are replaced in one transaction; more are
    written in batches, and a killed write is finished by writing again. Returns counts and seconds."""
    started = time.perf_counter()
    _check_run(graph, run_id)
    if isinstance(network, GeneNetwork):
        method = method or network.method
        edges = network.edges(top=top, per_gene=per_gene)
    else:
        edges = network
        if method is None:
            raise NetworkError("write_network needs method= with an edge frame")
    if not isinstance(method, str) or not method:
        raise NetworkError(f"method {method!r} is not a name")
    missing = {"source", "target", "score", "rank"} - set(edges.columns)
    if missing:
        raise NetworkError(f"the edges lack column(s) {', '.join(sorted(missing))}")
    src, dst = edges["source"].astype(str).to_numpy(), edges["target"].astype(str).to_numpy()
    swap = src > dst  # once per unordered pair, smaller symbol first
    src, dst = np.where(swap, dst, src), np.where(swap, src, dst)
    if (src == dst).any():
        raise NetworkError("the edges hold a self-pair")
    if pd.DataFrame({"s": src, "t": dst}).duplicated().any():
        raise NetworkError("the edges hold a gene pair twice")
    score = pd.to_numeric(edges["score"], errors="coerce").to_numpy(np.float64)
    if not np.isfinite(score).all():
        raise NetworkError("the edges hold NaN or infinite scores")
    genes = sorted(set(src) | set(dst))
    known = {r["s"] for r in graph.read("UNWIND $g AS s MATCH (:Gene {symbol: s}) RETURN s", {"g": genes})}
    absent = [g for g in genes if g not in known]
    if absent:
        raise NetworkError(f"{len(absent)} gene(s) of the edges are not Gene nodes, e.g. {', '.join(absent[:3])}")
    rows = [{"s": s, "t": t, "score": float(v), "rank": int(k)}
            for s, t, v, k in zip(src, dst, score, edges["rank"].to_numpy())]
    if len(rows) <= EDGES_PER_TX:
        graph.write_tx(_replace_edges, run_id, method, rows, True)
    else:
        delete_networks(graph, run_id, method)
        for a in range(0, len(rows), EDGES_PER_TX):
            graph.write_tx(_replace_edges, run_id, method, rows[a:a + EDGES_PER_TX], False)
    return {"method": method, "n_edges": len(rows), "seconds": time.perf_counter() - started}


def read_network(graph: Graph, run_id: str, method: str) -> pd.DataFrame:
    """A run and method's stored edges as ``source, target, score, rank``, strongest first."""
    rows = graph.read(f"MATCH (a:Gene)-[x:{REL_TYPE} {{run: $run}}]->(b:Gene) WHERE x.method = $method "
                      "RETURN a.symbol AS source, b.symbol AS target, x.score AS score, x.rank AS rank ORDER BY rank",
                      {"run": run_id, "method": method})
    return pd.DataFrame([dict(r) for r in rows], columns=["source", "target", "score", "rank"])


def delete_networks(graph: Graph, run_id: str, method: str | None = None) -> int:
    """Delete a run's inferred edges (one method's, or all); returns how many. For pruning a run."""
    return graph.in_batches(f"MATCH (:Gene)-[x:{REL_TYPE} {{run: $run}}]->(:Gene) "
                            "WHERE $method IS NULL OR x.method = $method "
                            "WITH x LIMIT $batch DELETE x RETURN count(*) AS n",
                            {"run": run_id, "method": method}, batch=DELETE_PER_TX)


def record_network_metrics(graph: Graph, run_id: str, results: dict, key: str = "network") -> dict:
    """Merge ``results`` into the run's ``metrics`` JSON under ``key`` (nested dicts merged, new
    values winning; the other keys untouched), read and written in one transaction. Returns the
    run's metrics after the merge."""
    _check_run(graph, run_id)
    return merge_run_metrics(graph, run_id, {key: json_safe(results)}, deep=True)


def relation_evidence(graph: Graph, gene: str, partners: Sequence[str]) -> dict[str, list[str]]:
    """What the reference knowledge says links ``gene`` to each of ``partners``: one line per
    relation (STRING and other interactions with their score, regulation either way, a shared
    Complex or GeneSet), each naming its dataset. A partner with nothing known is absent."""
    rows = graph.read(
        "MATCH (g:Gene {symbol: $gene}) UNWIND $partners AS symbol MATCH (p:Gene {symbol: symbol}) "
        "CALL (g, p) { "
        "  MATCH (g)-[r:INTERACTS_WITH]-(p) "
        "  RETURN r.dataset + ': interacts (score ' + coalesce(toString(r.score), '?') + ')' AS line "
        "  UNION MATCH (g)-[r:REGULATES]->(p) RETURN r.dataset + ': regulates' AS line "
        "  UNION MATCH (g)<-[r:REGULATES]-(p) RETURN r.dataset + ': regulated by' AS line "
        "  UNION MATCH (g)-[:MEMBER_OF]->(c:Complex)<-[r:MEMBER_OF]-(p) "
        "  RETURN r.dataset + ': complex ' + coalesce(c.name, c.id) AS line "
        "  UNION MATCH (g)-[:MEMBER_OF]->(s:GeneSet)<-[r:MEMBER_OF]-(p) "
        "  RETURN r.dataset + ': gene set ' + coalesce(s.name, s.id) AS line } "
        "RETURN p.symbol AS partner, collect(DISTINCT line) AS lines",
        {"gene": gene, "partners": list(partners)})
    return {r["partner"]: sorted(r["lines"]) for r in rows if r["lines"]}
