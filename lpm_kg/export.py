"""The graph as a PyTorch Geometric ``HeteroData`` and a gene network as a networkx graph.

::

    from lpm_kg.export import to_hetero_data, to_networkx
    data = to_hetero_data(graph, measurements=True)
    data["perturbation"].x, data["perturbation"].symbol[:3]
    data["gene", "inferred_interaction", "gene"].edge_attr   # scores, [E, 1]
    g = to_networkx(graph, "string")                         # nx.Graph, edge attribute weight

Nodes (:data:`NODE_TYPES`): every ``Gene``, ``Perturbation``, ``Readout``, ``Context`` and
``Compound`` node, ordered by key. Each node type has ``num_nodes`` and ``symbol`` (the node keys as
a list of str: the ``symbol`` of genes, perturbations, readouts and contexts, the ``name`` of
compounds), so index ``i`` of a type is ``data[type].symbol[i]``. Perturbations, readouts and
contexts carry ``x``, their current embeddings (``embedding`` property; float32 ``[N, dim]``), with
``embedding_run`` naming the run, when at least one node of the type has one; where only some do,
the others' rows are zero and ``has_embedding`` (bool ``[N]``) says which are real. With
``embeddings_run`` the vectors come from that run's Embedding history instead. Genes and
compounds have no ``x``. Perturbations also carry ``kind`` (genetic / chemical / control /
combination), a list of str.

Edges (:data:`EDGE_TYPES`), one per relationship, in ``(source, relation, target)`` order:

* ``(perturbation, targets, gene)``, ``(readout, of_gene, gene)``, ``(compound, has_target, gene)``;
* ``(gene, interacts_with, gene)``: STRING, ``edge_attr`` = ``[score]`` in the file's units
  (0-1000), ``dataset`` (list of str);
* ``(gene, regulates, gene)``: DoRothEA / TRRUST, TF -> target, ``edge_attr`` = ``[sign]`` (+1
  activation, -1 repression, 0 unknown or both), ``dataset``;
* ``(gene, inferred_interaction, gene)``: one model run's inferred edges (``inferred``: the newest
  run with such edges by default, a run id, or None for none; ``inferred_method``: one method or
  all), ``edge_attr`` = ``[score]``, ``rank`` (long), ``method`` (list of str), and the store's
  ``run``;
* with ``measurements``, ``(perturbation, changes, readout)``: the experiments' ``CHANGES``
  relationships (their strongest effects), ``edge_attr`` = ``[value]``, ``context`` (long, an
  index into the context nodes), ``rank``; ``datasets`` restricts them to some measurement datasets.

Undirected relations (STRING, inferred) are stored once per pair, as in the graph; apply
``torch_geometric.transforms.ToUndirected()`` for message passing both ways. Every edge type is
present, empty (``edge_index`` ``[2, 0]``) when the graph has none, so ``data.metadata()`` is the same
for every graph. :func:`save_hetero_data` stores it with ``torch.save``; :func:`load_hetero_data` loads
it with ``weights_only=True`` (only PyG's storage classes are allowed beyond tensors and plain
containers, so a file can run no code when loaded).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lpm_kg.analytics import inferred_run, resolve_network
from lpm_kg.graph.analyses import NETWORKS, NetworkSpec, network_edges
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.embeddings import current_embedding_rows, read_embeddings
from lpm_kg.graph.pull import pull_columns

#: node type -> (label, key property). Fixed strings: the only names pasted into Cypher.
NODE_TYPES: dict[str, tuple[str, str]] = {
    "gene": ("Gene", "symbol"),
    "perturbation": ("Perturbation", "symbol"),
    "readout": ("Readout", "symbol"),
    "context": ("Context", "symbol"),
    "compound": ("Compound", "name"),
}
EMBEDDED = {"perturbation": "perturbations", "readout": "readouts", "context": "contexts"}

#: edge type -> relationship type (fixed strings).
EDGE_TYPES: dict[tuple[str, str, str], str] = {
    ("perturbation", "targets", "gene"): "TARGETS",
    ("readout", "of_gene", "gene"): "OF_GENE",
    ("compound", "has_target", "gene"): "HAS_TARGET",
    ("gene", "interacts_with", "gene"): "INTERACTS_WITH",
    ("gene", "regulates", "gene"): "REGULATES",
    ("gene", "inferred_interaction", "gene"): "INFERRED_INTERACTION",
}
CHANGES = ("perturbation", "changes", "readout")


def _torch():
    import torch

    return torch


def _nodes(graph: Graph, node_type: str, embeddings_run: str | None) -> dict:
    label, key = NODE_TYPES[node_type]
    columns = {"k": f"n.{key}"}
    if node_type == "perturbation":
        columns["kind"] = "coalesce(n.kind, '')"
    frame = pull_columns(graph, f"MATCH (n:{label}) WITH n ORDER BY n.{key}", columns)
    out = {"symbol": frame["k"].tolist()}
    if node_type == "perturbation":
        out["kind"] = frame["kind"].tolist()
    if node_type in EMBEDDED and embeddings_run is None:
        rows = current_embedding_rows(graph, label, key)
        index = {k: i for i, k in enumerate(out["symbol"])}
        out["vectors"] = [None] * len(index)
        for k, vector, _ in rows:
            out["vectors"][index[k]] = vector
        out["runs"] = sorted({run for _, _, run in rows if run is not None})
    return out


def _embeddings(node: dict, node_type: str, graph: Graph, embeddings_run: str | None) -> dict:
    """``x``, ``has_embedding`` and ``embedding_run`` of an embedded node type (or {})."""
    torch = _torch()
    n = len(node["symbol"])
    if embeddings_run is not None:
        symbols, vectors = read_embeddings(graph, embeddings_run, EMBEDDED[node_type])
        index = {s: i for i, s in enumerate(node["symbol"])}
        rows = [(index[s], v) for s, v in zip(symbols, vectors) if s in index]
        runs = [embeddings_run] if rows else []
    else:
        rows = [(i, v) for i, v in enumerate(node["vectors"]) if v is not None]
        runs = node["runs"]
    if not rows:
        return {}
    dim = len(rows[0][1])
    x = np.zeros((n, dim), dtype=np.float32)
    mask = np.zeros(n, dtype=bool)
    for i, v in rows:
        x[i] = v
        mask[i] = True
    out = {"x": torch.from_numpy(x), "embedding_run": runs[0] if len(runs) == 1 else runs}
    if not mask.all():
        out["has_embedding"] = torch.from_numpy(mask)
    return out


def _index(keys: list, values) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    idx = pd.Index(keys).get_indexer(pd.Index(list(values)))
    if (idx < 0).any():  # cannot happen: every node of the type is exported
        raise RuntimeError("an edge names a node that was not exported")
    return idx.astype(np.int64)


def _edge_index(src_keys, dst_keys, src, dst):
    torch = _torch()
    if len(src) == 0:
        return torch.zeros((2, 0), dtype=torch.long)
    return torch.from_numpy(np.stack([_index(src_keys, src), _index(dst_keys, dst)]))


def _column(values, dtype=np.float32):
    torch = _torch()
    return torch.from_numpy(np.asarray(values, dtype=dtype).reshape(-1, 1))


def _latest_inferred(graph: Graph, inferred: str | None, method: str | None) -> NetworkSpec | None:
    if inferred is None:
        return None
    chosen = inferred_run(graph, None if inferred == "latest" else inferred, method)
    return None if chosen is None else NetworkSpec(NETWORKS["inferred"], run=chosen["run"], method=method)


_SIGN = {"Activation": 1.0, "Repression": -1.0}


def to_hetero_data(graph: Graph, *, inferred: str | None = "latest", inferred_method: str | None = None,
                   measurements: bool = False, datasets: Sequence[str] | None = None,
                   embeddings_run: str | None = None):
    """The graph as a ``torch_geometric.data.HeteroData`` (see the module docstring)."""
    from torch_geometric.data import HeteroData

    torch = _torch()
    data = HeteroData()
    nodes = {t: _nodes(graph, t, embeddings_run) for t in NODE_TYPES}
    for t, node in nodes.items():
        store = data[t]
        store.num_nodes = len(node["symbol"])
        store.symbol = node["symbol"]
        if t == "perturbation":
            store.kind = node["kind"]
        if t in EMBEDDED:
            for k, v in _embeddings(node, t, graph, embeddings_run).items():
                store[k] = v

    spec = _latest_inferred(graph, inferred, inferred_method)
    for et, rel in EDGE_TYPES.items():
        (sl, sk), (dl, dk) = NODE_TYPES[et[0]], NODE_TYPES[et[2]]
        store = data[et]
        columns = {"s": f"a.{sk}", "t": f"b.{dk}"}
        if rel == "INFERRED_INTERACTION":
            if spec is None:
                store.edge_index = torch.zeros((2, 0), dtype=torch.long)
                store.edge_attr = torch.zeros((0, 1))
                continue
            frame = pull_columns(graph, f"MATCH (a:Gene)-[r:{rel} {{run: $run}}]->(b:Gene) "
                                 "WHERE $method IS NULL OR r.method = $method",
                                 {**columns, "score": "coalesce(toFloat(r.score), toFloat('NaN'))",
                                  "rank": "coalesce(r.rank, -1)", "method": "coalesce(r.method, '')"},
                                 {"run": spec.run, "method": spec.method})
        else:
            if rel in ("INTERACTS_WITH", "REGULATES"):
                columns.update(score="coalesce(toFloat(r.score), toFloat('NaN'))", mode="coalesce(r.mode, '')",
                               dataset="coalesce(r.dataset, '')")
            frame = pull_columns(graph, f"MATCH (a:{sl})-[r:{rel}]->(b:{dl})", columns)
        src = _index(nodes[et[0]]["symbol"], frame["s"])
        dst = _index(nodes[et[2]]["symbol"], frame["t"])
        frame = frame.iloc[np.lexsort((dst, src))].reset_index(drop=True)  # by source, then target node
        store.edge_index = _edge_index(nodes[et[0]]["symbol"], nodes[et[2]]["symbol"], frame["s"], frame["t"])
        if rel == "INTERACTS_WITH":
            store.edge_attr = _column(frame["score"])
            store.dataset = frame["dataset"].tolist()
        elif rel == "REGULATES":
            store.edge_attr = _column(frame["mode"].map(_SIGN).fillna(0.0))
            store.dataset = frame["dataset"].tolist()
        elif rel == "INFERRED_INTERACTION":
            store.edge_attr = _column(frame["score"])
            store.rank = torch.tensor(frame["rank"].to_numpy(np.int64), dtype=torch.long)
            store.method = frame["method"].tolist()
            store.run = spec.run

    if measurements:
        frame = pull_columns(graph, "MATCH (e:Experiment)-[c:CHANGES]->(r:Readout) "
                             "WHERE $datasets IS NULL OR e.dataset IN $datasets",
                             {"p": "e.perturbation", "r": "r.symbol", "c": "e.context",
                              "v": "coalesce(toFloat(c.value), toFloat('NaN'))", "k": "coalesce(c.rank, -1)"},
                             {"datasets": list(datasets) if datasets else None})
        src = _index(nodes["perturbation"]["symbol"], frame["p"])
        dst = _index(nodes["readout"]["symbol"], frame["r"])
        ctx = _index(nodes["context"]["symbol"], frame["c"])
        order = np.lexsort((frame["k"].to_numpy(), ctx, dst, src))
        store = data[CHANGES]
        store.edge_index = torch.from_numpy(np.stack([src[order], dst[order]])) if len(order) \
            else torch.zeros((2, 0), dtype=torch.long)
        store.edge_attr = _column(frame["v"].to_numpy()[order])
        store.context = torch.from_numpy(ctx[order])
        store.rank = torch.from_numpy(frame["k"].to_numpy(np.int64)[order])
    return data


def save_hetero_data(graph: Graph, path, **kwargs) -> dict:
    """:func:`to_hetero_data` saved with ``torch.save``; returns node and edge counts per type."""
    torch = _torch()
    data = to_hetero_data(graph, **kwargs)
    data.validate()
    torch.save(data, path)
    return {"nodes": {t: int(data[t].num_nodes) for t in data.node_types},
            "edges": {"__".join(t): int(data[t].edge_index.shape[1]) for t in data.edge_types}}


#: What an exported HeteroData holds besides tensors and plain containers (PyG allows HeteroData itself).
_PYG_STORAGES = ("BaseStorage", "NodeStorage", "EdgeStorage")


def load_hetero_data(path):
    """A file :func:`save_hetero_data` wrote, loaded with ``torch.load(..., weights_only=True)``."""
    torch = _torch()
    from torch_geometric.data import storage

    with torch.serialization.safe_globals([getattr(storage, name) for name in _PYG_STORAGES]):
        return torch.load(path, weights_only=True)


def to_networkx(graph: Graph, network: str = "inferred", *, run: str | None = None, method: str | None = None,
                datasets: Sequence[str] | None = None, min_score: float | None = None, directed: bool = False):
    """A gene network (:func:`lpm_kg.analytics.resolve_network` picks it, defaults as there) as a
    networkx ``Graph``, nodes the gene symbols, edge attribute ``weight`` (the largest ``|score|``
    of the pair's relationships, 1.0 without a score). ``directed`` gives a ``DiGraph`` with one
    edge per ordered pair, for ``regulates`` (TF -> target). The graph's ``graph`` dict names
    the network, run and method."""
    import networkx as nx

    spec = resolve_network(graph, network, run=run, method=method, datasets=datasets, min_score=min_score)
    edges = network_edges(graph, spec, directed=directed)
    g = nx.DiGraph() if directed else nx.Graph()
    g.graph.update({"network": spec.network.name, "rel_type": spec.network.rel_type, "run": spec.run,
                    "method": spec.method, "datasets": list(spec.datasets) if spec.datasets else None})
    g.add_weighted_edges_from(edges.itertuples(index=False, name=None))
    return g
