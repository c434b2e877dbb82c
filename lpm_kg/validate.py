"""Checks every loader applies, each failing with an :class:`InputError` that names the file,
the row or field, and the fix. Row numbers are 1-based data rows, as a spreadsheet shows them
after the header."""

from __future__ import annotations

import difflib
import gzip
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from lpm_kg.errors import InputError

# Measurements are stored as 32-bit floats: a larger magnitude would silently become infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)
NEWLINE = b"\n"
CORRUPT_FIX = "download or export the file again (for a .gz file, `gzip -t FILE` shows whether it is intact)"


def corrupt_file_error(file: str, exc: BaseException) -> InputError:
    """A compressed file that ends early or does not decompress."""
    detail = str(exc).splitlines()[0] if str(exc) else "unexpected end of data"
    return InputError(file, f"the file is truncated or corrupt ({type(exc).__name__}: {detail})", CORRUPT_FIX)


def float32_overflow_error(value, file: str, row, field: str) -> InputError:
    shown = repr(value) if isinstance(value, str) else f"{float(value):g}"
    return InputError(file, f"value {shown} is too large: measurements are stored as 32-bit floats, whose "
                      f"magnitude is at most {FLOAT32_MAX:.4g}", "fix the value (a typo?) or rescale the column",
                      row=row, field=field)


def _refuse_nul_bytes(path: Path, block: int = 1 << 22) -> None:
    """A NUL byte ends a field early in pandas' parser (``drug\\0nul`` would load as ``drug``): refuse
    the file, naming the line, rather than store a cut symbol."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    line = 1
    try:
        with opener(path, "rb") as f:
            while chunk := f.read(block):
                at = chunk.find(b"\0")
                if at >= 0:
                    where = line + chunk.count(NEWLINE, 0, at)
                    raise InputError(str(path), f"line {where} holds a NUL byte, which would "
                                     "cut the field it is in", "remove the NUL bytes (e.g. `tr -d '\\000'`) or export "
                                     "the file again")
                line += chunk.count(NEWLINE)
    except (EOFError, zlib.error, OSError) as exc:
        raise corrupt_file_error(str(path), exc) from None


def read_table(path: Path, *, sep: str | None = None, header: int | None = 0, comment: str | None = None,
               dtype=None, usecols=None) -> pd.DataFrame:
    """Read CSV/TSV (optionally gzipped) or Parquet, turning parser failures into InputErrors."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "file not found", "check the path")
    if path.stat().st_size == 0:
        raise InputError(str(path), "the file is empty", "pass a file with a header and at least one data row")
    name = path.name.lower()
    if not name.endswith(".parquet"):
        _refuse_nul_bytes(path)
    try:
        if name.endswith(".parquet"):
            df = pd.read_parquet(path, columns=usecols)
        else:
            if sep is None:
                sep = "\t" if any(name.endswith(s) for s in (".tsv", ".tsv.gz", ".txt", ".txt.gz", ".tab")) else ","
            df = pd.read_csv(path, sep=sep, header=header, comment=comment, dtype=dtype, usecols=usecols,
                             low_memory=False)
    except pd.errors.EmptyDataError:
        raise InputError(str(path), "the file is empty", "pass a file with a header and at least one data row") from None
    except (EOFError, zlib.error) as exc:
        raise corrupt_file_error(str(path), exc) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise InputError(str(path), f"malformed file ({str(exc).splitlines()[0]})",
                         "check that it is a well-formed CSV/TSV/Parquet file with one header row and the same "
                         "number of fields on every row") from None
    if df.empty:
        raise InputError(str(path), "the file has a header but no data rows", "pass a file with data rows")
    if not name.endswith(".parquet") and not isinstance(df.index, pd.RangeIndex):
        # pandas silently turns surplus leading fields into an index and shifts every value right.
        raise InputError(str(path), "rows have more fields than the header", "remove the extra fields or quote "
                         "values that contain the separator", row=1)
    return df


def require_columns(df: pd.DataFrame, columns: list[str], file: str, *, what: str = "column") -> None:
    missing = [c for c in columns if c not in df.columns]
    if not missing:
        return
    c = missing[0]
    close = difflib.get_close_matches(c, [str(x) for x in df.columns], n=1, cutoff=0.6)
    hint = f"rename column '{close[0]}' to '{c}'" if close else f"add a '{c}' {what}"
    raise InputError(file, f"missing {what} '{c}' (found: {', '.join(map(str, df.columns[:12]))})",
                     f"{hint}, or map it with --option", field=c)


def numeric_column(series: pd.Series, file: str, field: str, *, row_offset: int = 1,
                   allow_nan: bool = False, float32: bool = False) -> np.ndarray:
    """The column as float64; names the first row that is not a finite number (or, with
    ``float32``, too large to store as a measurement)."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if allow_nan:
        bad &= series.notna().to_numpy() & ~series.astype(str).str.lower().isin(["nan", "na", ""]).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(file, f"value {series.iloc[i]!r} is not a finite number",
                         "replace it with a number, or drop the row", row=i + row_offset, field=field)
    if float32:
        big = np.abs(values) > FLOAT32_MAX
        if big.any():
            i = int(np.flatnonzero(big)[0])
            raise float32_overflow_error(series.iloc[i], file, i + row_offset, field)
    return values


def check_matrix_finite(values: np.ndarray, file: str, row_names, col_names, *, what: str = "value") -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputError(file, f"{what} {values[i, j]!r} is not a finite number",
                         "replace NaN/infinite entries with numbers or remove that row/column",
                         row=row_names[i], field=str(col_names[j]))
    big = np.abs(values) > FLOAT32_MAX
    if big.any():
        i, j = map(int, np.argwhere(big)[0])
        raise float32_overflow_error(float(values[i, j]), file, row_names[i], str(col_names[j]))


def check_no_duplicates(df: pd.DataFrame, key: list[str], file: str, *, row_offset: int = 1) -> None:
    dup = df.duplicated(subset=key, keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((df[key] == df[key].iloc[i]).all(axis=1).to_numpy())[0])
        values = ", ".join(f"{k}={df[k].iloc[i]!r}" for k in key)
        raise InputError(file, f"duplicate row ({values}) repeats row {first + row_offset}",
                         "remove the duplicate, or average replicates before loading", row=i + row_offset,
                         field="+".join(key))
