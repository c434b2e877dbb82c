"""AnnData (.h5ad) from Perturb-seq-like screens.

Single cells become pseudobulk changes: mean counts per perturbation group against the mean of
the non-targeting cells, as log2((mean + pc) / (mean_control + pc)). Per-cell data never enters
the graph. A matrix that is already one row per perturbation is taken as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lpm_kg.contract import ExperimentTable
from lpm_kg.errors import InputError
from lpm_kg.registry import register
from lpm_kg.symbols import GENETIC_METHODS, Perturbation, is_control_name
from lpm_kg.validate import FLOAT32_MAX, float32_overflow_error

PERTURBATION_KEYS = ("target", "perturbation", "gene", "guide_target", "gene_target", "perturbed_gene")
OPTIONS = {
    "perturbation_key": f"obs column naming each cell's (or row's) target (default: first of {', '.join(PERTURBATION_KEYS)})",
    "method": f"genetic method of the screen: one of {', '.join(GENETIC_METHODS)} (required unless uns['method'])",
    "control": "label of control cells (default: non-targeting, NT, control, ...)",
    "cell_line": "cell line (default: obs['cell_line'] if constant, else required)",
    "mode": "pseudobulk (single cells, the default when rows repeat a target) or aggregated (rows are changes already)",
    "normalize": "none (default) or total: scale each cell to the median total count before averaging",
    "pseudocount": "added to means before the log ratio (default 0.01)",
    "gene_key": "var column with gene ids (default: the var index)",
    "min_cells": "drop groups with fewer cells (default 1)",
}


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
          "non-targeting cells; already-aggregated matrices are taken as they are.", options=OPTIONS)
def read_h5ad(path: Path, ctx) -> ExperimentTable:
    import anndata

    file = str(path)
    if path.stat().st_size == 0:
        raise InputError(file, "the file is empty", "pass an .h5ad file")
    try:
        adata = anndata.read_h5ad(path)
    except Exception as exc:  # h5py and anndata raise many types for a damaged file
        raise InputError(file, f"not a readable .h5ad file ({type(exc).__name__}: {exc})",
                         "write it with anndata's write_h5ad") from None
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(file, f"the matrix is empty ({adata.n_obs} x {adata.n_vars})", "pass a file with data")
    key = _pick(adata.obs, ctx.option("perturbation_key"), PERTURBATION_KEYS, file, "perturbation_key")
    labels = adata.obs[key].astype(str).to_numpy()
    method = ctx.option("method") or adata.uns.get("method")
    if not method:
        raise InputError(file, "the genetic method of the screen is not recorded",
                         f"pass --option method=<{'|'.join(GENETIC_METHODS)}>", field="method")
    cell_line = ctx.option("cell_line")
    if cell_line is None:
        if "cell_line" in adata.obs and adata.obs["cell_line"].nunique() == 1:
            cell_line = str(adata.obs["cell_line"].iat[0])
        else:
            raise InputError(file, "the cell line is not recorded (no constant obs['cell_line'])",
                             "pass --option cell_line=<name>", field="cell_line")

    gene_key = ctx.option("gene_key")
    gene_ids = adata.var[gene_key].astype(str).tolist() if gene_key else adata.var_names.astype(str).tolist()
    genes = ctx.resolve_genes(gene_ids, field=gene_key or "var_names")
    keep_genes = np.array([g is not None for g in genes])

    X = adata.X
    mode = ctx.option("mode") or ("pseudobulk" if len(set(labels)) < len(labels) else "aggregated")
    control_label = ctx.option("control")
    is_ctl = labels == control_label if control_label else np.array([is_control_name(x) for x in labels])

    if mode == "pseudobulk":
        if not is_ctl.any():
            raise InputError(file, f"no control cells in obs[{key!r}]", "pass --option control=<label of non-targeting cells>",
                             field=key)
        X = sp.csr_matrix(X) if not sp.issparse(X) else X.tocsr()
        data = X.data
        if data.size and (not np.all(np.isfinite(data)) or data.min() < 0):
            raise InputError(file, "pseudobulk needs raw counts, but X holds negative or non-finite values",
                             "store raw UMI counts in X, or pass --option mode=aggregated", field="X")
        if ctx.option("normalize", "none") == "total":
            totals = np.asarray(X.sum(axis=1)).ravel()
            scale = np.median(totals[totals > 0]) / np.maximum(totals, 1)
            X = sp.diags(scale) @ X
        groups, codes = np.unique(np.where(is_ctl, "\0control", labels), return_inverse=True)
        counts = np.bincount(codes, minlength=len(groups))
        indicator = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(groups), len(codes)))
        means = np.asarray((indicator @ X).todense()) / counts[:, None]
        pc = ctx.option("pseudocount", 0.01, float)
        ctl_row = list(groups).index("\0control")
        changes = np.log2((means + pc) / (means[ctl_row] + pc))
        min_cells = ctx.option("min_cells", 1, int)
        rows = [i for i in range(len(groups)) if i != ctl_row and counts[i] >= min_cells]
        names, n_cells, values = groups[rows], counts[rows], changes[rows]
        value_kind = "log2fc_vs_control_pseudobulk"
    elif mode == "aggregated":
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
        dup = pd.Series(labels).duplicated()
        if dup.any():
            i = int(dup.to_numpy().nonzero()[0][0])
            raise InputError(file, f"perturbation {labels[i]!r} has two rows in an aggregated matrix",
                             "average them first, or pass --option mode=pseudobulk for single cells", row=i + 1, field=key)
        names, n_cells, value_kind = labels, np.ones(len(labels), int), "change"
        if "n_cells" in adata.obs:
            n_cells = adata.obs["n_cells"].to_numpy()
    else:
        raise InputError(file, f"option mode={mode!r}", "pass mode=pseudobulk or mode=aggregated", field="mode")

    perts = []
    for name in names:
        if is_control_name(name) or name == control_label:
            perts.append(Perturbation.control())
            continue
        sym = ctx.resolve_genes([name], field=key, what="perturbed gene")[0]
        if sym is None:
            raise InputError(file, f"perturbed gene {name!r} does not resolve", "use an approved gene symbol",
                             field=key)
        perts.append(Perturbation.genetic(method, sym))
    exps = pd.DataFrame({"key": [f"{p.symbol}@{cell_line}" for p in perts], "perturbation": perts,
                         "cell_line": cell_line, "n_replicates": 1, "n_cells": np.asarray(n_cells, int)})
    return ExperimentTable(exps, [g for g in genes if g is not None],
                           np.asarray(values, np.float32)[:, keep_genes], value_kind)
