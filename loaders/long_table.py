"""Long tables: one measurement per row (perturbation, readout, context, value), CSV/TSV/Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from loaders.options import Collisions, collisions_field
from lpm_kg import collisions
from lpm_kg.contract import ExperimentTable
from lpm_kg.errors import InputError
from lpm_kg.registry import LoaderOptions, register
from lpm_kg.symbols import is_control_name, parse_perturbation
from lpm_kg.validate import numeric_column, read_table, require_columns

# The older option duplicates, as the collisions policy it stands for.
DUPLICATES = {"error": "error", "average": "mean"}


class LongOptions(LoaderOptions):
    perturbation_col: str = Field("perturbation", description="column of perturbation symbols")
    readout_col: str = Field("readout", description="column of readout gene ids: symbols, Entrez or Ensembl")
    context_col: str = Field("context", description="column of cell lines")
    value_col: str = Field("value", description="column of values, changes against control")
    value_kind: str = Field("change", description="what the values are, recorded on each experiment")
    collisions: Collisions = collisions_field("mean", "the first row in the file")
    duplicates: Literal["error", "average"] | None = Field(
        None, description="older name of collisions: error or average (= collisions=mean); unset: collisions decides")
    readout_modality: str = Field("Transcriptome", description="readout modality prefix")
    method: str | None = Field(None, description="genetic method, when the perturbation column holds bare gene ids "
                               "(e.g. CRISPR-KO); unset: the column holds whole symbols")
    cell_line: str | None = Field(None, description="one cell line for every row, when the table has no context "
                                  "column; unset: the context column")

    @model_validator(mode="after")
    def _duplicates_is_collisions(self):
        if self.duplicates is not None:
            policy = DUPLICATES[self.duplicates]
            if "collisions" in self.model_fields_set and self.collisions != policy:
                raise ValueError(f"options duplicates={self.duplicates} and collisions={self.collisions} disagree; "
                                 "pass only --option collisions=...")
            self.collisions = policy
        return self


@register("long", "measurements", "Long table, one value per row: perturbation (CRISPRi_STAT1, "
          "vemurafenib-10uM, Control, A+B), readout (gene id), context (cell line), value.", options=LongOptions)
def read_long(path: Path, ctx) -> ExperimentTable:
    file = str(path)
    opts = ctx.opts(LongOptions)
    cols = {"perturbation": opts.perturbation_col, "readout": opts.readout_col, "context": opts.context_col,
            "value": opts.value_col}
    df = read_table(path)
    if opts.cell_line is not None:
        cols.pop("context")
    require_columns(df, list(cols.values()), file)
    df = df.rename(columns={v: k for k, v in cols.items()})[list(cols)]
    if opts.cell_line is not None:
        df["context"], cols["context"] = opts.cell_line, "context"
    raw_perturbations = df["perturbation"].astype(str).tolist()  # as written, before any method prefix
    if opts.method:
        # Bare gene ids: write them as symbols (CRISPR-KO_STAT1), leaving controls alone.
        df["perturbation"] = [t if is_control_name(t) else f"{opts.method}_{t}"
                              for t in df["perturbation"].astype(str)]
    for name in ("perturbation", "readout", "context"):
        blank = df[name].isna() | (df[name].astype(str).str.strip() == "")
        if blank.any():
            raise InputError(file, f"empty {cols[name]}", "fill it in or drop the row",
                             row=int(blank.to_numpy().nonzero()[0][0]) + 1, field=cols[name])
    values = numeric_column(df["value"], file, cols["value"], float32=True)
    how = opts.collisions

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
                                     value_kind=opts.value_kind, readout_modality=opts.readout_modality)
