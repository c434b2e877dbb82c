"""What LINCS / CMap column metadata means: perturbation types, doses and times, controls,
landmark genes, and the ``where`` selection syntax over the metadata fields."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from lpm_kg.errors import InputError
from lpm_kg.symbols import Perturbation, is_control_name, parse_dose

CHEMICAL_TYPES = ("trt_cp", "trt_poscon")
GENETIC_TYPES = {"trt_sh": "shRNA", "trt_sh.cgs": "shRNA", "trt_oe": "ORF", "trt_xpr": "CRISPR-KO",
                 "trt_si": "siRNA"}
COLUMN_ALIASES = {"pert_iname": "cmap_name", "cell_id": "cell_iname"}


def first_field(meta: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in meta.columns), None)


def perturbation_of(row: pd.Series, resolve, file: str, i: int) -> Perturbation:
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


def time_h_of(row: pd.Series) -> float | None:
    for field in ("pert_time", "pert_itime"):
        if field in row.index:
            m = re.match(r"^\s*([0-9.]+)", str(row[field]))
            if m and str(row[field]).strip() not in ("-666",):
                return float(m.group(1))
    return None


def landmark_rows(row_meta: pd.DataFrame, file: str) -> np.ndarray:
    """Rows the row metadata marks landmark: LINCS ``pr_is_lm`` 1, or ``feature_space`` landmark."""
    if "pr_is_lm" in row_meta.columns:
        flag = row_meta["pr_is_lm"].astype(str).str.strip().str.lower()
        return np.flatnonzero(flag.isin(["1", "1.0", "true"]).to_numpy())
    if "feature_space" in row_meta.columns:
        return np.flatnonzero((row_meta["feature_space"].astype(str).str.strip().str.lower() == "landmark").to_numpy())
    raise InputError(file, "option genes=landmark, but the row metadata has no landmark field (pr_is_lm or "
                     f"feature_space; its fields: {', '.join(map(str, row_meta.columns))})",
                     "load genes=all, or add pr_is_lm (1 for landmark genes) to the row metadata", field="pr_is_lm")


def parse_where(text: str, file: str) -> list[tuple[str, list[str]]]:
    """``field:v1|v2;field2:v3`` as [(field, [values])]: a signature is kept when every field holds one
    of its values."""
    clauses = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        field, sep, values = part.partition(":")
        wanted = [v.strip() for v in values.split("|") if v.strip()]
        if not sep or not field.strip() or not wanted:
            raise InputError(file, f"option where={text!r}: {part!r} is not field:value1|value2",
                             "write where=field:value1|value2;field2:value, e.g. where=is_hiq:1;pert_type:trt_cp",
                             field="where")
        clauses.append((field.strip(), wanted))
    return clauses


def _matches(column: pd.Series, wanted: list[str]) -> np.ndarray:
    """Values equal as text, or as numbers (is_hiq 1 matches 1.0; an HDF5 field may be numeric)."""
    text = column.astype(str).str.strip()
    hit = text.isin(wanted).to_numpy()
    numbers = pd.to_numeric(pd.Series(wanted), errors="coerce").dropna().to_numpy()
    if len(numbers):
        hit |= np.isin(pd.to_numeric(text, errors="coerce").to_numpy(), numbers)
    return hit


def select_columns(col_meta: pd.DataFrame, where: str | None, file: str) -> np.ndarray:
    """Positions of the signatures the ``where`` option keeps (all without it)."""
    keep = np.ones(len(col_meta), dtype=bool)
    if not where:
        return np.flatnonzero(keep)
    for field, wanted in parse_where(where, file):
        if field not in col_meta.columns:
            raise InputError(file, f"option where names column metadata field {field!r}, which the file does "
                             f"not have (fields: {', '.join(map(str, col_meta.columns))})",
                             "pick one of those fields, or give the signature table with --option sig_info=<file>",
                             field=field)
        keep &= _matches(col_meta[field], wanted)
    if not keep.any():
        raise InputError(file, f"no signature matches where={where!r}", "check the values against the column "
                         "metadata (e.g. pert_idose '10 uM', pert_itime '24 h', is_hiq 1)", field="where")
    return np.flatnonzero(keep)


# LINCS 2020 (siginfo_beta) names two fields differently from the CMap 2017 files.


def perturbations_of(col_meta: pd.DataFrame, resolve, file: str) -> list[Perturbation]:
    """A Perturbation per signature, worked out once per distinct description (LINCS repeats each
    compound-dose thousands of times) instead of once per row."""
    fields = [f for f in ("pert_type", "pert_iname", "pert_idose", "pert_dose", "pert_dose_unit", "pert_mfc_desc")
              if f in col_meta.columns]
    if not fields:
        return [perturbation_of(pd.Series(dtype=object), resolve, file, i) for i in range(len(col_meta))]
    codes, _ = pd.factorize(pd.MultiIndex.from_frame(col_meta[fields].astype(str)))
    firsts = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    distinct = [perturbation_of(col_meta.iloc[i], resolve, file, i) for i in firsts]
    return [distinct[c] for c in codes]


def times_of(col_meta: pd.DataFrame) -> list[float | None]:
    fields = [f for f in ("pert_time", "pert_itime") if f in col_meta.columns]
    if not fields:
        return [None] * len(col_meta)
    codes, _ = pd.factorize(pd.MultiIndex.from_frame(col_meta[fields].astype(str)))
    firsts = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    distinct = [time_h_of(col_meta.iloc[i]) for i in firsts]
    return [distinct[c] for c in codes]


def is_control(col_meta: pd.DataFrame) -> np.ndarray:
    """The rule :func:`perturbation_of` applies, without resolving anything: for every column, selected or not."""
    ptype = col_meta["pert_type"].astype(str).str.strip() if "pert_type" in col_meta.columns else None
    name = col_meta["pert_iname"].astype(str) if "pert_iname" in col_meta.columns else None
    out = np.zeros(len(col_meta), dtype=bool)
    if ptype is not None:
        out |= ptype.str.startswith("ctl_").to_numpy()
    if name is not None:
        out |= name.map(is_control_name).to_numpy(dtype=bool)
    return out
