"""Resolving the gene ids files use (symbols, previous symbols, aliases, Entrez, Ensembl) to genes.

One Gene node per gene, whatever id a file used: the resolver maps every id to the approved
symbol. It is built from the gene table loaded into the graph (``--format hgnc``), so every loader
resolves through the same map.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd

_ENSEMBL_RE = re.compile(r"^ENS[A-Z]*G\d+(\.\d+)?$")


@dataclass
class Resolution:
    """The outcome for a list of ids: symbols (None where unresolved) and why each failed."""

    ids: list[str]
    symbols: list[str | None]
    unknown: list[str]
    ambiguous: dict[str, list[str]]

    @property
    def n_failed(self) -> int:
        return len(self.unknown) + len(self.ambiguous)


class GeneResolver:
    """Maps gene ids to approved symbols.

    Precedence: approved symbol, Entrez id, Ensembl id (any version suffix), then a previous symbol
    and last an alias, each used only when it names exactly one gene. An id that names several
    genes is ambiguous and never guessed.
    """

    def __init__(self, genes: pd.DataFrame):
        # Columns: symbol, entrez, ensembl, prev_symbols (list), aliases (list).
        self.symbols: set[str] = set(genes["symbol"])
        self._upper = {s.upper(): s for s in self.symbols}
        self._entrez: dict[str, str] = {}
        self._ensembl: dict[str, str] = {}
        prev: dict[str, set[str]] = defaultdict(set)
        alias: dict[str, set[str]] = defaultdict(set)
        for row in genes.itertuples(index=False):
            if isinstance(row.entrez, str) and row.entrez:
                self._entrez[row.entrez] = row.symbol
            if isinstance(row.ensembl, str) and row.ensembl:
                self._ensembl[row.ensembl] = row.symbol
            for p in row.prev_symbols if isinstance(row.prev_symbols, (list, tuple)) else ():
                prev[p.upper()].add(row.symbol)
            for a in row.aliases if isinstance(row.aliases, (list, tuple)) else ():
                alias[a.upper()].add(row.symbol)
        self._prev, self._alias = dict(prev), dict(alias)

    def __len__(self) -> int:
        return len(self.symbols)

    def _one(self, raw: str) -> tuple[str | None, list[str] | None]:
        text = str(raw).strip()
        if not text:
            return None, None
        upper = text.upper()
        if upper in self._upper:
            return self._upper[upper], None
        if text.isdigit() or (text.endswith(".0") and text[:-2].isdigit()):
            return self._entrez.get(text.removesuffix(".0")), None
        if _ENSEMBL_RE.match(upper):
            return self._ensembl.get(upper.split(".")[0]), None
        for table in (self._prev, self._alias):
            hits = table.get(upper)
            if hits:
                if len(hits) == 1:
                    return next(iter(hits)), None
                return None, sorted(hits)
        return None, None

    def resolve(self, ids) -> Resolution:
        ids = [str(i) for i in ids]
        cache: dict[str, tuple[str | None, list[str] | None]] = {}
        symbols, unknown, ambiguous = [], [], {}
        for i in ids:
            if i not in cache:
                cache[i] = self._one(i)
                sym, amb = cache[i]
                if sym is None:
                    if amb:
                        ambiguous[i] = amb
                    else:
                        unknown.append(i)
            symbols.append(cache[i][0])
        return Resolution(ids, symbols, unknown, ambiguous)
