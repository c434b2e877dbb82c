"""Reference TF -> target regulons: DoRothEA and TRRUST, as directed REGULATES relations tagged
with their dataset, one relationship per (TF, target) with the rows that met on it merged as each
loader says (see loaders/references.py for the rules every reference loader follows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from lpm_kg.contract import RelationTable
from lpm_kg.errors import InputError
from lpm_kg.registry import LoaderOptions, register
from lpm_kg.validate import numeric_column, read_table, require_columns
from loaders.table_helpers import add_note, read_checked, require_filled, resolve_ids, split_list


# --------------------------------------------------------------------------- DoRothEA

_CONFIDENCE = "ABCDE"


class DorotheaOptions(LoaderOptions):
    confidence: str = Field(_CONFIDENCE, description="confidence levels to keep, e.g. ABC (A best, E weakest; "
                            "upper or lower case)")

    @field_validator("confidence")
    @classmethod
    def _levels(cls, value: str) -> str:
        levels = value.strip().upper()
        if not levels or any(c not in _CONFIDENCE for c in levels):
            raise ValueError(f"expected letters of {_CONFIDENCE}, e.g. ABC")
        return levels


def _mode_of(mor: np.ndarray) -> np.ndarray:
    return np.where(mor > 0, "Activation", np.where(mor < 0, "Repression", "Unknown"))


@register("dorothea", "relations", "DoRothEA TF regulons (tf, confidence, target, mor): directed REGULATES "
          "edges TF -> target with confidence (A-E), mode (Activation/Repression) and mor.",
          options=DorotheaOptions)
def read_dorothea(path: Path, ctx) -> RelationTable:
    file = str(path)
    levels = ctx.opts(DorotheaOptions).confidence
    df = read_checked(path, dtype=str)
    require_columns(df, ["tf", "confidence", "target", "mor"], file)
    for col in ("tf", "target"):
        require_filled(df, col, file)
    conf = df["confidence"].astype(str).str.strip().str.upper()
    bad = ~conf.isin(list(_CONFIDENCE)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(file, f"confidence {df['confidence'].iat[i]!r} is not one of A-E",
                         "use the DoRothEA confidence letters A (best) to E", row=i + 1, field="confidence")
    mor = numeric_column(df["mor"], file, "mor")
    keep = conf.isin(list(levels)).to_numpy()
    row_no = np.flatnonzero(keep) + 1
    df, conf, mor = df[keep].reset_index(drop=True), conf[keep].reset_index(drop=True), mor[keep]
    n = len(df)
    genes = resolve_ids(ctx, df["tf"].astype(str).str.strip().tolist() + df["target"].astype(str).str.strip().tolist(),
                        [int(r) for r in row_no] * 2, ["tf"] * n + ["target"] * n)
    edges = pd.DataFrame({"source": genes[:n], "target": genes[n:], "confidence": conf.to_numpy(),
                          "mode": _mode_of(mor), "mor": mor})
    edges = edges.dropna(subset=["source", "target"])
    # DoRothEA lists each TF-target pair once; two rows land on one pair only when two ids resolve
    # to one gene. Keep the most confident row (A before E), the first of equals.
    before = len(edges)
    edges = (edges.sort_values("confidence", kind="stable").drop_duplicates(["source", "target"], keep="first")
             .sort_index().reset_index(drop=True))
    add_note(ctx, "duplicate_pairs_merged", before - len(edges))
    return RelationTable("REGULATES", edges, "DoRothEA", directed=True)


# --------------------------------------------------------------------------- TRRUST

_TRRUST_MODES = {"activation": "Activation", "repression": "Repression", "unknown": "Unknown"}


def _merge_modes(modes: set[str]) -> str:
    known = modes - {"Unknown"}
    if len(known) == 2:
        return "Both"
    return next(iter(known)) if known else "Unknown"


def _pmid_key(p: str):
    return (0, int(p), p) if p.isdigit() else (1, 0, p)


@register("trrust", "relations", "TRRUST TF-target table (no header: TF, target, mode Activation/Repression/"
          "Unknown, ';'-separated PMIDs): directed REGULATES edges with mode, modes and pmids.")
def read_trrust(path: Path, ctx) -> RelationTable:
    file = str(path)
    df = read_table(path, sep="\t", header=None, dtype=str)
    if df.shape[1] != 4:
        raise InputError(file, f"expected 4 tab-separated fields per line (TF, target, mode, PMIDs), found "
                         f"{df.shape[1]}", "use the TRRUST download format: no header, 4 tab-separated columns",
                         row=1)
    df.columns = ["tf", "target", "mode", "pmids"]
    # No header, so a row number is the line number.
    for col in ("tf", "target"):
        require_filled(df, col, file)
    require_filled(df, "mode", file, what="mode (is the line missing fields?)")
    mode = df["mode"].astype(str).str.strip().str.lower().map(_TRRUST_MODES)
    if mode.isna().any():
        i = int(np.flatnonzero(mode.isna().to_numpy())[0])
        hint = " (a header line? the TRRUST file has none: remove it)" if i == 0 else ""
        raise InputError(file, f"mode {df['mode'].iat[i]!r} is not Activation, Repression or Unknown{hint}",
                         "write one of Activation, Repression, Unknown", row=i + 1, field="mode")
    n = len(df)
    genes = resolve_ids(ctx, df["tf"].astype(str).str.strip().tolist() + df["target"].astype(str).str.strip().tolist(),
                        list(range(1, n + 1)) * 2, ["tf"] * n + ["target"] * n)
    frame = pd.DataFrame({"source": genes[:n], "target": genes[n:], "mode": mode.to_numpy(),
                          "pmids": [split_list(p) for p in df["pmids"]]})
    frame = frame.dropna(subset=["source", "target"])
    # TRRUST writes one line per (TF, target, mode): a pair with evidence for activation and for
    # repression has two lines. The graph holds one REGULATES edge per pair and dataset, so lines
    # of one pair are merged: `modes` lists every mode reported, `mode` is Activation or
    # Repression when only that one is known, Both when both are, Unknown otherwise, and `pmids`
    # is the union of the references.
    # An exact duplicate line adds nothing (the merged edge is the same with one copy or two) and
    # the published TRRUST v2 file itself has 9 of them, so it is merged too rather than refused;
    # the count is recorded on the Dataset node as `duplicate_lines`.
    add_note(ctx, "duplicate_lines", df.duplicated().sum())
    edges = []
    for (s, t), g in frame.groupby(["source", "target"], sort=False):
        modes = set(g["mode"])
        pmids = sorted({p for ps in g["pmids"] for p in ps}, key=_pmid_key)
        edges.append({"source": s, "target": t, "mode": _merge_modes(modes),
                      "modes": sorted(modes), "pmids": pmids})
    add_note(ctx, "pair_lines_merged", len(frame) - len(edges))
    return RelationTable("REGULATES", pd.DataFrame(edges, columns=["source", "target", "mode", "modes", "pmids"]),
                         "TRRUST", directed=True)
