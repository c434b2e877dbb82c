"""Connectivity Map matrices: GCT 1.2/1.3 text, GCTX (HDF5), and the matrix + row/column
metadata CSV triple that cmapR exports.

Level-5 signatures (MODZ z-scores) are changes already and load as they are. Level-3 wells are
expression, so each becomes its change against the mean of its plate's vehicle controls before
replicate wells are averaged.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lpm_kg.contract import ExperimentTable, average_replicate_rows
from lpm_kg.errors import InputError
from lpm_kg.registry import register
from lpm_kg.symbols import Perturbation, is_control_name, parse_dose
from lpm_kg.validate import FLOAT32_MAX, check_matrix_finite, float32_overflow_error, read_table

OPTIONS = {
    "level": "5 (signatures: values are changes) or 3 (expression: subtract the plate's controls); "
             "default: 3 when every value is >= 0 with median > 2, else 5",
    "gene_field": "row metadata field holding gene ids (default pr_gene_id, else pr_gene_symbol, else id)",
    "cell_line": "cell line for every column, when the column metadata has no cell_id",
    "plate_field": "column metadata field naming the plate, for level 3 (default det_plate, else rna_plate)",
}
CHEMICAL_TYPES = ("trt_cp", "trt_poscon")
GENETIC_TYPES = {"trt_sh": "shRNA", "trt_sh.cgs": "shRNA", "trt_oe": "ORF", "trt_xpr": "CRISPR-KO",
                 "trt_si": "siRNA"}


# --------------------------------------------------------------------------- parsing

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


def parse_gctx(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    import h5py

    file = str(path)
    try:
        with h5py.File(path, "r") as h5:
            data = h5["0/DATA/0/matrix"][()]
            row_meta = _h5_meta(h5["0/META/ROW"])
            col_meta = _h5_meta(h5["0/META/COL"])
    except (OSError, KeyError) as exc:
        raise InputError(file, f"not a readable GCTX file ({exc})",
                         "pass an HDF5 file with /0/DATA/0/matrix and /0/META/ROW, /0/META/COL") from None
    check_unique_ids(row_meta["id"], file, "row", lambda k: f"/0/META/ROW/id[{k}]")
    check_unique_ids(col_meta["id"], file, "column", lambda k: f"/0/META/COL/id[{k}]")
    # GCTX stores samples x genes (column-major from the GCT's point of view).
    if data.shape == (len(col_meta), len(row_meta)):
        data = data.T
    if data.shape != (len(row_meta), len(col_meta)):
        raise InputError(file, f"matrix {data.shape} does not match {len(row_meta)} row and {len(col_meta)} column ids",
                         "rewrite the file with matching metadata")
    check_matrix_finite(data, file, list(row_meta["id"]), list(col_meta["id"]))
    return pd.DataFrame(data.astype(np.float64), index=row_meta["id"].to_numpy(), columns=col_meta["id"].to_numpy()), \
        row_meta, col_meta


def _h5_meta(group) -> pd.DataFrame:
    out = {}
    for key in group.keys():
        v = group[key][()]
        out[key] = [x.decode() if isinstance(x, bytes) else x for x in v]
    df = pd.DataFrame(out)
    return df[["id"] + [c for c in df.columns if c != "id"]]


def _triple_files(path: Path, options: dict) -> list[Path]:
    name = path.name
    stem = re.sub(r"_?matrix.*$", "", name)
    row = options.get("row_meta") or str(path.with_name(f"{stem}_row_meta.csv"))
    col = options.get("col_meta") or str(path.with_name(f"{stem}_col_meta.csv"))
    return [path, Path(row), Path(col)]


def parse_triple(path: Path, options: dict):
    matrix_file, row_file, col_file = _triple_files(path, options)
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


# --------------------------------------------------------------------------- to experiments

def _first_field(meta: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in meta.columns), None)


def _perturbation(row: pd.Series, resolve, file: str, i: int) -> Perturbation:
    ptype = str(row.get("pert_type", "")).strip()
    name = str(row.get("pert_iname", "")).strip()
    if ptype.startswith("ctl_") or is_control_name(name):
        return Perturbation.control()
    if ptype in GENETIC_TYPES:
        return Perturbation.genetic(GENETIC_TYPES[ptype], resolve(name, row))
    if ptype in CHEMICAL_TYPES or ptype == "":
        dose = None
        if "pert_idose" in row.index and parse_dose(str(row["pert_idose"])):
            dose = parse_dose(str(row["pert_idose"]))
        elif "pert_dose" in row.index and str(row["pert_dose"]).strip() not in ("", "-666", "nan"):
            dose = parse_dose(f"{row['pert_dose']} {row.get('pert_dose_unit', 'uM') or 'uM'}")
        return Perturbation.chemical(name, *(dose or (None, None)))
    raise InputError(file, f"unknown pert_type {ptype!r}", "use trt_cp, trt_sh, trt_oe, trt_xpr or ctl_*",
                     row=i + 1, field="pert_type")


def _time_h(row: pd.Series) -> float | None:
    for field in ("pert_time", "pert_itime"):
        if field in row.index:
            m = re.match(r"^\s*([0-9.]+)", str(row[field]))
            if m and str(row[field]).strip() not in ("-666",):
                return float(m.group(1))
    return None


def to_experiments(matrix: pd.DataFrame, row_meta: pd.DataFrame, col_meta: pd.DataFrame, ctx, file: str
                   ) -> ExperimentTable:
    values = matrix.to_numpy(np.float64)
    gene_field = ctx.option("gene_field") or _first_field(row_meta, ("pr_gene_id", "pr_gene_symbol", "id"))
    if gene_field not in row_meta.columns:
        raise InputError(file, f"row metadata has no field {gene_field!r}", "pass --option gene_field=<field>",
                         field=gene_field)
    genes = ctx.resolve_genes(row_meta[gene_field].astype(str).tolist(), field=gene_field)
    resolved = pd.Series(genes, dtype=object)
    dup = (resolved.notna() & resolved.duplicated()).to_numpy()
    if dup.any():
        # Two rows of one gene (two probes, or an old and a new symbol): one readout needs one value.
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((resolved == resolved.iat[i]).to_numpy())[0])
        ids = pd.Series(matrix.index, dtype=object)
        a, b = row_meta[gene_field].iat[first], row_meta[gene_field].iat[i]
        raise InputError(file, f"rows {ids.iat[first]!r} and {ids.iat[i]!r} both measure gene {genes[i]}"
                         + (f" ({gene_field} {a!r} and {b!r})" if a != b else ""),
                         "keep one row per gene (or average them) before loading, or pick another "
                         "--option gene_field", row=str(ids.iat[i]), field=gene_field)

    level = ctx.option("level")
    if level is None:
        level = "3" if (values.min() >= 0 and np.median(values) > 2) else "5"
    if level not in ("3", "5"):
        raise InputError(file, f"option level={level!r}", "pass level=3 or level=5", field="level")

    cell_option = ctx.option("cell_line")
    if "cell_id" not in col_meta.columns and not cell_option:
        raise InputError(file, "the column metadata has no cell_id field and the cell line is not recorded",
                         "pass --option cell_line=<name>", field="cell_id")
    cells = [cell_option] * len(col_meta) if cell_option else col_meta["cell_id"].astype(str).tolist()

    gene_cache: dict[str, str] = {}

    def resolve_target(name: str, row: pd.Series) -> str:
        if name not in gene_cache:
            # shRNA plates name the target by an old symbol (TOMM70A); pert_mfc_desc often has the current one.
            candidates = [name] + [str(row[f]) for f in ("pert_mfc_desc",) if f in row.index]
            for cand in candidates:
                sym = ctx.resolver.resolve([cand]).symbols[0]
                if sym:
                    gene_cache[name] = sym
                    break
            else:
                raise InputError(file, f"perturbed gene {name!r} does not resolve to a gene",
                                 "fix pert_iname or load a gene map that knows it", field="pert_iname")
        return gene_cache[name]

    perts = [_perturbation(row, resolve_target, file, i) for i, (_, row) in enumerate(col_meta.iterrows())]
    times = [_time_h(row) for _, row in col_meta.iterrows()]

    if level == "3":
        plate_field = ctx.option("plate_field") or _first_field(col_meta, ("det_plate", "rna_plate"))
        plates = col_meta[plate_field].astype(str).to_numpy() if plate_field else np.array(["plate"] * len(col_meta))
        is_ctl = np.array([p.kind == "control" for p in perts])
        changes = np.empty_like(values)
        for plate in np.unique(plates):
            cols = plates == plate
            ctl = cols & is_ctl
            if not ctl.any():
                raise InputError(file, f"plate {plate!r} has no control wells to subtract",
                                 "include its vehicle (ctl_vehicle/DMSO) wells, or load level-5 signatures",
                                 field=plate_field or "pert_type")
            changes[:, cols] = values[:, cols] - values[:, ctl].mean(axis=1, keepdims=True)
        values, value_kind = changes, "log2_change_vs_plate_control"
    else:
        value_kind = "zscore"

    keep = np.array([g is not None for g in genes])
    keys = pd.DataFrame({"perturbation": perts, "symbol": [p.symbol for p in perts], "cell_line": cells,
                         "time_h": times})
    exps, means = average_replicate_rows(keys, values[keep].T.astype(np.float32), ["symbol", "cell_line", "time_h"])
    exps["key"] = [f"{s}@{c}" + ("" if t is None or pd.isna(t) else f"@{t:g}h")
                   for s, c, t in zip(exps["symbol"], exps["cell_line"], exps["time_h"])]
    exps = exps.drop(columns=["symbol"])
    return ExperimentTable(exps, [g for g in genes if g is not None], means, value_kind)


@register("gct", "measurements", "CMap GCT 1.2/1.3 text matrix (genes x samples) with row/column metadata; "
          "level-5 z-scores as they are, level-3 expression minus the plate's controls.", options=OPTIONS)
def read_gct(path: Path, ctx) -> ExperimentTable:
    return to_experiments(*parse_gct(path), ctx, str(path))


@register("gctx", "measurements", "CMap GCTX (HDF5) matrix with row/column metadata; same handling as gct.",
          options=OPTIONS)
def read_gctx(path: Path, ctx) -> ExperimentTable:
    return to_experiments(*parse_gctx(path), ctx, str(path))


@register("gct-csv", "measurements", "A CMap matrix exported as CSV (genes x samples, first column ids) beside "
          "<stem>_row_meta.csv and <stem>_col_meta.csv (cmapR's export); same handling as gct.",
          options={**OPTIONS, "row_meta": "row metadata CSV (default <stem>_row_meta.csv)",
                   "col_meta": "column metadata CSV (default <stem>_col_meta.csv)"},
          files=_triple_files)
def read_gct_csv(path: Path, ctx) -> ExperimentTable:
    return to_experiments(*parse_triple(path, ctx.options), ctx, str(path))
