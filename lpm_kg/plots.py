"""Pictures of the graph and its model runs, written as PNG files.

::

    from lpm_kg.plots import embedding_map, gene_neighbourhood, bar_chart
    embedding_map(graph, "embedding-map.png")                  # perturbation embeddings, PCA, by MOA
    gene_neighbourhood(graph, "STAT1", "stat1.png", k=10)      # a gene's strongest inferred partners
    bar_chart(summary_frame, "pearson", "model", "bench.png", hue="target_context")

Everything is drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas: no pyplot, no
display, no global backend change, so it is safe to call from servers and tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lpm_kg.analytics import resolve_network
from lpm_kg.errors import AnalyticsError
from lpm_kg.graph.analyses import (
    analysis_record,
    gene_exists,
    inferred_edges_among,
    inferred_partners,
    reference_edges_among,
    stored_communities,
)
from lpm_kg.graph.compounds import perturbation_kinds
from lpm_kg.graph.embeddings import current_perturbation_embeddings, read_embeddings
from lpm_kg.graph.connection import Graph

OTHER = "other"
_GREY = "#b0b0b0"


def figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas, never through pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    return path


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


# --------------------------------------------------------------------------- (a) embedding map

def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal components of the rows (numpy SVD) and the share of variance each explains."""
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    if x.shape[0] < 2:
        return np.zeros((x.shape[0], 2)), np.zeros(2)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    coords = u[:, :2] * s[:2]
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])
    var = s ** 2
    explained = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    return coords, np.pad(explained, (0, 2 - len(explained)))


def perturbation_classes(graph: Graph, symbols: Sequence[str]) -> dict[str, str]:
    """Symbol -> the class a perturbation is coloured by: its compound's mechanism of action
    (``OF_COMPOUND`` -> Compound -``HAS_MOA``-> MOA; with several, the one most perturbations
    share, then alphabetically), ``compound: MOA unknown``, ``genetic: <method>``, ``control`` or
    ``combination``."""
    rows = perturbation_kinds(graph, symbols)
    counts = Counter(m for r in rows for m in r["moas"])
    out = {}
    for r in rows:
        if r["moas"]:
            out[r["s"]] = sorted(r["moas"], key=lambda m: (-counts[m], m))[0]
        elif r["kind"] == "genetic":
            out[r["s"]] = f"genetic: {r['method']}" if r["method"] else "genetic"
        elif r["kind"] == "chemical":
            out[r["s"]] = "compound: MOA unknown"
        else:
            out[r["s"]] = str(r["kind"] or "unknown")
    return out


def _perturbation_vectors(graph: Graph, run: str | None) -> tuple[list[str], np.ndarray, str | None]:
    if run is not None:
        symbols, vectors = read_embeddings(graph, run, "perturbations")
        return symbols, vectors, run
    symbols, vectors, runs = current_perturbation_embeddings(graph)
    return symbols, vectors, ", ".join(runs) or None


def embedding_map(graph: Graph, path, *, run: str | None = None, top: int = 10, title: str | None = None,
                  label_max: int = 30) -> dict:
    """A scatter of perturbation embeddings (the current ones, or run ``run``'s history) in their
    first two principal components, coloured by :func:`perturbation_classes`: the ``top`` most
    frequent classes in colour with a legend, the rest grey as ``other``; the coloured
    non-genetic points are named when there are at most ``label_max``. Returns the path, the
    number of points, the run, the classes shown with their counts and the explained variance."""
    symbols, vectors, run_name = _perturbation_vectors(graph, run)
    if not symbols:
        where = f"run {run!r} holds" if run else "the graph holds"
        raise AnalyticsError(f"{where} no perturbation embeddings: train and write back a model first (`lpm-kg sync`)")
    coords, explained = pca_2d(vectors)
    classes = perturbation_classes(graph, symbols)
    labels = np.array([classes.get(s, "unknown") for s in symbols], dtype=object)
    counts = Counter(labels.tolist())
    shown = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:top]
    colours = dict(zip(shown, _palette(len(shown))))

    fig = figure(9.5, 6.5)
    ax = fig.add_subplot(1, 1, 1)
    rest = ~np.isin(labels, shown)
    if rest.any():
        ax.scatter(coords[rest, 0], coords[rest, 1], s=12, c=_GREY, alpha=0.5, linewidths=0,
                   label=f"{OTHER} ({int(rest.sum())}, {len(counts) - len(shown)} classes)")
    for c in shown:  # the largest class first, so smaller ones are drawn on top
        m = labels == c
        genetic = c.startswith("genetic")  # knockdowns as dots, compounds as larger diamonds
        ax.scatter(coords[m, 0], coords[m, 1], s=20 if genetic else 46, marker="o" if genetic else "D",
                   color=colours[c], alpha=0.8 if genetic else 0.95, linewidths=0.4, edgecolors="white",
                   label=f"{c} ({int(m.sum())})")
    coloured = [i for i, c in enumerate(labels) if c in colours and not c.startswith("genetic")]
    if len(coloured) <= label_max:  # few coloured compounds: name them
        for i in coloured:
            ax.annotate(symbols[i], coords[i], xytext=(4, 3), textcoords="offset points", fontsize=6.5,
                        color="#333333")
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.set_title(title or f"Perturbation embeddings ({len(symbols)}), run {run_name or 'unknown'}", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              title="mechanism of action / kind", title_fontsize=9)
    ax.grid(alpha=0.2)
    out = save_figure(fig, path)
    return {"path": str(out), "n_points": len(symbols), "run": run_name,
            "classes": {c: counts[c] for c in shown}, "n_other": int(rest.sum()),
            "explained_variance": [float(e) for e in explained]}


