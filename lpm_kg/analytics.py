"""Communities and centrality on a gene network of the graph, with Graph Data Science when the
server has it and networkx otherwise.

::

    from lpm_kg.analytics import run_analytics
    result = run_analytics(graph)                        # the latest run's inferred network
    result = run_analytics(graph, "string", engine="networkx")
    result.engine, result.n_communities, result.modularity, result.table.head()

Networks
--------
The caller picks one of a fixed set (:data:`NETWORKS`); its relationship type is the only name
pasted into Cypher, everything else is a parameter:

* ``inferred``: ``(Gene)-[:INFERRED_INTERACTION {run, method, score, rank}]->(Gene)``, a model
  run's inferred gene-gene edges, filtered to one ``run`` (default: the newest run that has
  inferred edges, newest by its ModelRun's ``created_at``) and one ``method`` (default: the first
  of :data:`PREFERRED_METHODS` the run has, else its only method; a run with several others needs
  one named);
* ``string``: ``INTERACTS_WITH`` (STRING) reference edges; ``regulates``: ``REGULATES`` (DoRothEA,
  TRRUST). ``datasets`` restricts a reference network to the edges of some loads.

The network is analysed as undirected and weighted: one edge per unordered gene pair (a pair
stored in both directions or by two datasets becomes one edge), weighted by the largest
``|score|`` of its relationships, or 1.0 where they have no ``score`` (``REGULATES``). Its nodes
are the genes with at least one edge; self-loops are left out. ``min_score`` drops edges whose
``score`` is below it (edges with no score are kept).

Engines
-------
``gds`` projects the network with a Cypher aggregation (``gds.graph.project`` with the run and
method as query parameters: undirected, property ``weight``), streams ``gds.louvain``,
``gds.pageRank`` and ``gds.degree`` and drops the projection. ``networkx`` pulls the same edges
and runs ``louvain_communities`` and ``pagerank``. ``auto`` takes GDS when ``gds.version()`` answers
and networkx otherwise; the result's ``engine`` says which ran. Both use Louvain (resolution 1),
PageRank (damping 0.85) weighted by ``weight`` and normalised to sum 1, and the degree as the
number of neighbours. GDS runs single-threaded so a result is reproducible (``concurrency``).

Stored results (map-free)
-------------------------
Each network kind has its own Gene properties, so analyses of the inferred and the reference
networks live side by side and are one property lookup away::

    Gene.community_<network>   int, 0 = the largest community (sizes descending, then by smallest symbol)
    Gene.pagerank_<network>    float, the network's PageRank scores sum to 1
    Gene.degree_<network>      int, neighbours in the network

``<network>`` being ``inferred``, ``string`` or ``regulates``. A newer analysis of the same kind
replaces the older one (genes outside the new network lose the properties), like the current
``embedding`` of a Perturbation. What was analysed is recorded once, on
``(:NetworkAnalysis {network})``: ``rel_type``, ``run``, ``method``, ``datasets``, ``min_score``,
``engine``, ``n_nodes``, ``n_edges``, ``n_communities``, ``modularity``, ``seconds``,
``created_at``. For example, the genes sharing STAT1's inferred community, most central first::

    MATCH (g:Gene {symbol: 'STAT1'}), (h:Gene) WHERE h.community_inferred = g.community_inferred
    RETURN h.symbol, h.pagerank_inferred ORDER BY h.pagerank_inferred DESC
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lpm_kg.errors import LpmKgError
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.pull import pull_columns


class AnalyticsError(LpmKgError, ValueError):
    """A network that cannot be analysed as asked (unknown network, no edges, ambiguous method)."""


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
ENGINES = ("auto", "gds", "networkx")
#: Inference methods an inferred network defaults to, first present first (lpm_kg.discovery.networks:
#: the paper's route, then the embedding one; the baselines are never a default).
PREFERRED_METHODS = ("imputed-correlation", "embedding-similarity")


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
    """One concrete network: which relationships, filtered how. Build it with :func:`resolve_network`."""

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


def inferred_run(graph: Graph, run: str | None = None, method: str | None = None) -> dict | None:
    """The :func:`inferred_runs` entry of ``run`` (default: the newest; None when no run has
    inferred edges). A named run without inferred edges, or a named ``method`` the run lacks,
    raises :class:`AnalyticsError` naming what there is."""
    runs = inferred_runs(graph)
    if run is None:
        chosen = runs[0] if runs else None
    else:
        chosen = next((r for r in runs if r["run"] == run), None)
        if chosen is None:
            raise AnalyticsError(f"run {run!r} has no INFERRED_INTERACTION edges; runs that have: "
                                 f"{', '.join(r['run'] for r in runs[:10]) or 'none'}")
    if chosen is not None and method is not None and method not in chosen["methods"]:
        raise AnalyticsError(f"run {chosen['run']!r} has no inferred edges of method {method!r}; its methods: "
                             f"{', '.join(map(str, chosen['methods']))}")
    return chosen


def resolve_network(graph: Graph, name: str = "inferred", *, run: str | None = None, method: str | None = None,
                    datasets: Sequence[str] | None = None, min_score: float | None = None) -> NetworkSpec:
    """The concrete network ``name`` stands for, defaults filled in (see the module docstring)."""
    net = network(name)
    if not net.inferred:
        if run is not None or method is not None:
            raise AnalyticsError(f"run and method choose an inferred network; the {name} network is a reference")
        return NetworkSpec(net, datasets=tuple(datasets) if datasets else None,
                           min_score=None if min_score is None else float(min_score))
    if datasets:
        raise AnalyticsError("datasets choose edges of a reference network; an inferred network is chosen by run "
                             "and method")
    chosen = inferred_run(graph, run, method)
    if chosen is None:
        raise AnalyticsError("the graph holds no INFERRED_INTERACTION edges: infer a gene network from a model run "
                             "first, or analyse a reference network (string, regulates)")
    methods = chosen["methods"]
    if method is None:
        preferred = [m for m in PREFERRED_METHODS if m in methods]
        if preferred:
            method = preferred[0]
        elif len(methods) > 1:
            raise AnalyticsError(f"run {chosen['run']!r} has inferred edges of several methods "
                                 f"({', '.join(map(str, methods))}); name one")
        else:
            method = next(iter(methods))
    return NetworkSpec(net, run=chosen["run"], method=method, min_score=None if min_score is None else float(min_score))


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


@dataclass
class AnalyticsResult:
    spec: NetworkSpec
    engine: str  # "gds" or "networkx": what ran
    table: pd.DataFrame  # symbol, community, pagerank, degree; by pagerank descending
    n_edges: int
    modularity: float
    seconds: float
    engine_version: str | None = None
    written: bool = False
    properties: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step

    @property
    def n_nodes(self) -> int:
        return len(self.table)

    @property
    def n_communities(self) -> int:
        return int(self.table["community"].nunique()) if len(self.table) else 0

    def summary(self, top: int = 10) -> dict:
        """A JSON-able summary: the network, the engine, counts, modularity, the most central genes."""
        sizes = self.table["community"].value_counts().sort_index()
        return {"network": self.spec.network.name, "rel_type": self.spec.network.rel_type, "run": self.spec.run,
                "method": self.spec.method, "datasets": list(self.spec.datasets) if self.spec.datasets else None,
                "min_score": self.spec.min_score, "engine": self.engine, "engine_version": self.engine_version,
                "n_nodes": self.n_nodes, "n_edges": self.n_edges, "n_communities": self.n_communities,
                "community_sizes": [int(s) for s in sizes.head(top)], "modularity": self.modularity,
                "seconds": round(self.seconds, 3), "timings": self.timings, "written": self.written,
                "properties": self.properties,
                "top_pagerank": [{"symbol": r.symbol, "pagerank": float(r.pagerank), "community": int(r.community),
                                  "degree": int(r.degree)} for r in self.table.head(top).itertuples()]}


def _renumber(symbols: Sequence[str], labels: Sequence) -> np.ndarray:
    """Community labels as 0..k-1, largest community first, ties by its smallest symbol."""
    frame = pd.DataFrame({"s": list(symbols), "c": list(labels)})
    stats = frame.groupby("c")["s"].agg(["size", "min"]).sort_values(["size", "min"], ascending=[False, True])
    order = {c: i for i, c in enumerate(stats.index)}
    return frame["c"].map(order).to_numpy(dtype=np.int64)


def _table(symbols, communities, pagerank, degree) -> pd.DataFrame:
    pr = np.asarray(pagerank, dtype=np.float64)
    pr = pr / pr.sum() if pr.sum() > 0 else pr
    table = pd.DataFrame({"symbol": list(symbols), "community": _renumber(symbols, communities),
                          "pagerank": pr, "degree": np.asarray(degree, dtype=np.int64)})
    return table.sort_values(["pagerank", "symbol"], ascending=[False, True], ignore_index=True)


def modularity(edges: pd.DataFrame, table: pd.DataFrame) -> float:
    """Weighted modularity (resolution 1) of the table's partition of the edges' network."""
    if edges.empty:
        return 0.0
    import networkx as nx

    g = nx.Graph()
    g.add_weighted_edges_from(edges[["source", "target", "weight"]].itertuples(index=False, name=None))
    groups = table.groupby("community")["symbol"].apply(set).tolist()
    return float(nx.community.modularity(g, groups, weight="weight"))


class _Clock:
    """Seconds per step, for the result's ``timings``."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(self.timings.get(step, 0.0) + now - self._last, 4)
        self._last = now


