"""AnnData (.h5ad) from Perturb-seq-like screens.

Single cells become pseudobulk changes: mean counts per perturbation group against the mean of
the non-targeting cells, as log2((mean + pc) / (mean_control + pc)). Per-cell data never enters
the graph. A matrix that is already one row per perturbation is taken as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from loaders.options import Collisions, collisions_field
from lpm_kg import collisions
from lpm_kg.contract import ExperimentTable
from lpm_kg.errors import InputError
from lpm_kg.registry import LoaderOptions, register
from lpm_kg.symbols import GENETIC_METHODS, Perturbation, is_control_name
from lpm_kg.validate import FLOAT32_MAX, float32_overflow_error

PERTURBATION_KEYS = ("target", "perturbation", "gene", "guide_target", "gene_target", "perturbed_gene")


class H5adOptions(LoaderOptions):
    perturbation_key: str | None = Field(None, description="obs column naming each cell's (or row's) target; unset: "
                                         f"the first of {', '.join(PERTURBATION_KEYS)}")
    method: str | None = Field(None, description=f"genetic method of the screen: one of {', '.join(GENETIC_METHODS)}; "
                               "unset: uns['method'], else the load is refused")
    control: str | None = Field(None, description="label of control cells; unset: non-targeting, NT, control, ...")
    cell_line: str | None = Field(None, description="cell line; unset: obs['cell_line'] if constant, else the load "
                                  "is refused")
    mode: Literal["pseudobulk", "aggregated"] | None = Field(
        None, description="pseudobulk (single cells) or aggregated (rows are changes already); unset: pseudobulk "
        "when rows repeat a target, else aggregated")
    normalize: Literal["none", "total"] = Field("none", description="none, or total: scale each cell to the median "
                                                "total count before averaging")
    pseudocount: float = Field(0.01, description="added to means before the log ratio")
    gene_key: str | None = Field(None, description="var column with gene ids; unset: the var index")
    min_cells: int = Field(1, description="drop groups with fewer cells")
    collisions: Collisions = collisions_field(
        "mean", "the first var entry of a gene and the cells (or row) of a symbol's first label",
        "; in pseudobulk, mean pools the cells of two labels of one gene")


def _pick(frame: pd.DataFrame, option, candidates, file, what) -> str:
    if option:
        if option not in frame.columns:
            raise InputError(file, f"obs has no column {option!r} (has: {', '.join(frame.columns[:10])})",
                             f"pass --option {what}=<one of those>", field=option)
        return option
    for c in candidates:
        if c in frame.columns:
            return c
    raise InputError(file, f"no obs column names the perturbation (looked for {', '.join(candidates)})",
                     f"pass --option {what}=<obs column>", field="obs")


@register("h5ad", "measurements", "AnnData .h5ad: single cells become pseudobulk log2 changes against "
          "non-targeting cells; already-aggregated matrices are taken as they are.", options=H5adOptions)
def read_h5ad(path: Path, ctx) -> ExperimentTable:
    import anndata

    file = str(path)
    opts = ctx.opts(H5adOptions)
    if path.stat().st_size == 0:
        raise InputError(file, "the file is empty", "pass an .h5ad file")
    try:
        adata = anndata.read_h5ad(path)
    except Exception as exc:  # h5py and anndata raise many types for a damaged file
        raise InputError(file, f"not a readable .h5ad file ({type(exc).__name__}: {exc})",
                         "write it with anndata's write_h5ad") from None
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(file, f"the matrix is empty ({adata.n_obs} x {adata.n_vars})", "pass a file with data")
    key = _pick(adata.obs, opts.perturbation_key, PERTURBATION_KEYS, file, "perturbation_key")
    labels = adata.obs[key].astype(str).to_numpy()
    method = opts.method or adata.uns.get("method")
    if not method:
        raise InputError(file, "the genetic method of the screen is not recorded",
                         f"pass --option method=<{'|'.join(GENETIC_METHODS)}>", field="method")
    cell_line = opts.cell_line
    if cell_line is None:
        if "cell_line" in adata.obs and adata.obs["cell_line"].nunique() == 1:
            cell_line = str(adata.obs["cell_line"].iat[0])
        else:
            raise InputError(file, "the cell line is not recorded (no constant obs['cell_line'])",
                             "pass --option cell_line=<name>", field="cell_line")

    gene_key = opts.gene_key
    gene_ids = adata.var[gene_key].astype(str).tolist() if gene_key else adata.var_names.astype(str).tolist()
    genes = ctx.resolve_genes(gene_ids, field=gene_key or "var_names")
    how = opts.collisions
    collisions.start(ctx.notes, how)
    gene_axis = collisions.gene_axis(file, genes, gene_ids, adata.var_names.astype(str).tolist(), how, ctx.notes,
                                     gene_field=gene_key or "var_names", what="var entries")

    X = adata.X
    mode = opts.mode or ("pseudobulk" if len(set(labels)) < len(labels) else "aggregated")
    control_label = opts.control
    is_ctl = labels == control_label if control_label else np.array([is_control_name(x) for x in labels])

    symbol_of: dict[str, str] = {}

    def perturbation_of(name: str) -> Perturbation:
        if is_control_name(name) or name == control_label:
            return Perturbation.control()
        if name not in symbol_of:
            sym = ctx.resolve_genes([name], field=key, what="perturbed gene")[0]
            if sym is None:
                raise InputError(file, f"perturbed gene {name!r} does not resolve", "use an approved gene symbol",
                                 field=key)
            symbol_of[name] = sym
        return Perturbation.genetic(method, symbol_of[name])

    if mode == "pseudobulk":
        # Two labels of one gene ("STAT1" and its old symbol) are one perturbation: mean pools their
        # cells into the first label's group, first drops the later label's cells.
        distinct = list(dict.fromkeys(labels[~is_ctl]))
        # Resolved quietly here: a label that does not resolve keeps its own name (no collision) and
        # is refused below only if its group is kept (min_cells).
        symbols = [sym or f"\0{x}" for x, sym in zip(distinct, ctx.resolver.resolve(distinct).symbols)]
        kept_label = collisions.names_onto_one(
            file, pd.factorize(pd.Series(symbols, dtype=object))[0], distinct, distinct, how, ctx.notes,
            contexts=[cell_line] * len(distinct), onto=[f"{method}_{x}" for x in symbols], name_field=key,
            what="labels")
        first_label = {sym: lab for lab, sym in zip(reversed(distinct), reversed(symbols))}
        if how == "first":
            dropped = {lab for lab, k in zip(distinct, kept_label) if not k}
            keep_cells = ~pd.Series(labels).isin(dropped).to_numpy()
            labels, is_ctl, X = labels[keep_cells], is_ctl[keep_cells], X[np.flatnonzero(keep_cells)]
        else:
            to_first = {lab: first_label[sym] for lab, sym in zip(distinct, symbols)}
            labels = np.array([to_first.get(x, x) for x in labels], dtype=object)
        if not is_ctl.any():
            raise InputError(file, f"no control cells in obs[{key!r}]", "pass --option control=<label of non-targeting cells>",
                             field=key)
        X = sp.csr_matrix(X) if not sp.issparse(X) else X.tocsr()
        data = X.data
        if data.size and (not np.all(np.isfinite(data)) or data.min() < 0):
            raise InputError(file, "pseudobulk needs raw counts, but X holds negative or non-finite values",
                             "store raw UMI counts in X, or pass --option mode=aggregated", field="X")
        if opts.normalize == "total":
            totals = np.asarray(X.sum(axis=1)).ravel()
            scale = np.median(totals[totals > 0]) / np.maximum(totals, 1)
            X = sp.diags(scale) @ X
        groups, codes = np.unique(np.where(is_ctl, "\0control", labels), return_inverse=True)
        counts = np.bincount(codes, minlength=len(groups))
        indicator = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(groups), len(codes)))
        means = np.asarray((indicator @ X).todense()) / counts[:, None]
        pc = opts.pseudocount
        ctl_row = list(groups).index("\0control")
        changes = np.log2((means + pc) / (means[ctl_row] + pc))
        min_cells = opts.min_cells
        rows = [i for i in range(len(groups)) if i != ctl_row and counts[i] >= min_cells]
        names, n_cells, values = groups[rows], counts[rows], changes[rows]
        value_kind = "log2fc_vs_control_pseudobulk"
    else:  # aggregated
        values = X.toarray() if sp.issparse(X) else np.asarray(X)
        bad = ~np.isfinite(values)
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            raise InputError(file, "a value is not a finite number", "replace NaN/inf in X",
                             row=adata.obs_names[i], field=gene_ids[j])
        big = np.abs(values) > FLOAT32_MAX
        if big.any():
            i, j = map(int, np.argwhere(big)[0])
            raise float32_overflow_error(float(values[i, j]), file, adata.obs_names[i], gene_ids[j])
        n_cells = adata.obs["n_cells"].to_numpy() if "n_cells" in adata.obs else np.ones(len(labels), int)
        # Rows of one perturbation (the same label twice, or two labels of one gene) are one
        # experiment: collapsed by the policy, their cell counts added under mean.
        row_axis = collisions.gene_axis(
            file, [perturbation_of(x).symbol for x in labels], list(labels), adata.obs_names.astype(str).tolist(),
            how, ctx.notes, gene_field=key, what="obs rows", measure="are perturbation",
            renamed_kind="names_onto_one_symbol")
        values = row_axis.apply(values.astype(np.float64), axis=0)
        names = np.asarray(labels, dtype=object)[row_axis.take]
        n_cells = row_axis.total(np.asarray(n_cells))
        value_kind = "change"

    perts = [perturbation_of(str(name)) for name in names]
    exps = pd.DataFrame({"key": [f"{p.symbol}@{cell_line}" for p in perts], "perturbation": perts,
                         "cell_line": cell_line, "n_replicates": 1, "n_cells": np.asarray(n_cells, int)})
    return ExperimentTable(exps, gene_axis.genes, gene_axis.apply(np.asarray(values, np.float64), axis=1)
                           .astype(np.float32), value_kind)
