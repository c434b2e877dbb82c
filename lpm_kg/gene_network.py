"""The gene-network data types every layer shares: a scored network, a reference network and the
error both raise. They live below the graph layer, so storing a network (lpm_kg.graph.networks)
and inferring one (lpm_kg.discovery) both import them without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lpm_kg.errors import LpmKgError

DEFAULT_TOP = 2_000


class NetworkError(LpmKgError, ValueError):
    """A network inference or evaluation that cannot run as asked."""


@dataclass
class GeneNetwork:
    """Scores of every pair of ``genes`` (sorted symbols): ``scores[i, j] == scores[j, i]``,
    NaN on the diagonal and for pairs the method could not score."""

    method: str
    genes: list[str]
    scores: np.ndarray
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.genes)
        if self.scores.shape != (n, n):
            raise NetworkError(f"{self.method}: scores of shape {self.scores.shape} for {n} genes")
        if list(self.genes) != sorted(self.genes) or len(set(self.genes)) != n:
            raise NetworkError(f"{self.method}: genes must be unique and sorted")

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every unordered pair once, (i, j, score) with i < j (so genes[i] < genes[j])."""
        i, j = np.triu_indices(len(self.genes), k=1)
        return i, j, self.scores[i, j]

    def edges(self, top: int | None = DEFAULT_TOP, per_gene: int | None = None) -> pd.DataFrame:
        """The strongest scored pairs as ``source, target, score, rank`` (source < target, rank 1
        strongest). ``per_gene`` keeps a pair that is among the ``per_gene`` best of either of its
        genes; ``top`` then keeps the ``top`` best of those. Ties are broken by pair order."""
        i, j, s = self.pairs()
        ok = np.isfinite(s)
        i, j, s = i[ok], j[ok], s[ok]
        if per_gene is not None:
            keep = np.zeros(len(s), bool)
            idx = np.arange(len(s))
            for ends in (i, j):
                order = np.lexsort((idx, -s, ends))  # by gene, then best score first
                first = np.searchsorted(ends[order], ends[order], side="left")
                within = np.arange(len(order)) - first
                keep[order[within < per_gene]] = True
            i, j, s = i[keep], j[keep], s[keep]
        order = np.argsort(-s, kind="stable")
        if top is not None:
            order = order[:max(0, int(top))]
        g = np.asarray(self.genes, dtype=object)
        return pd.DataFrame({"source": g[i[order]], "target": g[j[order]], "score": s[order].astype(np.float64),
                             "rank": np.arange(1, len(order) + 1)})


@dataclass
class Reference:
    """A reference network: ``pairs`` (unordered, (a, b) with a < b) over the ``genes`` universe."""

    name: str  # the dataset that loaded it
    relation: str  # INTERACTS_WITH, REGULATES or MEMBER_OF
    format: str | None  # the loader (string, corum, dorothea, trrust, ...)
    source: str | None  # e.g. STRING, DoRothEA, TRRUST (None for complexes)
    genes: frozenset
    pairs: frozenset

    @property
    def kind(self) -> str:
        return (self.format or self.source or self.relation).lower()
