"""Scoring an inferred gene network against a reference network: AUPRC, precision@k, the prior.

What is counted is described in :mod:`lpm_kg.discovery.networks` (Evaluation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lpm_kg.gene_network import GeneNetwork, NetworkError, Reference

KS = (10, 50, 100, 500)


def average_precision(labels, scores) -> float:
    """Average precision (area under the precision-recall curve as a step function), as
    scikit-learn's ``average_precision_score``: sum over distinct score thresholds t, from the
    highest, of (recall(t) - recall(previous t)) * precision(t). Tied scores share one threshold.
    NaN scores rank last. NaN if there is no positive."""
    y = np.asarray(labels, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels for {len(s)} scores")
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # last index of each run of ties
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def precision_at_k(labels, scores, k: int) -> float:
    """Share of positives among the ``k`` best-scored items (ties broken by position; NaN last).
    With fewer than ``k`` items, among all of them."""
    y = np.asarray(labels, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not len(y):
        return float("nan")
    s = np.where(np.isnan(s), -np.inf, s)
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean())


def candidate_pairs(genes: Sequence[str], reference: Reference) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, label) over ``genes`` (sorted): the pairs of genes both in the reference's universe,
    i < j, labelled by whether the reference relates them."""
    genes = list(genes)
    index = {g: k for k, g in enumerate(genes)}
    inside = np.flatnonzero([g in reference.genes for g in genes])
    a, b = np.triu_indices(len(inside), k=1)
    i, j = inside[a], inside[b]
    related = np.zeros((len(genes), len(genes)), bool)
    for x, y in reference.pairs:
        if x in index and y in index:
            related[index[x], index[y]] = related[index[y], index[x]] = True
    return i, j, related[i, j]


def evaluate(network: GeneNetwork, reference: Reference, ks: Sequence[int] = KS,
             candidates: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict:
    """AUPRC, precision@k and the prior of one network on one reference (see the module docstring)."""
    i, j, labels = candidates if candidates is not None else candidate_pairs(network.genes, reference)
    scores = network.scores[i, j]
    n, n_pos = len(labels), int(labels.sum())
    prior = n_pos / n if n else float("nan")
    auprc = average_precision(labels, scores) if n_pos else float("nan")
    out = {"method": network.method, "reference": reference.name, "auprc": auprc, "prior": prior,
           "lift": auprc / prior if n_pos else float("nan"), "n_candidates": n, "n_positives": n_pos,
           "n_genes": int(len(np.union1d(i, j))), "n_unscored": int(np.isnan(scores).sum())}
    for k in ks:
        out[f"p@{k}"] = precision_at_k(labels, scores, k) if n else float("nan")
    return out


def compare(networks: Mapping[str, GeneNetwork], references: Mapping[str, Reference],
            ks: Sequence[int] = KS) -> pd.DataFrame:
    """One row per (method, reference); all methods on one reference share its candidate pairs."""
    genes = {tuple(n.genes) for n in networks.values()}
    if len(genes) > 1:
        raise NetworkError("the networks to compare score different genes; infer them with infer_networks")
    rows = []
    for name, ref in references.items():
        cand = candidate_pairs(next(iter(networks.values())).genes, ref) if networks else None
        for net in networks.values():
            rows.append({**evaluate(net, ref, ks, cand), "reference": name})
    cols = ["reference", "method", "auprc", "prior", "lift", *[f"p@{k}" for k in ks], "n_candidates",
            "n_positives", "n_genes", "n_unscored"]
    return pd.DataFrame(rows, columns=cols)


def format_table(table: pd.DataFrame) -> str:
    """The comparison as aligned text."""
    if table.empty:
        return "(no reference has a candidate pair)"
    shown = table.copy()
    for col in shown.columns:
        if col in ("auprc", "prior", "lift", "tail_recall", "tail_recall_null", "auprc_null") or col.startswith("p@"):
            shown[col] = shown[col].map(lambda v: "nan" if pd.isna(v) else f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}")
        elif col.endswith("_p"):
            shown[col] = shown[col].map(lambda v: "nan" if pd.isna(v) else f"{v:.3g}")
    return shown.to_string(index=False)


def metrics_payload(table: pd.DataFrame, networks: Mapping[str, GeneNetwork], *, top: int | None) -> dict:
    """The evaluation as the nested dict stored under ``metrics.network``:
    ``{method: {reference: {auprc, prior, lift, p@k..., n_candidates, n_positives}}, ...}`` plus
    ``references`` (prior and counts per reference), ``methods`` (what each inferred) and ``top``."""
    by_method: dict = {}
    refs: dict = {}
    for row in table.to_dict("records"):
        values = {k: v for k, v in row.items() if k not in ("method", "reference")}
        by_method.setdefault(row["method"], {})[row["reference"]] = values
        refs[row["reference"]] = {k: row[k] for k in ("prior", "n_candidates", "n_positives", "n_genes")}
    info = {m: {k: v for k, v in n.info.items() if not isinstance(v, np.ndarray)} for m, n in networks.items()}
    return {"scores": by_method, "references": refs, "methods": info, "top": top}
