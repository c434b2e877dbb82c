"""Helpers the reference and annotation loaders share: gene ids resolved with a note of what did
not resolve, tables read with a check that no row is shifted, blank cells, lists in cells."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from lpm_kg.errors import InputError
from lpm_kg.validate import read_table

MISSING = {"", "none", "na", "n/a", "nan", "null", "-"}


# --------------------------------------------------------------------------- shared helpers

def resolve_ids(ctx, ids: list[str], rows: list[int], fields: str | list[str], *,
                what: str = "gene id") -> list[str | None]:
    """``ctx.resolve_genes`` for ids gathered from many rows (and columns) of a file.

    ``rows[i]`` and ``fields[i]`` say where ``ids[i]`` came from, so that an error names the
    file's row and column rather than the position in the flattened list.
    """
    field_list = [fields] * len(ids) if isinstance(fields, str) else list(fields)
    label = fields if isinstance(fields, str) else "/".join(dict.fromkeys(field_list))
    try:
        return ctx.resolve_genes(ids, field=label, what=what)
    except InputError as exc:
        if isinstance(exc.row, int) and 1 <= exc.row <= len(ids):
            i = exc.row - 1
            raise InputError(exc.file, exc.problem, exc.fix, row=rows[i], field=field_list[i]) from None
        raise


def prefer_resolvable(ctx, primary: list[str], fallback: list[str | None]) -> tuple[list[str], list[bool]]:
    """Per item, the primary id (e.g. Entrez) where it resolves, else the fallback (e.g. the
    symbol) where there is one. Entrez ids are stable where symbols are renamed, but a file's
    Entrez id can be newer than the gene map while its symbol is known. Returns the ids and
    whether each is the primary."""
    res = ctx.resolver.resolve(primary)
    ids, is_primary = [], []
    for p, sym, fb in zip(primary, res.symbols, fallback):
        use_primary = sym is not None or not fb or str(fb).strip().lower() in MISSING
        ids.append(p if use_primary else str(fb).strip())
        is_primary.append(use_primary)
    return ids, is_primary


def read_checked(path: Path, **kwargs) -> pd.DataFrame:
    """``read_table``, refusing a file whose first data rows have more fields than its header.

    pandas reads such rows by turning the extra leading fields into the index, which shifts every
    value one or more columns to the right without an error.
    """
    df = read_table(path, **kwargs)
    reject_shifted(df, str(path))
    return df


def reject_shifted(df: pd.DataFrame, file: str) -> None:
    if not isinstance(df.index, pd.RangeIndex):
        extra = df.index.nlevels
        raise InputError(file, f"data rows have {extra} more field(s) than the header ({len(df.columns)} columns), "
                         "so the values would be read under the wrong columns",
                         "give every row as many fields as the header: check for extra or trailing separators",
                         row=1)


def entrez_text(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.replace(r"\.0$", "", regex=True)


def is_blank(series: pd.Series) -> np.ndarray:
    return (series.isna() | series.astype(str).str.strip().str.lower().isin(MISSING)).to_numpy()


def require_filled(df: pd.DataFrame, column: str, file: str, *, row_offset: int = 1, what: str = "gene id") -> None:
    blank = is_blank(df[column])
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise InputError(file, f"empty {what}", "fill it in or drop the row", row=i + row_offset, field=column)


def add_note(ctx, key: str, n: int) -> None:
    if n:
        ctx.notes[key] = ctx.notes.get(key, 0) + int(n)


def split_list(value, sep: str = ";") -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [v.strip() for v in str(value).split(sep) if v.strip() and v.strip().lower() not in MISSING]


def open_text(path: Path):
    return gzip.open(path, "rt", errors="replace") if path.name.lower().endswith(".gz") else \
        open(path, encoding="utf-8", errors="replace")
