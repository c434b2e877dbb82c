"""Compound annotations: mechanisms of action, protein targets and ids, from the Broad Drug
Repurposing Hub and the LINCS compound table.

Compounds are keyed by :func:`lpm_kg.symbols.normalize_compound`, the key chemical
perturbations use, so an annotation lands on the compound an experiment perturbed with. Names
that normalise to one key are merged into one compound (lists united, the first row's scalars
kept); their count is recorded on the Dataset node as ``merged_names``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from loaders.table_helpers import open_text, read_checked, reject_shifted, resolve_ids
from lpm_kg.contract import CompoundTable
from lpm_kg.errors import InputError
from lpm_kg.registry import LoaderOptions, register
from lpm_kg.symbols import normalize_compound
from lpm_kg.validate import check_no_duplicates, require_columns

_MISSING = {"", "na", "nan", "none", "null", "-", "-666"}
COMPOUND_COLUMNS = ["name", "aliases", "moa", "targets", "pert_ids", "phase", "inchikey", "smiles"]


def _split(value, sep: str) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    out = []
    for v in str(value).split(sep):
        v = v.strip()
        if v and v.lower() not in _MISSING and v not in out:
            out.append(v)
    return out


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    v = str(value).strip()
    return None if v.lower() in _MISSING else v


def _read_commented(path: Path, *, sep: str = "\t") -> pd.DataFrame:
    """A table whose lines starting with '!' are comments (the Repurposing Hub's header block).

    Only whole lines are comments: pandas' ``comment=`` would also cut a line at a '!' inside a
    field. Row numbers in errors count data rows after the header, comment lines left out.
    """
    file = str(path)
    if not path.exists():
        raise InputError(file, "file not found", "check the path")
    if path.stat().st_size == 0:
        raise InputError(file, "the file is empty", "pass a file with a header and at least one data row")
    try:
        with open_text(path) as fh:
            skip = [i for i, line in enumerate(fh) if line.startswith("!")]
        df = pd.read_csv(path, sep=sep, skiprows=skip, dtype=str, keep_default_na=False, na_values=[""],
                         low_memory=False)
    except pd.errors.EmptyDataError:
        raise InputError(file, "the file holds only comment lines",
                         "pass a file with a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise InputError(file, f"malformed file ({str(exc).splitlines()[0]})",
                         "check that it is tab-separated with one header row and the same number of fields on every "
                         "row (comment lines start with '!')") from None
    if df.empty:
        raise InputError(file, "the file has a header but no data rows", "pass a file with data rows")
    reject_shifted(df, file)
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _require_names(df: pd.DataFrame, column: str, file: str) -> None:
    blank = df[column].isna() | (df[column].astype(str).str.strip() == "")
    if blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise InputError(file, "empty compound name", "fill it in or drop the row", row=i + 1, field=column)


def _resolve_targets(ctx, targets: list[list[str]], field: str) -> list[list[str]]:
    """Target lists (one per data row) as approved symbols; ids dropped under the unmapped policy."""
    flat = [t for ts in targets for t in ts]
    rows = [i + 1 for i, ts in enumerate(targets) for _ in ts]
    if not flat:
        return [[] for _ in targets]
    symbols = iter(resolve_ids(ctx, flat, rows, field, what="target gene"))
    return [list(dict.fromkeys(s for s in (next(symbols) for _ in ts) if s is not None)) for ts in targets]


def _merge(records: list[dict], ctx) -> pd.DataFrame:
    """One row per compound key: list fields united in order, scalars from the first row that has one."""
    out: dict[str, dict] = {}
    merged = 0
    for r in records:
        key = r["name"]
        if key not in out:
            out[key] = {c: (list(r[c]) if isinstance(r[c], list) else r[c]) for c in COMPOUND_COLUMNS}
            continue
        merged += 1
        cur = out[key]
        for c in ("aliases", "moa", "targets", "pert_ids"):
            cur[c] += [x for x in r[c] if x not in cur[c]]
        for c in ("phase", "inchikey", "smiles"):
            if cur[c] is None:
                cur[c] = r[c]
    if merged:
        ctx.notes["merged_names"] = ctx.notes.get("merged_names", 0) + merged
    return pd.DataFrame(list(out.values()), columns=COMPOUND_COLUMNS)


def _names(raw: str) -> tuple[str, list[str]]:
    """The compound key and aliases, the file's own spelling among them when it differs."""
    key, aliases = normalize_compound(raw)
    lower = str(raw).strip().lower()
    return key, list(dict.fromkeys([a for a in aliases + [lower] if a != key]))


def _pert_id(broad_id: str) -> str:
    """``BRD-K76022557-003-28-9`` (a sample: batch, salt) -> ``BRD-K76022557``, the LINCS pert_id."""
    parts = broad_id.strip().split("-")
    return "-".join(parts[:2]) if len(parts) >= 2 and parts[0].upper() == "BRD" else broad_id.strip()


# --------------------------------------------------------------------------- Drug Repurposing Hub

def _samples_path(path: Path, value: str) -> Path:
    """The samples option as given; a relative path that is not there is looked up beside the drugs file."""
    p = Path(value).expanduser()
    if not p.is_absolute() and not p.exists() and (Path(path).parent / p).exists():
        return Path(path).parent / p
    return p


class HubOptions(LoaderOptions):
    samples: str | None = Field(None, description="repurposing_samples_*.txt of the same release, to add Broad ids "
                                "(pert_ids), InChIKey and SMILES (a relative path is also looked up beside the drugs "
                                "file); unset: none")


def _hub_files(path: Path, options: HubOptions) -> list[Path]:
    return [path] + ([_samples_path(path, options.samples)] if options.samples else [])


@register("repurposing-hub", "compounds", "Broad Drug Repurposing Hub drugs table (repurposing_drugs_*.txt: "
          "pert_iname, clinical_phase, moa, target; '|'-separated lists; '!' comment lines): Compound nodes with "
          "HAS_MOA and HAS_TARGET.", options=HubOptions, files=_hub_files)
def read_repurposing_hub(path: Path, ctx) -> CompoundTable:
    file = str(path)
    opts = ctx.opts(HubOptions)
    df = _read_commented(path)
    require_columns(df, ["pert_iname", "moa", "target"], file)
    _require_names(df, "pert_iname", file)
    check_no_duplicates(df, ["pert_iname"], file)
    targets = _resolve_targets(ctx, [_split(t, "|") for t in df["target"]], "target")
    phases = df["clinical_phase"] if "clinical_phase" in df else [None] * len(df)
    extra: dict[str, dict] = {}
    if opts.samples:
        extra = _read_samples(_samples_path(path, opts.samples), ctx)
    records = []
    for raw, moa, tg, phase in zip(df["pert_iname"], df["moa"], targets, phases):
        key, aliases = _names(raw)
        s = extra.get(str(raw).strip().lower(), {})
        records.append({"name": key, "aliases": aliases, "moa": _split(moa, "|"), "targets": tg,
                        "pert_ids": s.get("pert_ids", []), "phase": _text(phase),
                        "inchikey": s.get("inchikey"), "smiles": s.get("smiles")})
    if extra:
        known = {str(n).strip().lower() for n in df["pert_iname"]}
        orphans = sum(1 for n in extra if n not in known)
        if orphans:
            ctx.notes["samples_without_drug"] = orphans
    return CompoundTable(_merge(records, ctx), "Drug Repurposing Hub")


def _read_samples(path: Path, ctx) -> dict[str, dict]:
    """pert_iname (lower case) -> pert_ids, and the InChIKey and SMILES of its first sample that has them."""
    file = str(path)
    df = _read_commented(path)
    require_columns(df, ["broad_id", "pert_iname"], file)
    _require_names(df, "pert_iname", file)
    blank = df["broad_id"].isna() | (df["broad_id"].astype(str).str.strip() == "")
    if blank.any():
        raise InputError(file, "empty broad_id", "fill it in or drop the row",
                         row=int(np.flatnonzero(blank.to_numpy())[0]) + 1, field="broad_id")
    inchikey = df["InChIKey"] if "InChIKey" in df else [None] * len(df)
    smiles = df["smiles"] if "smiles" in df else [None] * len(df)
    out: dict[str, dict] = {}
    for name, broad, ik, smi in zip(df["pert_iname"], df["broad_id"], inchikey, smiles):
        d = out.setdefault(str(name).strip().lower(), {"pert_ids": [], "inchikey": None, "smiles": None})
        pid = _pert_id(str(broad))
        if pid not in d["pert_ids"]:
            d["pert_ids"].append(pid)
        if d["inchikey"] is None:
            d["inchikey"] = _text(ik)
        if d["smiles"] is None:
            d["smiles"] = _text(smi)
    return out


# --------------------------------------------------------------------------- LINCS compound table

class LincsCompoundOptions(LoaderOptions):
    target_col: str = Field("target", description="column of ';'-separated target genes (target: the curated CLUE "
                            "targets; t_gn_sym or mergeTargets add ChEMBL/DrugBank targets, metabolising enzymes "
                            "included)")
    moa_col: str = Field("MOA", description="column of ';'-separated mechanisms of action (mergeMOA adds ChEMBL's "
                         "wording)")


# ChEMBL max_phase, written in the Repurposing Hub's words so that both sources agree.
_MAX_PHASE = {4.0: "Launched", 3.0: "Phase 3", 2.0: "Phase 2", 1.0: "Phase 1", 0.5: "Early Phase 1",
              0.0: "Preclinical"}


def _phase(value) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return _MAX_PHASE.get(float(text), text)
    except ValueError:
        return text


@register("lincs-compounds", "compounds", "LINCS compound table (lincs_pert_info2.csv[.gz]: pert_id, pert_iname, "
          "target, MOA, inchi_key, canonical_smiles, max_phase; ';'-separated lists): Compound nodes with HAS_MOA "
          "and HAS_TARGET, one per pert_iname (its pert_ids listed).", options=LincsCompoundOptions)
def read_lincs_compounds(path: Path, ctx) -> CompoundTable:
    file = str(path)
    opts = ctx.opts(LincsCompoundOptions)
    target_col, moa_col = opts.target_col, opts.moa_col
    df = read_checked(path, dtype=str)
    require_columns(df, ["pert_id", "pert_iname", target_col, moa_col], file)
    _require_names(df, "pert_iname", file)
    blank = df["pert_id"].isna() | (df["pert_id"].astype(str).str.strip() == "")
    if blank.any():
        raise InputError(file, "empty pert_id", "fill it in or drop the row",
                         row=int(np.flatnonzero(blank.to_numpy())[0]) + 1, field="pert_id")
    check_no_duplicates(df, ["pert_id"], file)
    targets = _resolve_targets(ctx, [_split(t, ";") for t in df[target_col]], target_col)

    def col(name):
        return df[name] if name in df else [None] * len(df)

    records = []
    for raw, pid, moa, tg, alias, phase, ik, smi in zip(df["pert_iname"], df["pert_id"], df[moa_col], targets,
                                                         col("compound_aliases"), col("max_phase"), col("inchi_key"),
                                                         col("canonical_smiles")):
        key, aliases = _names(raw)
        for a in _split(alias, ";"):
            a = a.lower()
            if a != key and a not in aliases:
                aliases.append(a)
        records.append({"name": key, "aliases": aliases, "moa": _split(moa, ";"), "targets": tg,
                        "pert_ids": [str(pid).strip()], "phase": _phase(phase), "inchikey": _text(ik),
                        "smiles": _text(smi)})
    return CompoundTable(_merge(records, ctx), "LINCS")
