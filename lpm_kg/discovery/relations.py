"""Known gene relationships recovered from perturbation effects, scored EFAAR-style against a
degree-preserving null (NumPy only; no graph access).

A *map* is a similarity of every pair of perturbed genes (cosine of their embeddings or of their
measured profiles). Against a reference (CORUM complexes, STRING edges, Reactome or Hallmark
co-membership) it is scored by

- **tail recall** (Celik et al. 2024, EFAAR): the share of the reference's pairs whose similarity
  lies in the top or the bottom ``q`` (5 %) of all pairs of the evaluated genes. A map that knows
  nothing scores ``2 q``; the bottom tail counts because a complex's knock-downs can also
  oppose each other (a repressor and its target);
- **AUPRC**: average precision of the reference pairs among all pairs, ranked by similarity;
- each against **a degree-preserving null**: the reference rewired by double-edge swaps, so every
  gene keeps its number of partners. A map that only ranks hub genes' pairs high (a strong knock-down
  is similar to every other strong one) gains nothing from that against this null, as it would
  against shuffled labels. ``p = (1 + #{null >= observed}) / (1 + n_null)``;
- a **paired comparison** of two maps over genes: each gene's own AP of its known partners among
  the other genes, one-sided Wilcoxon signed-rank over the genes both maps score.

Every map is scored on the same genes (those every map scores and the reference knows), so their
numbers compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lpm_kg.discovery.network_metrics import average_precision
from lpm_kg.eval.stats import wilcoxon_greater
from lpm_kg.gene_network import GeneNetwork, NetworkError

TAIL = 0.05
N_NULL = 200
CURVE_POINTS = 50


@dataclass
class PairIndex:
    """The evaluated genes, every unordered pair of them once (``i < j``) and the reference's pairs
    among them as a boolean label per pair."""

    genes: list[str]
    i: np.ndarray
    j: np.ndarray
    labels: np.ndarray
    edges: np.ndarray  # [m, 2] the reference pairs, as gene indices (a < b)

    @property
    def n_known(self) -> int:
        return int(self.labels.sum())

    def labels_of(self, edges: np.ndarray) -> np.ndarray:
        """Per-pair labels of an edge list over the same genes (a rewired reference)."""
        out = np.zeros(len(self.i), bool)
        out[pair_position(edges[:, 0], edges[:, 1], len(self.genes))] = True
        return out


def pair_position(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Where the unordered pair (a, b) of ``n`` genes sits in ``np.triu_indices(n, k=1)`` order,
    without an n x n table (a genome-wide screen has 10^4 genes)."""
    a, b = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    return a * n - a * (a + 1) // 2 + (b - a - 1)


def pair_index(genes: Sequence[str], reference_pairs) -> PairIndex:
    """Pairs of ``genes`` (sorted, unique) and the reference's among them; ``reference_pairs`` an
    iterable of (a, b) symbols (order and repeats do not matter)."""
    genes = sorted(set(genes))
    index = {g: k for k, g in enumerate(genes)}
    known = {(min(index[a], index[b]), max(index[a], index[b]))
             for a, b in reference_pairs if a in index and b in index and a != b}
    edges = np.array(sorted(known), np.int64).reshape(-1, 2)
    i, j = np.triu_indices(len(genes), k=1)
    index = PairIndex(genes, i, j, np.zeros(len(i), bool), edges)
    index.labels = index.labels_of(edges)
    return index


def rewire(edges: np.ndarray, n_nodes: int, rng: np.random.Generator, swaps_per_edge: float = 2.0) -> np.ndarray:
    """A degree-preserving random rewiring of an undirected simple graph (double-edge swaps:
    (u, v), (x, y) -> (u, x), (v, y) or (u, y), (v, x), refused when it would make a self-loop or a
    repeated edge). Every node keeps its degree."""
    m = len(edges)
    if m < 2:
        return edges.copy()
    e = edges.copy()
    keys = set((e[:, 0] * n_nodes + e[:, 1]).tolist())
    tries = int(swaps_per_edge * m)
    first, second = rng.integers(0, m, tries), rng.integers(0, m, tries)
    flip = rng.random(tries) < 0.5
    for a, b, f in zip(first.tolist(), second.tolist(), flip.tolist()):
        if a == b:
            continue
        u, v = int(e[a, 0]), int(e[a, 1])
        x, y = (int(e[b, 1]), int(e[b, 0])) if f else (int(e[b, 0]), int(e[b, 1]))
        if u == x or v == y or u == y or v == x:
            continue
        k1 = u * n_nodes + x if u < x else x * n_nodes + u
        k2 = v * n_nodes + y if v < y else y * n_nodes + v
        if k1 in keys or k2 in keys:
            continue
        keys.discard(int(e[a, 0]) * n_nodes + int(e[a, 1]))
        keys.discard(int(e[b, 0]) * n_nodes + int(e[b, 1]))
        keys.add(k1)
        keys.add(k2)
        e[a] = (min(u, x), max(u, x))
        e[b] = (min(v, y), max(v, y))
    return e


