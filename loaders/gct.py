"""Connectivity Map matrices into experiments: GCT 1.2/1.3 text, GCTX (HDF5), and the matrix +
row/column metadata CSV triple that cmapR exports (files: loaders/gct_files.py; metadata fields:
loaders/lincs_fields.py).

Level-5 signatures (MODZ z-scores) are changes already and load as they are. Level-3 wells are
expression, so each becomes its change against the mean of its plate's vehicle controls before
replicate wells are averaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from loaders.options import Collisions, collisions_field
from lpm_kg import collisions
from lpm_kg.contract import ExperimentTable, replicate_groups
from lpm_kg.errors import InputError
from lpm_kg.registry import LoaderOptions, register
from lpm_kg.validate import check_matrix_finite
from loaders.gct_files import gctx_files, parse_gct, parse_gctx, parse_triple, triple_files, with_sig_info
from loaders.lincs_fields import (COLUMN_ALIASES, first_field, is_control, landmark_rows, perturbations_of,
                                  select_columns, times_of)

GCTX_CHUNK = 10_000


class GctOptions(LoaderOptions):
    level: Literal["3", "5"] | None = Field(None, description="5 (signatures: values are changes) or 3 (expression: "
                                            "subtract the plate's controls); unset: 3 when every value is >= 0 "
                                            "with median > 2, else 5")
    gene_field: str | None = Field(None, description="row metadata field holding gene ids; unset: pr_gene_id, "
                                   "else pr_gene_symbol, else id")
    cell_line: str | None = Field(None, description="cell line for every column, when the column metadata has no "
                                  "cell_id; unset: cell_id")
    plate_field: str | None = Field(None, description="column metadata field naming the plate, for level 3; unset: "
                                    "det_plate, else rna_plate")
    genes: Literal["all", "landmark"] = Field("all", description="all, or landmark: only the rows the row metadata "
                                              "marks landmark (pr_is_lm 1, or feature_space landmark)")
    where: str | None = Field(None, description="keep only signatures whose column metadata match, "
                              "field:value1|value2;field2:value, e.g. 'is_hiq:1;pert_type:trt_cp|trt_xpr;"
                              "pert_idose:10 uM;pert_itime:24 h'; unset: all")
    collisions: Collisions = collisions_field(
        "mean", "the first row of a gene, and the signatures of an experiment's first perturbation name",
        "; signatures under one name are replicates and always average")


class GctxOptions(GctOptions):
    sig_info: str | None = Field(None, description="signature table beside the GCTX (TSV/CSV keyed by sig_id, e.g. "
                                 "LINCS siginfo_beta.txt): its fields join the file's /0/META/COL for where, "
                                 "perturbations and cell lines; unset: the GCTX's own metadata only")
    chunk: int = Field(GCTX_CHUNK, ge=1, description="signatures read at a time; memory is about chunk x genes x "
                       "4 bytes")


class GctCsvOptions(GctOptions):
    row_meta: str | None = Field(None, description="row metadata CSV; unset: <stem>_row_meta.csv beside the matrix")
    col_meta: str | None = Field(None, description="column metadata CSV; unset: <stem>_col_meta.csv beside the "
                                 "matrix")


class InMemoryMatrix:
    """A parsed genes x samples matrix behind the interface :class:`GctxMatrix` reads through."""

    def __init__(self, matrix: pd.DataFrame):
        self.values = matrix.to_numpy(np.float64)
        self.n_rows, self.n_cols = self.values.shape

    def block(self, start: int, stop: int, rows: np.ndarray) -> np.ndarray:
        return self.values[rows, start:stop]


def _chunks(positions: np.ndarray, chunk: int):
    """(start, stop, selected positions within) of each file slice of ``chunk`` columns holding a selected one."""
    for start in range(0, int(positions[-1]) + 1, chunk):
        lo, hi = np.searchsorted(positions, [start, start + chunk])
        if hi > lo:
            yield start, min(start + chunk, int(positions[-1]) + 1), positions[lo:hi]


def to_experiments(matrix: pd.DataFrame, row_meta: pd.DataFrame, col_meta: pd.DataFrame, ctx, file: str
                   ) -> ExperimentTable:
    return build_experiments(InMemoryMatrix(matrix), row_meta, col_meta, ctx, file, chunk=max(1, matrix.shape[1]))


def build_experiments(source, row_meta: pd.DataFrame, col_meta: pd.DataFrame, ctx, file: str, *, chunk: int
                      ) -> ExperimentTable:
    """Experiments of a matrix read ``chunk`` columns (signatures) at a time (the options: any
    :class:`GctOptions`).

    Everything that needs only metadata (gene rows, selected signatures, perturbations, replicate
    groups) is settled first; the values then stream through one float32 array of replicate sums
    (experiments x genes), so memory is the result plus one chunk, whatever the file's size."""
    opts = ctx.opts(GctOptions)
    col_meta = col_meta.copy()
    for field, alias in COLUMN_ALIASES.items():
        if field not in col_meta.columns and alias in col_meta.columns:
            col_meta[field] = col_meta[alias]

    rows = np.arange(len(row_meta)) if opts.genes == "all" else landmark_rows(row_meta, file)
    if not len(rows):
        raise InputError(file, "option genes=landmark, but no row is marked landmark",
                         "check pr_is_lm (1 for landmark genes), or load genes=all", field="pr_is_lm")
    sel_rows = row_meta.iloc[rows].reset_index(drop=True)
    row_ids = sel_rows["id"].astype(str).tolist() if "id" in sel_rows.columns else [str(r) for r in rows]

    gene_field = opts.gene_field or first_field(row_meta, ("pr_gene_id", "pr_gene_symbol", "id"))
    if gene_field not in row_meta.columns:
        raise InputError(file, f"row metadata has no field {gene_field!r}", "pass --option gene_field=<field>",
                         field=gene_field)
    raw_genes = sel_rows[gene_field].astype(str).tolist()
    genes = ctx.resolve_genes(raw_genes, field=gene_field)
    how = opts.collisions
    collisions.start(ctx.notes, how)
    # Two rows of one gene (two probes, an old and a new symbol, the same id twice): one readout
    # needs one value, so they collapse under the collisions policy.
    gene_axis = collisions.gene_axis(file, genes, raw_genes, row_ids, how, ctx.notes, gene_field=gene_field)

    cols = select_columns(col_meta, opts.where, file)
    sel_cols = col_meta.iloc[cols].reset_index(drop=True)
    col_ids = col_meta["id"].astype(str).to_numpy()

    kept: dict[tuple[int, bytes], np.ndarray] = {}  # the chunk read to judge the level, read once

    def read(start: int, stop: int, wanted: np.ndarray, *, keep_for_later: bool = False) -> np.ndarray:
        """Selected genes x the selected columns ``wanted`` of a slice, checked as read."""
        key = (start, wanted.tobytes())
        if key in kept:
            return kept.pop(key)
        block = source.block(start, stop, rows)[:, wanted - start]
        check_matrix_finite(block, file, row_ids, list(col_ids[wanted]))
        if keep_for_later:
            kept[key] = block
        return block

    level = opts.level
    if level is None:
        # Judged on the first chunk: a file of one chunk is judged whole, a LINCS file by its first
        # 10,000 signatures rather than by a second pass over 35 GB.
        first = read(*next(_chunks(cols, chunk)), keep_for_later=True).astype(np.float64)
        level = "3" if (first.min() >= 0 and np.median(first) > 2) else "5"
        del first

    cell_option = opts.cell_line
    if "cell_id" not in col_meta.columns and not cell_option:
        raise InputError(file, "the column metadata has no cell_id field and the cell line is not recorded",
                         "pass --option cell_line=<name>", field="cell_id")
    cells = [cell_option] * len(sel_cols) if cell_option else sel_cols["cell_id"].astype(str).tolist()

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

    perts = perturbations_of(sel_cols, resolve_target, file)
    times = times_of(sel_cols)

    def experiments_of(perts, cells, times):
        keys = pd.DataFrame({"perturbation": perts, "symbol": [p.symbol for p in perts], "cell_line": cells,
                             "time_h": times})
        return replicate_groups(keys, ["symbol", "cell_line", "time_h"])

    # Signatures of one experiment under different names ("X hydrochloride" and "X mesylate" as one
    # compound symbol) are a collision; the same name twice is a replicate.
    group_ids, exps = experiments_of(perts, cells, times)
    name_fields = [f for f in ("pert_iname", "pert_idose", "pert_dose", "pert_dose_unit") if f in sel_cols.columns]
    raw_names = (sel_cols[name_fields].astype(str).agg(" ".join, axis=1).tolist() if name_fields
                 else [p.symbol for p in perts])
    take = collisions.names_onto_one(
        file, group_ids, raw_names, list(col_ids[cols]), how, ctx.notes, contexts=cells,
        onto=[p.symbol for p in perts], name_field="+".join(name_fields) or "pert_iname", what="signatures",
        exempt=np.array([p.kind == "control" for p in perts], dtype=bool))
    if not take.all():
        cols, sel_cols = cols[take], sel_cols[take].reset_index(drop=True)
        perts, times, cells = ([x for x, t in zip(v, take) if t] for v in (perts, times, cells))
        kept.clear()
        group_ids, exps = experiments_of(perts, cells, times)  # regrouped only when signatures were dropped

    n_keep = len(gene_axis.genes)
    plate_of = None
    if level == "3":
        # Each well minus the mean of its plate's vehicle wells: the plate's controls among all the
        # file's columns, also those the where option leaves out.
        plate_field = opts.plate_field or first_field(col_meta, ("det_plate", "rna_plate"))
        plates = col_meta[plate_field].astype(str).to_numpy() if plate_field else np.array(["plate"] * len(col_meta))
        plate_codes, plate_names = pd.factorize(pd.Series(plates, dtype=object))
        ctl_cols = np.flatnonzero(is_control(col_meta))
        for p in np.unique(plate_codes[cols]):
            if not (plate_codes[ctl_cols] == p).any():
                raise InputError(file, f"plate {plate_names[p]!r} has no control wells to subtract",
                                 "include its vehicle (ctl_vehicle/DMSO) wells, or load level-5 signatures",
                                 field=plate_field or "pert_type")
        ctl_sums = np.zeros((len(plate_names), len(rows)), dtype=np.float64)
        if len(ctl_cols):
            for start, stop, wanted in _chunks(ctl_cols, chunk):
                np.add.at(ctl_sums, plate_codes[wanted], read(start, stop, wanted).T.astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            ctl_means = ctl_sums / np.bincount(plate_codes[ctl_cols], minlength=len(plate_names))[:, None]
        plate_of = plate_codes
        value_kind = "log2_change_vs_plate_control"
    else:
        value_kind = "zscore"

    sums = np.zeros((len(exps), n_keep), dtype=np.float32)
    position = np.full(int(cols[-1]) + 1, -1, dtype=np.int64)
    position[cols] = np.arange(len(cols))  # file column -> index among the selected signatures

    pieces = list(_chunks(cols, chunk))
    bar = None
    if ctx.show_progress and len(pieces) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(cols), unit=" signatures", desc=f"read {Path(file).name}", unit_scale=True, leave=False)
    try:
        for start, stop, wanted in pieces:
            block = read(start, stop, wanted).T.astype(np.float64)  # signatures x genes
            if plate_of is not None:
                block -= ctl_means[plate_of[wanted]]
            block = gene_axis.apply(block, axis=1).astype(np.float32).astype(np.float64)  # stored as float32
            g = group_ids[position[wanted]]
            order = np.argsort(g, kind="stable")
            g_sorted = g[order]
            starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
            sums[g_sorted[starts]] += np.add.reduceat(block[order], starts, axis=0)
            del block
            if bar:
                bar.update(len(wanted))
    finally:
        if bar:
            bar.close()
    sums /= exps["n_replicates"].to_numpy(np.float32)[:, None]  # GCTX values are all finite: every count is n

    exps["key"] = [f"{s}@{c}" + ("" if t is None or pd.isna(t) else f"@{t:g}h")
                   for s, c, t in zip(exps["symbol"], exps["cell_line"], exps["time_h"])]
    exps = exps.drop(columns=["symbol"])
    return ExperimentTable(exps, gene_axis.genes, sums, value_kind)