def _run_networkx(edges: pd.DataFrame, seed: int, clock: _Clock) -> pd.DataFrame:
    import networkx as nx

    g = nx.Graph()
    g.add_weighted_edges_from(edges[["source", "target", "weight"]].itertuples(index=False, name=None))
    symbols = sorted(g.nodes)
    clock.lap("build")
    communities = nx.community.louvain_communities(g, weight="weight", resolution=1.0, seed=seed)
    label = {s: i for i, members in enumerate(communities) for s in members}
    clock.lap("louvain")
    pr = nx.pagerank(g, alpha=0.85, weight="weight", max_iter=1000, tol=1e-10)
    clock.lap("pagerank")
    return _table(symbols, [label[s] for s in symbols], [pr[s] for s in symbols], [g.degree(s) for s in symbols])


def _run_gds(graph: Graph, spec: NetworkSpec, concurrency: int, clock: _Clock) -> tuple[pd.DataFrame, int, float]:
    name = f"lpm-kg-analytics-{uuid.uuid4().hex[:12]}"
    params = {**spec.params(), "name": name}
    algo = {"name": name, "cfg": {"relationshipWeightProperty": "weight", "concurrency": concurrency}}
    try:
        projected = graph.query(spec.match() + "WITH gds.graph.project($name, a, b, "
                                "{relationshipProperties: {weight: w}}, {undirectedRelationshipTypes: ['*']}) AS g "
                                "RETURN g.nodeCount AS nodes, g.relationshipCount AS rels", params)
        clock.lap("project")
        if not projected or not projected[0]["nodes"]:
            return _table([], [], [], []), 0, 0.0
        n_edges = int(projected[0]["rels"]) // 2  # undirected: each edge is stored both ways
        mutated = graph.query("CALL gds.louvain.mutate($name, $cfg) YIELD modularity RETURN modularity",
                              {**algo, "cfg": {**algo["cfg"], "mutateProperty": "community"}})
        lou = graph.query("CALL gds.graph.nodeProperty.stream($name, 'community') YIELD nodeId, propertyValue "
                          "RETURN gds.util.asNode(nodeId).symbol AS s, propertyValue AS c", algo)
        clock.lap("louvain")
        pr = graph.query("CALL gds.pageRank.stream($name, $cfg) YIELD nodeId, score "
                         "RETURN gds.util.asNode(nodeId).symbol AS s, score",
                         {**algo, "cfg": {**algo["cfg"], "dampingFactor": 0.85, "maxIterations": 1000,
                                          "tolerance": 1e-10}})
        clock.lap("pagerank")
        deg = graph.query("CALL gds.degree.stream($name, {concurrency: $cfg.concurrency}) YIELD nodeId, score "
                          "RETURN gds.util.asNode(nodeId).symbol AS s, score", algo)
        clock.lap("degree")
    finally:
        graph.query("CALL gds.graph.drop($name, false) YIELD graphName RETURN graphName", {"name": name})
        clock.lap("drop")
    community = {r["s"]: r["c"] for r in lou}
    score = {r["s"]: r["score"] for r in pr}
    degree = {r["s"]: r["score"] for r in deg}
    symbols = sorted(community)
    return (_table(symbols, [community[s] for s in symbols], [score[s] for s in symbols],
                   [round(degree[s]) for s in symbols]), n_edges, float(mutated[0]["modularity"]))


