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

Stored results (map-free; :mod:`lpm_kg.graph.analyses` reads and writes them)
---------------------------------------------------------------------------
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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lpm_kg.errors import AnalyticsError
from lpm_kg.graph.analyses import (
    NetworkSpec,
    gds_communities,
    gds_version,
    inferred_runs,
    network,
    network_edges,
    property_names,
    write_analysis,
)
from lpm_kg.graph.connection import Graph


ENGINES = ("auto", "gds", "networkx")
#: Inference methods an inferred network defaults to, first present first (lpm_kg.discovery.networks:
#: the paper's route, then the embedding one; the baselines are never a default).
PREFERRED_METHODS = ("imputed-correlation", "embedding-similarity")


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
        community, pagerank, degree, n_edges, score = gds_communities(graph, spec, concurrency, clock.lap)
        symbols = sorted(community)
        table = _table(symbols, [community[s] for s in symbols], [pagerank[s] for s in symbols],
                       [degree[s] for s in symbols])
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
        write_analysis(graph, spec, table, {
            "engine": result.engine, "engine_version": result.engine_version, "n_nodes": result.n_nodes,
            "n_edges": result.n_edges, "n_communities": result.n_communities, "modularity": result.modularity,
            "seconds": result.seconds})
        result.written = True
        clock.lap("write")
    result.timings = clock.timings
    result.seconds = time.perf_counter() - started
    return result


