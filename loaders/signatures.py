"""Ranked differential-expression signatures (long: context, perturbation, rank, gene, n_ranked),
as montilab/sigrecon publishes them, turned into signed scores.

``signed`` (full rankings, rank 1 = most up): s = 1 - 2 (rank - 1) / (n_ranked - 1), in [-1, 1].
``top`` (lists of up-regulated genes only, as in the Replogle top-1000 sets): s = 1 - (rank - 1) /
n_ranked, in (0, 1]; genes off the list are unmeasured, not zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from loaders.options import Collisions, collisions_field
from lpm_kg import collisions
from lpm_kg.contract import ExperimentTable
from lpm_kg.errors import InputError
from lpm_kg.registry import LoaderOptions, register
from lpm_kg.symbols import Perturbation, is_control_name, parse_dose
from lpm_kg.validate import numeric_column, read_table, require_columns


class RankedOptions(LoaderOptions):
    perturbation_type: str = Field("chemical", description="chemical or a genetic method (CRISPRi, CRISPR-KO, "
                                   "shRNA, ...)")
    scoring: Literal["signed", "top"] = Field("signed", description="signed (full rankings) or top (up-regulated "
                                              "lists only)")
    dose: str | None = Field(None, description="dose of every chemical perturbation, e.g. 10uM; unset: none in the "
                             "symbol")
    collisions: Collisions = collisions_field("first", "the best-ranked row")

    @field_validator("dose")
    @classmethod
    def _dose_reads(cls, value: str | None) -> str | None:
        parse_dose(value)  # a ValueError says what a dose looks like
        return value


@register("ranked-signatures", "measurements", "Ranked signatures, long (context, perturbation, rank, gene, "
          "n_ranked), turned into signed scores; sigrecon's sci-Plex, NeurIPS-2023 and Replogle sets.",
          options=RankedOptions)
def read_ranked(path: Path, ctx) -> ExperimentTable:
    file = str(path)
    opts = ctx.opts(RankedOptions)
    df = read_table(path)
    require_columns(df, ["context", "perturbation", "rank", "gene", "n_ranked"], file)
    rank = numeric_column(df["rank"], file, "rank")
    n_ranked = numeric_column(df["n_ranked"], file, "n_ranked")
    bad = (rank < 1) | (rank > n_ranked) | (rank != np.round(rank))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(file, f"rank {df['rank'].iat[i]} is not a whole number in 1..n_ranked ({df['n_ranked'].iat[i]})",
                         "fix the rank", row=i + 1, field="rank")
    if opts.scoring == "signed":
        if (n_ranked < 2).any():
            i = int(np.flatnonzero(n_ranked < 2)[0])
            raise InputError(file, "a signed score needs n_ranked >= 2", "use --option scoring=top", row=i + 1,
                             field="n_ranked")
        score = 1.0 - 2.0 * (rank - 1.0) / (n_ranked - 1.0)
        kind = "signed_rank_score"
    else:  # top
        score = 1.0 - (rank - 1.0) / n_ranked
        kind = "top_up_rank_score"

    ptype = opts.perturbation_type
    dose = parse_dose(opts.dose) if opts.dose else None
    name_codes, uniq = pd.factorize(df["perturbation"])
    uniq = [str(u) for u in uniq]
    if ptype == "chemical":
        by_name = {n: Perturbation.control() if is_control_name(n) else Perturbation.chemical(n, *(dose or (None, None)))
                   for n in uniq}
    else:
        targets = ctx.resolve_genes(list(uniq), field="perturbation", what="perturbed gene")
        dropped = [n for n, t in zip(uniq, targets) if t is None]
        by_name = {n: Perturbation.control() if is_control_name(n) else Perturbation.genetic(ptype, t)
                   for n, t in zip(uniq, targets) if t is not None}
        if dropped:
            ctx.notes["dropped_perturbations"] = dropped[:20]
    how = opts.collisions
    genes = ctx.resolve_genes(df["gene"], field="gene")
    known = np.array([n in by_name for n in uniq])
    keep = np.array([g is not None for g in genes]) & known[name_codes]
    row_index = np.flatnonzero(keep)
    perts = [by_name.get(n) for n in uniq]
    kept_perts = [perts[k] for k in name_codes[keep]]
    kept_genes = [g for g, k in zip(genes, keep) if k]
    kept_contexts = df["context"].astype(str)[keep].tolist()
    merged = collisions.merge(
        file, perturbations=[p.symbol for p in kept_perts], contexts=kept_contexts, genes=kept_genes,
        raw_perturbations=df["perturbation"][keep].tolist(), raw_genes=df["gene"][keep].tolist(),
        values=np.asarray(score[keep], dtype=np.float64), rows=row_index + 1, how=how, notes=ctx.notes,
        order=np.asarray(rank[keep], dtype=np.float64), first_means="the best-ranked row")
    at = merged.index
    return ExperimentTable.from_long([kept_perts[i] for i in at], [kept_contexts[i] for i in at],
                                     [kept_genes[i] for i in at], merged.values, value_kind=kind)
