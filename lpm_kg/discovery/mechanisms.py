"""Same-mechanism retrieval for compounds, scored against a label-permutation null (NumPy only).

Each compound with a mechanism of action (MOA) that another scored compound shares is a query: the
other compounds are ranked by similarity to it, and those sharing one of its MOAs are the relevant
ones. Per query: average precision (AP) and recall among the best ``k``. The map's score is the
mean over queries (mAP), against a null where the compounds' MOA sets are shuffled among the
annotated compounds (every class keeps its size, so the null's mAP is what the class sizes alone
give). Two maps are compared per query: one-sided Wilcoxon signed-rank over the queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lpm_kg.eval.stats import wilcoxon_greater

KS = (1, 5, 10)
N_NULL = 1000


def _relevance(labels: Sequence[frozenset]) -> np.ndarray:
    """[n, n] True where two compounds share a label (diagonal False)."""
    n = len(labels)
    out = np.array([[bool(labels[a] & labels[b]) for b in range(n)] for a in range(n)], bool).reshape(n, n)
    np.fill_diagonal(out, False)
    return out


def _query_scores(similarity: np.ndarray, relevant: np.ndarray, ks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per compound: AP of its relevant compounds among the others and recall@k ([n], [n, len(ks)]);
    NaN for a compound with nothing relevant. A NaN similarity ranks last."""
    n = len(similarity)
    ap = np.full(n, np.nan)
    rec = np.full((n, len(ks)), np.nan)
    for q in np.flatnonzero(relevant.any(axis=1)):
        others = np.r_[0:q, q + 1:n]
        s = np.where(np.isfinite(similarity[q, others]), similarity[q, others], -np.inf)
        y = relevant[q, others][np.argsort(-s, kind="stable")]
        hits = np.cumsum(y)
        ap[q] = float(np.sum(y * hits / np.arange(1, len(y) + 1)) / y.sum())
        rec[q] = [hits[min(k, len(y)) - 1] / y.sum() for k in ks]
    return ap, rec


@dataclass
class MechanismReport:
    """One row per map in ``table`` (mAP, recall@k, the null's mAP and the permutation p), and each
    map's per-query AP for paired tests."""

    table: pd.DataFrame
    query_ap: dict[str, np.ndarray]
    compounds: list[str]
    info: dict = field(default_factory=dict)


def score_retrieval(maps: Mapping[str, tuple[list[str], np.ndarray]], moas: Mapping[str, Sequence[str]], *,
                    ks: Sequence[int] = KS, n_null: int = N_NULL, seed: int = 0,
                    compounds: Sequence[str] | None = None) -> MechanismReport:
    """``maps``: name -> (compound names, [n, n] similarity); ``moas``: compound -> MOA names.
    Scored on the compounds every map has and that carry a MOA (or ``compounds``)."""
    if compounds is None:
        common = None
        for names, _ in maps.values():
            common = set(names) if common is None else common & set(names)
        compounds = sorted(c for c in (common or ()) if moas.get(c))
    compounds = list(compounds)
    labels = [frozenset(moas.get(c, ())) for c in compounds]
    relevant = _relevance(labels)
    rng = np.random.default_rng(seed)
    nulls = [_relevance([labels[k] for k in rng.permutation(len(labels))]) for _ in range(n_null)]
    rows, query_ap = [], {}
    for name, (names, sim) in maps.items():
        at = {c: k for k, c in enumerate(names)}
        rows_ = np.array([at[c] for c in compounds], dtype=np.int64)
        s = np.asarray(sim, np.float64)[np.ix_(rows_, rows_)]
        ap, rec = _query_scores(s, relevant, ks)
        null_map = np.array([np.nanmean(_query_scores(s, r, ks)[0]) for r in nulls])
        m = float(np.nanmean(ap))
        row = {"map": name, "n_compounds": len(compounds), "n_queries": int(np.isfinite(ap).sum()), "map_score": m,
               "map_null": float(np.mean(null_map)) if n_null else np.nan,
               "p_value": float((1 + np.sum(null_map >= m - 1e-12)) / (1 + n_null)) if n_null else np.nan}
        row.update({f"recall@{k}": float(np.nanmean(rec[:, n])) for n, k in enumerate(ks)})
        rows.append(row)
        query_ap[name] = ap
    return MechanismReport(pd.DataFrame(rows), query_ap, compounds,
                           {"n_null": n_null, "seed": seed, "null": "MOA sets shuffled among the scored compounds",
                            "n_moas": len(set().union(*labels)) if labels else 0})


def compare(report: MechanismReport, leader: str, others: Sequence[str] | None = None) -> pd.DataFrame:
    """``leader`` against each other map, AP paired over queries (one-sided Wilcoxon both ways)."""
    out = []
    for other in others or [m for m in report.query_ap if m != leader]:
        a, b = report.query_ap[leader], report.query_ap[other]
        ok = np.isfinite(a) & np.isfinite(b)
        out.append({"leader": leader, "other": other, "n_queries": int(ok.sum()),
                    "ap_leader": float(np.mean(a[ok])) if ok.any() else np.nan,
                    "ap_other": float(np.mean(b[ok])) if ok.any() else np.nan,
                    "p_better": wilcoxon_greater(a, b), "p_worse": wilcoxon_greater(b, a)})
    return pd.DataFrame(out)