def null_edges(index: PairIndex, n_null: int = N_NULL, seed: int = 0) -> list[np.ndarray]:
    """``n_null`` degree-preserving rewirings of the reference, as edge lists."""
    rng = np.random.default_rng(seed)
    return [rewire(index.edges, len(index.genes), rng) for _ in range(n_null)]


def _null_chunks(index: PairIndex, nulls: list[np.ndarray], budget: int = 50_000_000):
    """The rewirings' per-pair labels, a few at a time ([k, pairs] with k * pairs <= ``budget``):
    never all of them at once for a large screen."""
    step = max(1, budget // max(len(index.i), 1))
    for start in range(0, len(nulls), step):
        yield np.stack([index.labels_of(e) for e in nulls[start:start + step]])


class _Ranked:
    """One map's pair scores sorted once, so that many label sets (the nulls) score fast."""

    def __init__(self, scores: np.ndarray, tail: float):
        s = np.where(np.isfinite(scores), scores, -np.inf)
        self.order = np.argsort(-s, kind="stable")
        ranked = s[self.order]
        self.last = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1]  # ends of tie runs
        finite = np.isfinite(scores)
        lo, hi = np.quantile(scores[finite], [tail, 1 - tail]) if finite.any() else (np.nan, np.nan)
        self.in_top = finite & (scores >= hi)
        self.in_tail = self.in_top | (finite & (scores <= lo))

    def auprc(self, labels: np.ndarray) -> np.ndarray:
        """AP of each row of ``labels`` ([k, pairs] or [pairs]); ties share a threshold."""
        y = np.atleast_2d(labels)[:, self.order]
        n_pos = y.sum(axis=1)
        tp = np.cumsum(y, axis=1, dtype=np.int64)[:, self.last]
        precision = tp / (self.last + 1)
        recall = tp / np.maximum(n_pos, 1)[:, None]
        step = np.diff(np.concatenate([np.zeros((len(y), 1)), recall], axis=1), axis=1)
        ap = (step * precision).sum(axis=1)
        return np.where(n_pos > 0, ap, np.nan)

    def recall(self, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        y = np.atleast_2d(labels)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (y & mask).sum(axis=1) / y.sum(axis=1)

    def curve(self, labels: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Recall of each label row among the best ``points`` (fractions of all pairs)."""
        y = np.atleast_2d(labels)[:, self.order]
        cum = np.cumsum(y, axis=1)
        at = np.clip(np.ceil(points * y.shape[1]).astype(int) - 1, 0, y.shape[1] - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return cum[:, at] / y.sum(axis=1, keepdims=True)


def per_gene_ap(similarity: np.ndarray, index: PairIndex) -> np.ndarray:
    """Each gene's AP of its known partners among the other evaluated genes (NaN for a gene
    without a partner): the unit of the paired comparison."""
    n = len(index.genes)
    related = np.zeros((n, n), bool)
    related[index.edges[:, 0], index.edges[:, 1]] = True
    related |= related.T
    out = np.full(n, np.nan)
    for g in np.flatnonzero(related.any(axis=1)):
        others = np.r_[0:g, g + 1:n]
        out[g] = average_precision(related[g, others], similarity[g, others])
    return out


@dataclass
class RelationReport:
    """What :func:`score_maps` measured: one row per map in ``table``, each map's per-gene AP
    (for paired tests), the recall curves with the null's band, and the nulls' settings."""

    reference: str
    table: pd.DataFrame
    gene_ap: dict[str, np.ndarray]
    curve_x: np.ndarray
    curves: dict[str, np.ndarray]
    null_band: dict[str, np.ndarray]  # map -> [3, points]: 5 %, 50 %, 95 % of the null curves
    info: dict = field(default_factory=dict)


def common_genes(maps: Mapping[str, GeneNetwork], universe=None) -> list[str]:
    """Genes every map scores (a finite similarity to some other gene), within ``universe``."""
    genes = None
    for network in maps.values():
        scored = {g for g, row in zip(network.genes, network.scores) if np.isfinite(row).any()}
        genes = scored if genes is None else genes & scored
    if universe is not None:
        genes &= set(universe)
    return sorted(genes or ())


def _on(network: GeneNetwork, genes: list[str]) -> np.ndarray:
    at = {g: k for k, g in enumerate(network.genes)}
    rows = np.array([at[g] for g in genes])
    return network.scores[np.ix_(rows, rows)].astype(np.float64)


def score_maps(maps: Mapping[str, GeneNetwork], reference_pairs, reference: str, *, universe=None,
               tail: float = TAIL, n_null: int = N_NULL, seed: int = 0, genes: Sequence[str] | None = None
               ) -> RelationReport:
    """Score every map of ``maps`` against the reference on the genes they all score (and
    ``universe``, the genes the reference annotates at all, when given): tail recall, AUPRC, each
    with its degree-preserving null and permutation p value, and per-gene AP."""
    if not maps:
        raise NetworkError("no map to score")
    genes = sorted(genes) if genes is not None else common_genes(maps, universe)
    index = pair_index(genes, reference_pairs)
    if index.n_known < 2:
        raise NetworkError(f"{reference}: {index.n_known} known pair(s) among the {len(genes)} evaluated genes")
    nulls = null_edges(index, n_null, seed)
    points = np.linspace(0.0, 1.0, CURVE_POINTS + 1)[1:]
    rows, gene_ap, curves, band = [], {}, {}, {}
    for name, network in maps.items():
        sim = _on(network, genes)
        ranked = _Ranked(sim[index.i, index.j], tail)
        recall = float(ranked.recall(index.labels, ranked.in_tail)[0])
        recall_top = float(ranked.recall(index.labels, ranked.in_top)[0])
        auprc = float(ranked.auprc(index.labels)[0])
        null_recall, null_auprc, null_curves = [np.zeros(0)], [np.zeros(0)], []
        for chunk in _null_chunks(index, nulls):
            null_recall.append(ranked.recall(chunk, ranked.in_tail))
            null_auprc.append(ranked.auprc(chunk))
            null_curves.append(ranked.curve(chunk, points))
        null_recall, null_auprc = np.concatenate(null_recall), np.concatenate(null_auprc)
        p = lambda null, obs: float((1 + np.sum(null >= obs - 1e-12)) / (1 + len(null)))  # noqa: E731
        rows.append({"map": name, "reference": reference, "n_genes": len(genes), "n_pairs": len(index.i),
                     "n_known": index.n_known, "tail_recall": recall, "top_recall": recall_top,
                     "tail_recall_null": float(np.mean(null_recall)) if n_null else np.nan,
                     "tail_recall_p": p(null_recall, recall) if n_null else np.nan,
                     "auprc": auprc, "auprc_prior": index.n_known / len(index.i),
                     "auprc_null": float(np.mean(null_auprc)) if n_null else np.nan,
                     "auprc_p": p(null_auprc, auprc) if n_null else np.nan})
        gene_ap[name] = per_gene_ap(sim, index)
        curves[name] = ranked.curve(index.labels, points)[0]
        if n_null:
            band[name] = np.nanquantile(np.concatenate(null_curves), [0.05, 0.5, 0.95], axis=0)
    table = pd.DataFrame(rows)
    table["gene_ap"] = [float(np.nanmean(gene_ap[m])) for m in table["map"]]
    return RelationReport(reference, table, gene_ap, points, curves, band,
                          {"tail": tail, "n_null": n_null, "seed": seed, "null": "degree-preserving double-edge swaps",
                           "genes": len(genes)})


def compare(report: RelationReport, leader: str, others: Sequence[str] | None = None) -> pd.DataFrame:
    """``leader`` against each other map: per-gene AP paired over genes, one-sided Wilcoxon p that
    the leader is better (and worse), and the difference of tail recall and AUPRC."""
    by_map = report.table.set_index("map")
    out = []
    for other in others or [m for m in by_map.index if m != leader]:
        a, b = report.gene_ap[leader], report.gene_ap[other]
        ok = np.isfinite(a) & np.isfinite(b)
        out.append({"reference": report.reference, "leader": leader, "other": other, "n_genes": int(ok.sum()),
                    "gene_ap_leader": float(np.mean(a[ok])) if ok.any() else np.nan,
                    "gene_ap_other": float(np.mean(b[ok])) if ok.any() else np.nan,
                    "p_better": wilcoxon_greater(a, b), "p_worse": wilcoxon_greater(b, a),
                    "tail_recall_diff": float(by_map.at[leader, "tail_recall"] - by_map.at[other, "tail_recall"]),
                    "auprc_diff": float(by_map.at[leader, "auprc"] - by_map.at[other, "auprc"])})
    return pd.DataFrame(out)


def significance(networks: Mapping[str, GeneNetwork], references: Mapping, n_null: int = N_NULL,
                 seed: int = 0) -> pd.DataFrame:
    """Per (reference, method): tail recall and the degree-preserving null's AUPRC, with their
    permutation p values, for networks over one gene list scored on each reference's candidate
    pairs (the genes the reference knows; an unscored pair ranks last). ``references``: name ->
    :class:`lpm_kg.gene_network.Reference`. A reference with fewer than two known pairs among the
    genes gets no row."""
    rows = []
    for name, ref in references.items():
        genes = sorted(set(next(iter(networks.values())).genes) & set(ref.genes)) if networks else []
        try:
            report = score_maps(networks, ref.pairs, name, genes=genes, n_null=n_null, seed=seed)
        except NetworkError:
            continue
        for row in report.table.to_dict("records"):
            rows.append({"reference": name, "method": row["map"], "tail_recall": row["tail_recall"],
                         "tail_recall_null": row["tail_recall_null"], "tail_recall_p": row["tail_recall_p"],
                         "auprc_null": row["auprc_null"], "auprc_p": row["auprc_p"]})
    return pd.DataFrame(rows, columns=["reference", "method", "tail_recall", "tail_recall_null", "tail_recall_p",
                                       "auprc_null", "auprc_p"])
