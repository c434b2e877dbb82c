"""The HGNC complete set: one Gene node per approved gene, with every id files use for it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lpm_kg.contract import GeneTable
from lpm_kg.errors import InputError
from lpm_kg.registry import register
from lpm_kg.validate import read_table, require_columns


def _split(value) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return []
    return [v.strip().strip('"') for v in value.split("|") if v.strip()]


@register("hgnc", "genes", "HGNC complete set (hgnc_complete_set.txt[.gz]): approved symbols, previous "
          "symbols, aliases, Entrez and Ensembl ids. Load it first: every other loader resolves genes through it.",
          needs_genes=False)
def read_hgnc(path: Path, ctx) -> GeneTable:
    df = read_table(path, sep="\t", dtype=str)
    require_columns(df, ["hgnc_id", "symbol", "entrez_id", "ensembl_gene_id"], str(path))
    if "status" in df:
        df = df[df["status"].fillna("Approved") == "Approved"]
    dup = df["symbol"].duplicated()
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise InputError(str(path), f"symbol {df['symbol'].iat[i]!r} appears twice", "use an unmodified HGNC export",
                         row=i + 1, field="symbol")
    genes = pd.DataFrame({
        "symbol": df["symbol"].str.strip(),
        "hgnc_id": df["hgnc_id"].str.strip(),
        "name": df.get("name"),
        "locus_group": df.get("locus_group"),
        "entrez": df["entrez_id"].str.replace(r"\.0$", "", regex=True),
        "ensembl": df["ensembl_gene_id"],
        "prev_symbols": df.get("prev_symbol", pd.Series(index=df.index, dtype=str)).map(_split),
        "aliases": df.get("alias_symbol", pd.Series(index=df.index, dtype=str)).map(_split),
        "uniprot": df.get("uniprot_ids", pd.Series(index=df.index, dtype=str)).map(_split),
    })
    return GeneTable(genes.reset_index(drop=True))