# --------------------------------------------------------------------------- (b) gene neighbourhood

def neighbourhood(graph: Graph, gene: str, *, run: str | None = None, method: str | None = None,
                  k: int = 10) -> dict:
    """A gene's ``k`` strongest inferred partners (by score) in run ``run`` and ``method`` (defaults as
    :func:`lpm_kg.analytics.resolve_network`), the inferred edges among all of them, and which gene
    pairs of that set a reference (``INTERACTS_WITH`` or ``REGULATES``, either direction) relates."""
    if k < 1:
        raise AnalyticsError(f"k must be at least 1, not {k}")
    spec = resolve_network(graph, "inferred", run=run, method=method)
    partners = inferred_partners(graph, spec, gene, int(k))
    if not partners:
        raise AnalyticsError(f"gene {gene!r} has no inferred edges in run {spec.run} (method {spec.method})"
                             if gene_exists(graph, gene) else
                             f"there is no gene {gene!r} in the graph (use its approved symbol)")
    nodes = [gene] + [r["s"] for r in partners]
    edges = inferred_edges_among(graph, spec, nodes)
    reference = {frozenset((r["s"], r["t"])): sorted(r["types"]) for r in reference_edges_among(graph, nodes)}
    communities = {}
    record = analysis_record(graph, "inferred")
    if record and record.get("run") == spec.run and record.get("method") == spec.method:
        communities = stored_communities(graph, "inferred", nodes)
    inferred_pairs = {frozenset((r["s"], r["t"])) for r in edges}
    reference_only = [{"source": min(p), "target": max(p), "reference": types}
                      for p, types in sorted(reference.items(), key=lambda kv: sorted(kv[0]))
                      if p not in inferred_pairs]
    return {"gene": gene, "run": spec.run, "method": spec.method,
            "partners": [{"symbol": r["s"], "score": float(r["score"]),
                          "reference": reference.get(frozenset((gene, r["s"])), [])} for r in partners],
            "edges": [{"source": r["s"], "target": r["t"], "score": float(r["score"]),
                       "reference": reference.get(frozenset((r["s"], r["t"])), [])} for r in edges],
            "reference_only": reference_only,
            "communities": communities}


def gene_neighbourhood(graph: Graph, gene: str, path, *, run: str | None = None, method: str | None = None,
                       k: int = 10, seed: int = 0) -> dict:
    """Draw :func:`neighbourhood`: a spring layout of the gene (large) and its ``k`` strongest inferred
    partners, edge width by score, inferred edges a reference confirms in red, reference relations
    the model did not infer dashed grey; nodes coloured by inferred community when the stored
    analysis (:mod:`lpm_kg.analytics`) is of this run and method. Returns :func:`neighbourhood`'s
    dict with the path and ``n_confirmed`` (partners a reference relates to the gene)."""
    import networkx as nx
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    hood = neighbourhood(graph, gene, run=run, method=method, k=k)
    nodes = [gene] + [p["symbol"] for p in hood["partners"]]
    g = nx.Graph()
    g.add_nodes_from(nodes)
    scores = np.array([abs(e["score"]) for e in hood["edges"]]) if hood["edges"] else np.ones(1)
    lo, hi = float(scores.min()), float(scores.max())
    for e in hood["edges"]:
        g.add_edge(e["source"], e["target"], weight=abs(e["score"]))
    pos = nx.spring_layout(g, weight="weight", seed=seed, k=1.2 / np.sqrt(len(nodes)))

    fig = figure(8, 7)
    ax = fig.add_subplot(1, 1, 1)
    width = lambda s: 0.8 + 5.2 * ((abs(s) - lo) / (hi - lo) if hi > lo else 0.5)  # noqa: E731
    if hood["reference_only"]:
        ax.add_collection(LineCollection([(pos[e["source"]], pos[e["target"]]) for e in hood["reference_only"]],
                                         colors=_GREY, linewidths=1.0, linestyles="dashed", zorder=1))
    for confirmed, colour in ((False, "#6a8caf"), (True, "#d62728")):
        sel = [e for e in hood["edges"] if bool(e["reference"]) == confirmed]
        if sel:
            ax.add_collection(LineCollection([(pos[e["source"]], pos[e["target"]]) for e in sel], colors=colour,
                                             linewidths=[width(e["score"]) for e in sel], alpha=0.85, zorder=2))
    comms = hood["communities"]
    shown = sorted({comms[n] for n in nodes if n in comms})
    palette = dict(zip(shown, _palette(len(shown))))
    xy = np.array([pos[n] for n in nodes])
    colours = [palette.get(comms.get(n), "#9ecae1") for n in nodes]
    sizes = [900] + [420] * (len(nodes) - 1)
    ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=colours, edgecolors=["black"] + ["#333333"] * (len(nodes) - 1),
               linewidths=[2.0] + [0.6] * (len(nodes) - 1), zorder=3)
    for n, (x, y) in zip(nodes, xy):
        ax.annotate(n, (x, y), xytext=(0, -17 if n == gene else -13), textcoords="offset points", ha="center",
                    va="top", fontsize=10 if n == gene else 8, fontweight="bold" if n == gene else "normal",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}, zorder=4)
    handles = [Line2D([], [], color="#d62728", lw=3, label="inferred, in a reference"),
               Line2D([], [], color="#6a8caf", lw=3, label="inferred, not in a reference"),
               Line2D([], [], color=_GREY, lw=1, ls="--", label="reference only")]
    if shown:
        handles += [Line2D([], [], marker="o", ls="", color=palette[c], markersize=8, label=f"community {c}")
                    for c in shown]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              title=f"width: score ({lo:.2g} to {hi:.2g})", title_fontsize=8)
    n_confirmed = sum(1 for p in hood["partners"] if p["reference"])
    ax.set_title(f"{gene}: top {len(hood['partners'])} inferred partners, {n_confirmed} in a reference\n"
                 f"run {hood['run']}, method {hood['method']}", fontsize=10)
    ax.set_axis_off()
    ax.margins(0.12)
    ax.autoscale_view()
    out = save_figure(fig, path)
    return {**hood, "path": str(out), "n_confirmed": n_confirmed}


