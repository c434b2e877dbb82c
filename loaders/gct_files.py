"""Connectivity Map matrix files as read and written: GCT 1.2/1.3 text, GCTX (HDF5, read in
chunks), the matrix + row/column metadata CSV triple cmapR exports, and a LINCS signature table
joined to a GCTX. Parsing only: what the columns mean is lpm_kg's loaders/lincs_fields.py."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lpm_kg.errors import InputError
from lpm_kg.validate import FLOAT32_MAX, float32_overflow_error, read_table


def check_unique_ids(ids, file: str, what: str, where) -> None:
    """Row (gene) and column (sample) ids must be unique; ``where(i)`` says where id ``i`` is."""
    s = pd.Series(list(ids), dtype=object)
    dup = s.duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((s == s.iat[i]).to_numpy())[0])
        raise InputError(file, f"{what} id {s.iat[i]!r} appears twice ({where(first)} and {where(i)})",
                         f"give every {what} a unique id, or remove the repeated {what}", field="id")


def parse_gct(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(matrix genes x samples, row metadata, column metadata) of a GCT 1.2 or 1.3 file."""
    file = str(path)
    if path.stat().st_size == 0:
        raise InputError(file, "the file is empty", "pass a GCT file")
    opener = __import__("gzip").open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        version = fh.readline().strip()
        dims = fh.readline().rstrip("\n").split("\t")
        header = fh.readline().rstrip("\r\n").split("\t")
    if version not in ("#1.2", "#1.3"):
        raise InputError(file, f"first line is {version[:20]!r}, not a GCT version", "pass a GCT 1.2 or 1.3 file",
                         row="1")
    try:
        n_rows, n_cols = int(dims[0]), int(dims[1])
        n_rdesc, n_cdesc = (int(dims[2]), int(dims[3])) if version == "#1.3" else (1, 0)
    except (ValueError, IndexError):
        raise InputError(file, f"second line {dims!r} does not give the matrix dimensions",
                         "write '<rows>\\t<columns>[\\t<row fields>\\t<column fields>]'", row="2") from None
    # pandas renames repeated column names (X, X.1), so repeated sample ids are checked on the raw header.
    first_sample = 2 if version == "#1.2" else n_rdesc + 1
    check_unique_ids(header[first_sample:], file, "column", lambda k: f"column {first_sample + k + 1} of line 3")
    try:
        raw = pd.read_csv(path, sep="\t", skiprows=2, header=0, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise InputError(file, f"malformed GCT body ({str(exc).splitlines()[0]})",
                         "every line needs the same number of tab-separated fields") from None
    if version == "#1.2":
        # GCT 1.2: Name, Description, then samples.
        row_meta = raw.iloc[:, :2].set_axis(["id", "Description"], axis=1)
        n_rdesc = 1
        col_meta = pd.DataFrame({"id": raw.columns[2:]})
        body = raw.iloc[:, 2:]
    else:
        row_fields = list(raw.columns[:n_rdesc + 1])
        col_meta = raw.iloc[:n_cdesc, n_rdesc + 1:].T
        col_meta.columns = raw.iloc[:n_cdesc, 0].tolist()
        col_meta.insert(0, "id", raw.columns[n_rdesc + 1:])
        row_meta = raw.iloc[n_cdesc:, :n_rdesc + 1].set_axis(row_fields, axis=1)
        body = raw.iloc[n_cdesc:, n_rdesc + 1:]
    if body.shape != (n_rows, n_cols):
        raise InputError(file, f"header promises {n_rows} x {n_cols} values but the body holds "
                         f"{body.shape[0]} x {body.shape[1]}", "fix the dimensions line or the truncated body", row="2")
    first_line = 4 + (n_cdesc if version == "#1.3" else 0)
    check_unique_ids(row_meta.iloc[:, 0], file, "row", lambda k: f"line {first_line + k}")
    values = body.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputError(file, f"value {body.iat[i, j]!r} is not a finite number", "replace it with a number",
                         row=f"{row_meta.iloc[i, 0]} (line {first_line + i})", field=str(col_meta['id'].iat[j]))
    big = np.abs(values) > FLOAT32_MAX
    if big.any():
        i, j = map(int, np.argwhere(big)[0])
        raise float32_overflow_error(body.iat[i, j], file, f"{row_meta.iloc[i, 0]} (line {first_line + i})",
                                     str(col_meta["id"].iat[j]))
    matrix = pd.DataFrame(values, index=row_meta.iloc[:, 0].to_numpy(), columns=col_meta["id"].to_numpy())
    return matrix, row_meta.reset_index(drop=True), col_meta.reset_index(drop=True)


class GctxMatrix:
    """The matrix of an open GCTX file, read a slice of columns (signatures) at a time: a LINCS
    level-5 file (720,216 x 12,328 float32, 35 GB) does not fit in memory."""

    def __init__(self, dataset, n_rows: int, n_cols: int, file: str):
        self.dataset, self.n_rows, self.n_cols = dataset, n_rows, n_cols
        # GCTX stores samples x genes (column-major from the GCT's point of view); a transposed
        # file (genes x samples) is read too.
        if dataset.shape == (n_cols, n_rows):
            self.samples_first = True
        elif dataset.shape == (n_rows, n_cols):
            self.samples_first = False
        else:
            raise InputError(file, f"matrix {dataset.shape} does not match {n_rows} row and {n_cols} column ids",
                             "rewrite the file with matching metadata")

    def block(self, start: int, stop: int, rows: np.ndarray) -> np.ndarray:
        """Values of the genes ``rows`` x columns ``start:stop``, in the file's dtype."""
        if self.samples_first:
            # A contiguous run of samples is a run of whole HDF5 chunks; genes are picked in memory.
            return self.dataset[start:stop, :][:, rows].T
        return self.dataset[:, start:stop][rows, :]


def parse_gctx(h5, file: str) -> tuple[GctxMatrix, pd.DataFrame, pd.DataFrame]:
    """(matrix, row metadata, column metadata) of an open GCTX file; the matrix stays on disk."""
    try:
        dataset = h5["0/DATA/0/matrix"]
        row_meta = _h5_meta(h5["0/META/ROW"])
        col_meta = _h5_meta(h5["0/META/COL"])
    except (OSError, KeyError) as exc:
        raise InputError(file, f"not a readable GCTX file ({exc})",
                         "pass an HDF5 file with /0/DATA/0/matrix and /0/META/ROW, /0/META/COL") from None
    check_unique_ids(row_meta["id"], file, "row", lambda k: f"/0/META/ROW/id[{k}]")
    check_unique_ids(col_meta["id"], file, "column", lambda k: f"/0/META/COL/id[{k}]")
    return GctxMatrix(dataset, len(row_meta), len(col_meta), file), row_meta, col_meta


def write_gctx(path: Path, row_meta: pd.DataFrame, col_meta: pd.DataFrame, blocks, *,
               chunks: tuple[int, int] | None = None) -> None:
    """Write a GCTX file: ``blocks`` yields float32 signatures x genes arrays, in column order, so a
    file larger than memory can be written. ``chunks`` are the HDF5 chunks (signatures, genes); cmapPy
    and the LINCS releases use chunks of about 1 MB. Metadata: numeric columns stay numeric, others
    become strings."""
    import h5py

    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("0/DATA/0/matrix", shape=(len(col_meta), len(row_meta)), dtype=np.float32,
                               chunks=chunks)
        at = 0
        for block in blocks:
            ds[at:at + len(block)] = block
            at += len(block)
        if at != len(col_meta):
            raise ValueError(f"blocks hold {at} signatures, the column metadata {len(col_meta)}")
        for group, meta in (("0/META/ROW", row_meta), ("0/META/COL", col_meta)):
            for col in meta.columns:
                v = meta[col]
                h5[f"{group}/{col}"] = v.to_numpy() if pd.api.types.is_numeric_dtype(v) and col != "id" \
                    else v.astype(str).str.encode("utf-8").to_numpy().astype("S")


def _h5_meta(group) -> pd.DataFrame:
    out = {}
    for key in group.keys():
        ds = group[key]
        # asstr() decodes a string dataset in C; 720k LINCS signature ids decode in a second.
        out[key] = ds.asstr()[()] if ds.dtype.kind in "SO" else ds[()]
    df = pd.DataFrame(out)
    return df[["id"] + [c for c in df.columns if c != "id"]]


def triple_files(path: Path, options) -> list[Path]:
    """The matrix and its row and column metadata files (``options``: the gct-csv options)."""
    name = path.name
    stem = re.sub(r"_?matrix.*$", "", name)
    row = options.row_meta or str(path.with_name(f"{stem}_row_meta.csv"))
    col = options.col_meta or str(path.with_name(f"{stem}_col_meta.csv"))
    return [path, Path(row), Path(col)]


def parse_triple(path: Path, options):
    matrix_file, row_file, col_file = triple_files(path, options)
    raw = read_table(matrix_file, dtype=str)
    raw = raw.set_index(raw.columns[0])
    check_unique_ids(raw.index, str(matrix_file), "row", lambda k: f"line {k + 2}")
    row_meta = read_table(row_file, dtype=str)
    col_meta = read_table(col_file, dtype=str)
    for meta, f in ((row_meta, row_file), (col_meta, col_file)):
        if "id" not in meta.columns:
            meta.rename(columns={meta.columns[0]: "id"}, inplace=True)
    check_unique_ids(row_meta["id"], str(row_file), "row", lambda k: f"line {k + 2}")
    row_meta = row_meta.set_index("id", drop=False).reindex(raw.index.astype(str))
    check_unique_ids(col_meta["id"], str(col_file), "column", lambda k: f"line {k + 2}")
    missing_cols = [c for c in raw.columns if c not in set(col_meta["id"])]
    if missing_cols:
        raise InputError(str(col_file), f"no metadata row for matrix column {missing_cols[0]!r}",
                         "add it to the column metadata", field="id")
    col_meta = col_meta.set_index("id", drop=False).loc[list(raw.columns)]
    values = raw.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputError(str(matrix_file), f"value {raw.iat[i, j]!r} is not a finite number",
                         "replace it with a number", row=f"{raw.index[i]} (line {i + 2})", field=str(raw.columns[j]))
    big = np.abs(values) > FLOAT32_MAX
    if big.any():
        i, j = map(int, np.argwhere(big)[0])
        raise float32_overflow_error(raw.iat[i, j], str(matrix_file), f"{raw.index[i]} (line {i + 2})",
                                     str(raw.columns[j]))
    matrix = pd.DataFrame(values, index=raw.index.astype(str), columns=raw.columns)
    return matrix, row_meta.reset_index(drop=True), col_meta.reset_index(drop=True)


def gctx_files(path: Path, options) -> list[Path]:
    """The GCTX and its signature table, if any (``options``: the gctx options)."""
    return [path] + ([Path(options.sig_info)] if options.sig_info else [])


def with_sig_info(col_meta: pd.DataFrame, sig_info: Path) -> pd.DataFrame:
    """The GCTX's column metadata joined with a signature table keyed by sig_id (LINCS's
    siginfo_beta.txt); a field the GCTX has itself keeps the GCTX's value."""
    table = read_table(sig_info, dtype=str)
    key = "sig_id" if "sig_id" in table.columns else table.columns[0]
    check_unique_ids(table[key], str(sig_info), "signature", lambda k: f"line {k + 2}")
    table = table.set_index(key)
    ids = col_meta["id"].astype(str)
    missing = ~ids.isin(table.index)
    if missing.any():
        raise InputError(str(sig_info), f"no row for signature {ids[missing].iat[0]!r} of the GCTX "
                         f"({int(missing.sum()):,} of {len(ids):,} missing)",
                         "pass the signature table of this release (siginfo_beta.txt for LINCS 2020)", field=key)
    extra = table.loc[ids, [c for c in table.columns if c not in col_meta.columns]].reset_index(drop=True)
    return pd.concat([col_meta.reset_index(drop=True), extra], axis=1)