@register("gct", "measurements", "CMap GCT 1.2/1.3 text matrix (genes x samples) with row/column metadata; "
          "level-5 z-scores as they are, level-3 expression minus the plate's controls.", options=GctOptions)
def read_gct(path: Path, ctx) -> ExperimentTable:
    return to_experiments(*parse_gct(path), ctx, str(path))


@register("gctx", "measurements", "CMap GCTX (HDF5) matrix with row/column metadata, read in chunks of "
          "signatures (LINCS-sized files fit in memory); same handling as gct.", options=GctxOptions,
          files=gctx_files)
def read_gctx(path: Path, ctx) -> ExperimentTable:
    import h5py

    file = str(path)
    opts = ctx.opts(GctxOptions)
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(file, f"not a readable GCTX file ({exc})",
                         "pass an HDF5 file with /0/DATA/0/matrix and /0/META/ROW, /0/META/COL") from None
    with h5:
        matrix, row_meta, col_meta = parse_gctx(h5, file)
        if opts.sig_info:
            col_meta = with_sig_info(col_meta, Path(opts.sig_info))
        return build_experiments(matrix, row_meta, col_meta, ctx, file, chunk=opts.chunk)


@register("gct-csv", "measurements", "A CMap matrix exported as CSV (genes x samples, first column ids) beside "
          "<stem>_row_meta.csv and <stem>_col_meta.csv (cmapR's export); same handling as gct.",
          options=GctCsvOptions, files=triple_files)
def read_gct_csv(path: Path, ctx) -> ExperimentTable:
    return to_experiments(*parse_triple(path, ctx.opts(GctCsvOptions)), ctx, str(path))
