"""Long tables: one measurement per row (perturbation, readout, context, value), CSV/TSV/Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lpm_kg import collisions
from lpm_kg.contract import ExperimentTable
from lpm_kg.errors import InputError
from lpm_kg.registry import register
from lpm_kg.symbols import is_control_name, parse_perturbation
from lpm_kg.validate import numeric_column, read_table, require_columns

OPTIONS = {
    "perturbation_col": "column of perturbation symbols (default perturbation)",
    "readout_col": "column of readout gene ids: symbols, Entrez or Ensembl (default readout)",
    "context_col": "column of cell lines (default context)",
    "value_col": "column of values, changes against control (default value)",
    "value_kind": "what the values are, recorded on each experiment (default change)",
    "collisions": collisions.option_text("mean", "the first row in the file"),
    "duplicates": "older name of collisions: error or average (= collisions=mean)",
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
    raw_perturbations = df["perturbation"].astype(str).tolist()  # as written, before any method prefix
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
    legacy = ctx.option("duplicates")
    if legacy is not None and legacy not in ("error", "average"):
        raise InputError(file, f"option duplicates={legacy!r} is not error or average",
                         "pass --option collisions=error, first or mean", field="duplicates")
    if legacy is not None and "collisions" in ctx.options and \
            ctx.options["collisions"] != {"error": "error", "average": "mean"}[legacy]:
        raise InputError(file, f"options duplicates={legacy} and collisions={ctx.options['collisions']} disagree",
                         "pass only --option collisions=...", field="collisions")
    how = collisions.policy(ctx, {"error": "error", "average": "mean", None: "mean"}[legacy], file)

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
    rows = np.flatnonzero(keep)
    kept_perts = [p for p, k in zip(perts, keep) if k]
    kept_contexts = df["context"].astype(str)[keep].tolist()
    kept_genes = [g for g in genes if g is not None]
    merged = collisions.merge(
        file, perturbations=[p.symbol for p in kept_perts], contexts=kept_contexts, genes=kept_genes,
        raw_perturbations=[raw_perturbations[i] for i in rows], raw_genes=df["readout"].astype(str)[keep].tolist(),
        values=values[keep], rows=rows + 1, how=how, notes=ctx.notes, perturbation_field=cols["perturbation"],
        gene_field=cols["readout"], first_means="the first row in the file")
    at = merged.index
    return ExperimentTable.from_long([kept_perts[i] for i in at], [kept_contexts[i] for i in at],
                                     [kept_genes[i] for i in at], merged.values,
                                     value_kind=ctx.option("value_kind", "change"),
                                     readout_modality=ctx.option("readout_modality", "Transcriptome"))
