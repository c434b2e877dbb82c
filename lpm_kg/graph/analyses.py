"""Gene networks for analytics, in the graph: which relationships make each network
(:data:`NETWORKS`, :class:`NetworkSpec`), their edges, the Graph Data Science calls, and the stored
analyses (Gene properties ``community_<network>``, ``pagerank_<network>``, ``degree_<network>``
and one ``NetworkAnalysis`` node per network kind). What an analysis computes and how the engines
compare is described in :mod:`lpm_kg.analytics`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lpm_kg.errors import AnalyticsError, LpmKgError
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.pull import pull_columns


@dataclass(frozen=True)
class Network:
    name: str
    rel_type: str  # a fixed string from NETWORKS: the only name pasted into Cypher
    inferred: bool


#: The gene networks a caller may choose, by name.
NETWORKS: dict[str, Network] = {
    "inferred": Network("inferred", "INFERRED_INTERACTION", True),
    "string": Network("string", "INTERACTS_WITH", False),
    "regulates": Network("regulates", "REGULATES", False),
}


def network(name: str) -> Network:
    if name not in NETWORKS:
        raise AnalyticsError(f"unknown network {name!r}; networks: {', '.join(NETWORKS)}")
    return NETWORKS[name]


def property_names(name: str) -> dict[str, str]:
    """The Gene properties an analysis of network ``name`` writes: community, pagerank, degree."""
    net = network(name)
    return {k: f"{k}_{net.name}" for k in ("community", "pagerank", "degree")}


@dataclass(frozen=True)
class NetworkSpec:
    """One concrete network: which relationships, filtered how. Build it with :func:`lpm_kg.analytics.resolve_network`."""

    network: Network
    run: str | None = None
    method: str | None = None
    datasets: tuple[str, ...] | None = None
    min_score: float | None = None

    def params(self) -> dict:
        return {"run": self.run, "method": self.method,
                "datasets": list(self.datasets) if self.datasets is not None else None,
                "min_score": self.min_score}

    def where(self) -> str:
        """The Cypher condition on relationship ``r`` that selects this network's edges; needs :meth:`params`."""
        where = ("r.run = $run AND r.method = $method" if self.network.inferred
                 else "($datasets IS NULL OR r.dataset IN $datasets)")
        return where + " AND ($min_score IS NULL OR r.score IS NULL OR r.score >= $min_score)"

    def match(self) -> str:
        """Cypher binding ``a``, ``b`` (each unordered pair once) and ``w`` (its weight); needs :meth:`params`."""
        return (f"MATCH (a:Gene)-[r:{self.network.rel_type}]-(b:Gene) "
                f"WHERE elementId(a) < elementId(b) AND {self.where()} "
                "WITH a, b, max(coalesce(abs(toFloat(r.score)), 1.0)) AS w ")

    def describe(self) -> str:
        if self.network.inferred:
            text = f"inferred network of run {self.run} (method {self.method})"
        else:
            text = f"{self.network.rel_type} network" + (f" of {', '.join(self.datasets)}" if self.datasets else "")
        return text + (f", score >= {self.min_score:g}" if self.min_score is not None else "")


def inferred_runs(graph: Graph) -> list[dict]:
    """Runs with INFERRED_INTERACTION edges, newest first (runs with a ModelRun node before those
    without, then by its ``created_at``), each with its ``methods`` and ``n_edges``."""
    rows = graph.read("MATCH (:Gene)-[r:INFERRED_INTERACTION]->(:Gene) "
                      "WITH r.run AS run, r.method AS method, count(*) AS n "
                      "OPTIONAL MATCH (m:ModelRun {run_id: run}) "
                      "WITH run, m.created_at AS created, collect([method, n]) AS methods "
                      "RETURN run, created, methods ORDER BY created IS NULL, created DESC, run DESC")
    return [{"run": r["run"], "methods": {m: n for m, n in sorted(r["methods"], key=lambda x: str(x[0]))},
             "n_edges": sum(n for _, n in r["methods"])} for r in rows]


def network_edges(graph: Graph, spec: NetworkSpec, directed: bool = False) -> pd.DataFrame:
    """The network's edges: ``source``, ``target`` (gene symbols) and ``weight``, each unordered pair
    once (``source`` < ``target``), or with ``directed`` each ordered pair once, as stored. Sorted."""
    frame = pull_columns(graph, f"MATCH (a:Gene)-[r:{spec.network.rel_type}]->(b:Gene) WHERE a <> b AND {spec.where()}",
                         {"source": "a.symbol", "target": "b.symbol", "weight": "coalesce(abs(toFloat(r.score)), 1.0)"},
                         spec.params())
    src, dst = frame["source"].to_numpy(dtype=object), frame["target"].to_numpy(dtype=object)
    if not directed:
        swap = src > dst
        src, dst = np.where(swap, dst, src), np.where(swap, src, dst)
    edges = pd.DataFrame({"source": src, "target": dst, "weight": frame["weight"].to_numpy(np.float64)})
    edges = edges.groupby(["source", "target"], sort=True, as_index=False)["weight"].max()
    return edges.astype({"source": object, "target": object, "weight": np.float64})