# --------------------------------------------------------------------------- (c) bar chart

def bar_chart(table, metric: str, by: str | Sequence[str], path, *, hue: str | None = None,
              title: str | None = None, ylabel: str | None = None, sort: bool = False) -> Path:
    """Bars of the mean of ``metric`` per value of ``by`` (a column, or columns joined with " / "),
    grouped by ``hue`` when given, with standard-deviation error bars where a bar averages several
    rows (e.g. seeds of a benchmark). ``table`` is a DataFrame or a list of dicts (e.g. the rows
    of :func:`lpm_kg.eval.benchmark.run_benchmark`). ``sort`` orders the ``by`` groups by their mean,
    largest first. Returns the path written."""
    frame = pd.DataFrame(table)
    by_cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [metric, *by_cols, *([hue] if hue else [])] if c not in frame.columns]
    if missing:
        raise ValueError(f"the table has no column(s) {', '.join(missing)}; "
                         f"columns: {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise ValueError("the table is empty: nothing to draw")
    frame = frame.assign(_by=frame[by_cols].astype(str).agg(" / ".join, axis=1),
                         _metric=pd.to_numeric(frame[metric], errors="coerce"))
    keys = ["_by"] + ([hue] if hue else [])
    stats = frame.groupby(keys, sort=True)["_metric"].agg(["mean", "std", "count"]).reset_index()
    groups = list(dict.fromkeys(frame["_by"]))  # first-appearance order
    if sort:
        order = stats.groupby("_by")["mean"].mean().sort_values(ascending=False)
        groups = list(order.index)
    hues = list(dict.fromkeys(frame[hue].astype(str))) if hue else [None]
    if hue:
        stats[hue] = stats[hue].astype(str)

    fig = figure(max(5.0, 0.55 * len(groups) * max(1, len(hues)) + 2.0), 4.8)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(groups))
    width = 0.8 / len(hues)
    colours = _palette(len(hues))
    for j, h in enumerate(hues):
        sub = stats if h is None else stats[stats[hue] == h]
        sub = sub.set_index("_by").reindex(groups)
        err = np.where(sub["count"].fillna(0).to_numpy() > 1, sub["std"].fillna(0).to_numpy(), 0.0)
        ax.bar(x + (j - (len(hues) - 1) / 2) * width, sub["mean"].to_numpy(), width * 0.95, yerr=err,
               capsize=3 if err.any() else 0, color=colours[j], label=h, error_kw={"elinewidth": 1})
    ax.set_xticks(x)
    long = max((len(g) for g in groups), default=0) > 10 or len(groups) > 8
    ax.set_xticklabels(groups, rotation=35 if long else 0, ha="right" if long else "center", fontsize=9)
    ax.set_ylabel(ylabel or metric)
    ax.set_xlabel(" / ".join(by_cols))
    ax.axhline(0, color="black", lw=0.6)
    ax.grid(axis="y", alpha=0.25)
    if hue:
        ax.legend(title=hue, fontsize=8, title_fontsize=9, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    n_rows = int(stats["count"].max()) if len(stats) else 0
    ax.set_title(title or (f"{metric} by {' / '.join(by_cols)}" + (f" (mean ± sd of up to {n_rows})" if n_rows > 1
                                                                   else "")), fontsize=11)
    return save_figure(fig, path)
