"""Long tables: one measurement per row (perturbation, readout, context, value), CSV/TSV/Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lpm_kg.contract import DuplicateRowError, ExperimentTable
from lpm_kg.errors import InputError
from lpm_kg.registry import register
from lpm_kg.symbols import is_control_name, parse_perturbation
from lpm_kg.validate import check_no_duplicates, numeric_column, read_table, require_columns

OPTIONS = {
    "perturbation_col": "column of perturbation symbols (default perturbation)",
    "readout_col": "column of readout gene ids: symbols, Entrez or Ensembl (default readout)",
    "context_col": "column of cell lines (default context)",
    "value_col": "column of values, changes against control (default value)",
    "value_kind": "what the values are, recorded on each experiment (default change)",
    "duplicates": "error (default) or average: what to do with repeated (perturbation, readout, context) rows",
    "readout_modality": "readout modality prefix (default Transcriptome)",
    "method": "genetic method, when the perturbation column holds bare gene ids (e.g. CRISPR-KO)",
    "cell_line": "one cell line for every row, when the table has no context column",
}


@register("long", "measurements", "Long table, one value per row: perturbation (CRISPRi_STAT1, "
          "vemurafenib-10uM, Control, A+B), readout (gene id), context (cell line), value.", options=OPTIONS)
def read_long(path: Path, ctx) -> ExperimentTable:
    file = str(path)
    cols = {k: ctx.option(f"{k}_col", k) for k in ("perturbation", "readout", "context", "value")}
    df = read_table(path)
    cell_line = ctx.option("cell_line")
    if cell_line is not None:
        cols.pop("context")
    require_columns(df, list(cols.values()), file)
    df = df.rename(columns={v: k for k, v in cols.items()})[list(cols)]
    if cell_line is not None:
        df["context"], cols["context"] = cell_line, "context"
    method = ctx.option("method")
    if method:
        # Bare gene ids: write them as symbols (CRISPR-KO_STAT1), leaving controls alone.
        df["perturbation"] = [t if is_control_name(t) else f"{method}_{t}" for t in df["perturbation"].astype(str)]
    for name in ("perturbation", "readout", "context"):
        blank = df[name].isna() | (df[name].astype(str).str.strip() == "")
        if blank.any():
            raise InputError(file, f"empty {cols[name]}", "fill it in or drop the row",
                             row=int(blank.to_numpy().nonzero()[0][0]) + 1, field=cols[name])
    values = numeric_column(df["value"], file, cols["value"], float32=True)
    policy = ctx.option("duplicates", "error")
    if policy not in ("error", "average"):
        raise InputError(file, f"option duplicates={policy!r} is not error or average", "pass one of those",
                         field="duplicates")
    if policy == "error":
        check_no_duplicates(df, ["perturbation", "readout", "context"], file)

    genes = ctx.resolve_genes(df["readout"].astype(str).tolist(), field=cols["readout"])
    gene_of = {}

    def resolve(g):
        if g not in gene_of:
            sym = ctx.resolve_genes([g], field=cols["perturbation"], what="perturbed gene")[0]
            if sym is None:
                raise InputError(file, f"perturbed gene {g!r} does not resolve", "use an approved symbol",
                                 field=cols["perturbation"])
            gene_of[g] = sym
        return gene_of[g]

    parsed = {}
    for i, text in enumerate(df["perturbation"].astype(str)):
        if text not in parsed:
            try:
                parsed[text] = parse_perturbation(text, resolve)
            except ValueError as exc:
                raise InputError(file, f"cannot read perturbation {text!r}: {exc}",
                                 "write it as CRISPRi_GENE, compound-10uM, Control or A+B", row=i + 1,
                                 field=cols["perturbation"]) from None
    perts = [parsed[t] for t in df["perturbation"].astype(str)]
    keep = np.array([g is not None for g in genes])
    if policy == "average":
        frame = pd.DataFrame({"p": [p.symbol for p in perts], "c": df["context"].astype(str), "g": genes, "v": values})
        frame = frame[keep]
        grouped = frame.groupby(["p", "c", "g"], sort=False)["v"].mean().reset_index()
        first = {p.symbol: p for p in perts}
        return ExperimentTable.from_long([first[s] for s in grouped["p"]], grouped["c"].tolist(), grouped["g"].tolist(),
                                         grouped["v"].to_numpy(), value_kind=ctx.option("value_kind", "change"),
                                         readout_modality=ctx.option("readout_modality", "Transcriptome"))
    rows = np.flatnonzero(keep)
    try:
        return ExperimentTable.from_long([p for p, k in zip(perts, keep) if k], df["context"].astype(str)[keep].tolist(),
                                         [g for g in genes if g is not None], values[keep],
                                         value_kind=ctx.option("value_kind", "change"),
                                         readout_modality=ctx.option("readout_modality", "Transcriptome"))
    except DuplicateRowError as exc:
        # Two ids of one gene (an old and a new symbol) measured in one experiment.
        raise InputError(file, f"row {rows[exc.row] + 1} measures the same gene, perturbation and context as row "
                         f"{rows[exc.first] + 1} under another gene id", "keep one of the two rows",
                         row=int(rows[exc.row]) + 1, field=cols["readout"]) from None