def gds_version(graph: Graph) -> str | None:
    """The Graph Data Science library's version on the server, or None when it is not loaded."""
    try:
        rows = graph.read("SHOW FUNCTIONS YIELD name WHERE name = 'gds.version' RETURN count(*) AS n")
        if not rows or not rows[0]["n"]:
            return None
        return str(graph.read("RETURN gds.version() AS v")[0]["v"])
    except LpmKgError:
        raise
    except Exception:  # a server that refuses SHOW FUNCTIONS (permissions): no GDS for us
        return None


def gds_communities(graph: Graph, spec: NetworkSpec, concurrency: int, lap=lambda step: None
                    ) -> tuple[dict, dict, dict, int, float]:
    """Louvain, PageRank and degree of the network by the Graph Data Science library: a projection
    (``gds.graph.project`` over :meth:`NetworkSpec.match`, undirected, property ``weight``), the
    three streams, the projection dropped. Returns (community, pagerank, degree) per gene symbol,
    the number of edges and Louvain's modularity; ``lap(step)`` is called after each step.
    Empty dicts when the network has no edge."""
    name = f"lpm-kg-analytics-{uuid.uuid4().hex[:12]}"
    params = {**spec.params(), "name": name}
    algo = {"name": name, "cfg": {"relationshipWeightProperty": "weight", "concurrency": concurrency}}
    try:
        projected = graph.query(spec.match() + "WITH gds.graph.project($name, a, b, "
                                "{relationshipProperties: {weight: w}}, {undirectedRelationshipTypes: ['*']}) AS g "
                                "RETURN g.nodeCount AS nodes, g.relationshipCount AS rels", params)
        lap("project")
        if not projected or not projected[0]["nodes"]:
            return {}, {}, {}, 0, 0.0
        n_edges = int(projected[0]["rels"]) // 2  # undirected: each edge is stored both ways
        mutated = graph.query("CALL gds.louvain.mutate($name, $cfg) YIELD modularity RETURN modularity",
                              {**algo, "cfg": {**algo["cfg"], "mutateProperty": "community"}})
        lou = graph.query("CALL gds.graph.nodeProperty.stream($name, 'community') YIELD nodeId, propertyValue "
                          "RETURN gds.util.asNode(nodeId).symbol AS s, propertyValue AS c", algo)
        lap("louvain")
        pr = graph.query("CALL gds.pageRank.stream($name, $cfg) YIELD nodeId, score "
                         "RETURN gds.util.asNode(nodeId).symbol AS s, score",
                         {**algo, "cfg": {**algo["cfg"], "dampingFactor": 0.85, "maxIterations": 1000,
                                          "tolerance": 1e-10}})
        lap("pagerank")
        deg = graph.query("CALL gds.degree.stream($name, {concurrency: $cfg.concurrency}) YIELD nodeId, score "
                          "RETURN gds.util.asNode(nodeId).symbol AS s, score", algo)
        lap("degree")
    finally:
        graph.query("CALL gds.graph.drop($name, false) YIELD graphName RETURN graphName", {"name": name})
        lap("drop")
    return ({r["s"]: r["c"] for r in lou}, {r["s"]: r["score"] for r in pr}, {r["s"]: round(r["score"]) for r in deg},
            n_edges, float(mutated[0]["modularity"]))


def write_analysis(graph: Graph, spec: NetworkSpec, table: pd.DataFrame, record: dict) -> None:
    """Store an analysis: ``table``'s (symbol, community, pagerank, degree) as the network kind's
    Gene properties (replacing an older analysis of that kind in one transaction) and its
    ``NetworkAnalysis`` node with ``record`` (engine, counts, modularity, seconds) beside the spec."""
    props = property_names(spec.network.name)
    c, p, d = props["community"], props["pagerank"], props["degree"]
    rows = [{"s": r.symbol, "c": int(r.community), "p": float(r.pagerank), "d": int(r.degree)}
            for r in table.itertuples()]
    meta = {"network": spec.network.name, "rel_type": spec.network.rel_type, "run": spec.run, "method": spec.method,
            "datasets": list(spec.datasets) if spec.datasets else None, "min_score": spec.min_score,
            **record, "properties": [c, p, d]}

    def work(tx):
        # Property names come from property_names(): fixed strings, never user input.
        tx.run(f"MATCH (g:Gene) WHERE g.{c} IS NOT NULL REMOVE g.{c}, g.{p}, g.{d}").consume()
        for start in range(0, len(rows), 10_000):
            tx.run(f"UNWIND $rows AS row MATCH (g:Gene {{symbol: row.s}}) SET g.{c} = row.c, g.{p} = row.p, "
                   f"g.{d} = row.d", rows=rows[start:start + 10_000]).consume()
        tx.run("MERGE (a:NetworkAnalysis {network: $meta.network}) SET a = $meta, a.created_at = datetime()",
               meta=meta).consume()

    graph.write_tx(work)