def run_analytics(graph: Graph, network: str = "inferred", *, run: str | None = None, method: str | None = None,
                  datasets: Sequence[str] | None = None, min_score: float | None = None, engine: str = "auto",
                  write: bool = True, seed: int = 0, concurrency: int = 1) -> AnalyticsResult:
    """Louvain communities, PageRank and degree of a gene network (see the module docstring),
    written to its Gene properties when ``write``. ``seed`` seeds networkx's Louvain;
    ``concurrency`` is GDS's thread count (1: reproducible). ``modularity`` is the weighted
    modularity (resolution 1) of the partition found, as GDS's Louvain reports it or as
    :func:`modularity` computes it. The result's ``timings`` gives the seconds of each step."""
    if engine not in ENGINES:
        raise AnalyticsError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    started = time.perf_counter()
    clock = _Clock()
    spec = resolve_network(graph, network, run=run, method=method, datasets=datasets, min_score=min_score)
    version = gds_version(graph) if engine in ("auto", "gds") else None
    clock.lap("resolve")
    if engine == "gds" and version is None:
        raise AnalyticsError("the Graph Data Science plugin is not loaded on this server (`lpm-kg neo4j status` "
                             "lists plugins); use engine networkx or auto")
    use_gds = version is not None
    if use_gds:
        table, n_edges, score = _run_gds(graph, spec, concurrency, clock)
    else:
        import networkx as nx

        version = nx.__version__
        edges = network_edges(graph, spec)
        clock.lap("pull")
        table, n_edges = (_run_networkx(edges, seed, clock) if len(edges) else _table([], [], [], [])), len(edges)
        score = modularity(edges, table) if len(edges) else 0.0
        clock.lap("modularity")
    if table.empty:
        raise AnalyticsError(f"the {spec.describe()} has no edges")
    result = AnalyticsResult(spec, "gds" if use_gds else "networkx", table, n_edges, score, 0.0,
                             engine_version=version, properties=property_names(spec.network.name))
    result.seconds = time.perf_counter() - started
    if write:
        write_analytics(graph, result)
        result.written = True
        clock.lap("write")
    result.timings = clock.timings
    result.seconds = time.perf_counter() - started
    return result


def write_analytics(graph: Graph, result: AnalyticsResult) -> None:
    """Store a result: its network's Gene properties (replacing an older analysis of that network
    kind in one transaction) and its ``NetworkAnalysis`` node."""
    props = property_names(result.spec.network.name)
    c, p, d = props["community"], props["pagerank"], props["degree"]
    rows = [{"s": r.symbol, "c": int(r.community), "p": float(r.pagerank), "d": int(r.degree)}
            for r in result.table.itertuples()]
    spec = result.spec
    meta = {"network": spec.network.name, "rel_type": spec.network.rel_type, "run": spec.run, "method": spec.method,
            "datasets": list(spec.datasets) if spec.datasets else None, "min_score": spec.min_score,
            "engine": result.engine, "engine_version": result.engine_version, "n_nodes": result.n_nodes,
            "n_edges": result.n_edges, "n_communities": result.n_communities, "modularity": result.modularity,
            "seconds": result.seconds, "properties": [c, p, d]}

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