def read_analytics(graph: Graph, network: str = "inferred") -> pd.DataFrame:
    """The stored analysis of a network kind: symbol, community, pagerank, degree (by pagerank descending)."""
    props = property_names(network)
    c, p, d = props["community"], props["pagerank"], props["degree"]
    rows = graph.read(f"MATCH (g:Gene) WHERE g.{c} IS NOT NULL RETURN g.symbol AS symbol, g.{c} AS community, "
                      f"g.{p} AS pagerank, g.{d} AS degree ORDER BY pagerank DESC, symbol")
    return pd.DataFrame([dict(r) for r in rows], columns=["symbol", "community", "pagerank", "degree"])


def analysis_record(graph: Graph, network: str = "inferred") -> dict | None:
    """The ``NetworkAnalysis`` node of a network kind as a dict, or None if it was never analysed."""
    if network not in NETWORKS:
        raise AnalyticsError(f"unknown network {network!r}; networks: {', '.join(NETWORKS)}")
    rows = graph.read("MATCH (a:NetworkAnalysis {network: $n}) RETURN properties(a) AS a", {"n": network})
    if not rows:
        return None
    out = dict(rows[0]["a"])
    if out.get("created_at") is not None:
        out["created_at"] = out["created_at"].to_native()
    return out


# --------------------------------------------------------------------------- a gene's neighbourhood

def inferred_partners(graph: Graph, spec: NetworkSpec, gene: str, k: int) -> list[dict]:
    """``gene``'s ``k`` strongest edges of the inferred network ``spec``: ``s`` (partner), ``score``."""
    return [dict(r) for r in graph.read("MATCH (g:Gene {symbol: $gene})-[r:INFERRED_INTERACTION]-(h:Gene) "
                                        f"WHERE {spec.where()} RETURN h.symbol AS s, r.score AS score "
                                        "ORDER BY score DESC, s LIMIT $k", {**spec.params(), "gene": gene, "k": k})]


def gene_exists(graph: Graph, gene: str) -> bool:
    return bool(graph.read("MATCH (g:Gene {symbol: $gene}) RETURN g.symbol AS s", {"gene": gene}))


def inferred_edges_among(graph: Graph, spec: NetworkSpec, genes: list[str]) -> list[dict]:
    """The inferred network's edges between two of ``genes``: ``s``, ``t``, ``score``."""
    return [dict(r) for r in graph.read(
        "MATCH (a:Gene)-[r:INFERRED_INTERACTION]->(b:Gene) WHERE a.symbol IN $nodes AND "
        f"b.symbol IN $nodes AND {spec.where()} RETURN a.symbol AS s, b.symbol AS t, r.score AS score",
        {**spec.params(), "nodes": list(genes)})]


def reference_edges_among(graph: Graph, genes: list[str]) -> list[dict]:
    """Pairs of ``genes`` a reference relates (INTERACTS_WITH or REGULATES, either direction): ``s``
    < ``t`` and the relationship ``types``."""
    return [dict(r) for r in graph.read(
        "MATCH (a:Gene)-[r:INTERACTS_WITH|REGULATES]-(b:Gene) WHERE a.symbol IN $nodes AND "
        "b.symbol IN $nodes AND a.symbol < b.symbol "
        "RETURN a.symbol AS s, b.symbol AS t, collect(DISTINCT type(r)) AS types", {"nodes": list(genes)})]


def stored_communities(graph: Graph, network_name: str, genes: list[str]) -> dict[str, int]:
    """The stored community of each of ``genes`` in the network kind's last analysis (genes outside
    it are absent)."""
    prop = property_names(network_name)["community"]  # a fixed property name, never user input
    rows = graph.read(f"MATCH (g:Gene) WHERE g.symbol IN $nodes RETURN g.symbol AS s, g.{prop} AS c",
                      {"nodes": list(genes)})
    return {r["s"]: r["c"] for r in rows if r["c"] is not None}
