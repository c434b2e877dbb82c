"""What a measurement loader does when several source rows land on one (perturbation, readout,
context) value once gene ids are resolved and perturbation names normalised.

Three kinds of collision, told apart by the rows' original text:

- ``duplicate_row``: the same perturbation, gene id and context written twice;
- ``ids_onto_one_gene``: two gene ids of one gene (an old and a new symbol, an Entrez and an
  Ensembl id) measured for one perturbation and context;
- ``names_onto_one_symbol``: two perturbation names that normalise to one symbol
  ("Trametinib (GSK1120212)" and "trametinib", "CRISPRi_stat1" and "CRISPRi_STAT1").

Long tables go through :func:`merge`. Matrices (GCT/GCTX, h5ad) meet the same kinds on their two
axes: :func:`gene_axis` collapses gene rows (or columns) that resolve to one gene, and
:func:`names_onto_one` finds signatures whose different perturbation names make one symbol (the
same name twice is a replicate, averaged as the format means, not a collision).

Policies (``--option collisions=...``): ``error`` refuses the file naming both rows; ``first``
keeps one row (the best-ranked one where the data are ranks, else the first in the file);
``mean`` averages them. The load records what happened on its Dataset node: ``collisions`` (rows
merged into another), ``collision_policy`` and ``collision_kinds`` (JSON: per kind a count and up
to three examples naming both rows' original values).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lpm_kg.errors import InputError

POLICIES = ("error", "first", "mean")
KINDS = {
    "duplicate_row": "the same source row twice",
    "ids_onto_one_gene": "two source ids of one gene",
    "names_onto_one_symbol": "two perturbation names with one symbol",
}
MAX_EXAMPLES = 3


@dataclass
class Merged:
    """Which input entries to keep (positions, ascending) and their values after the policy."""

    index: np.ndarray
    values: np.ndarray
    n_collisions: int


def merge(file: str, *, perturbations: list[str], contexts, genes: list[str], raw_perturbations, raw_genes,
          values: np.ndarray, rows: np.ndarray, how: str, notes: dict, order: np.ndarray | None = None,
          perturbation_field: str = "perturbation", gene_field: str = "gene", first_means: str = "the first row",
          ) -> Merged:
    """Apply the collision policy ``how`` to long entries keyed by (perturbation symbol, context, gene).

    ``raw_*`` are each entry's original text, ``rows`` its 1-based row in the file, ``order`` what
    ``first`` prefers (lowest wins, e.g. the rank; file order where None). Records the outcome in
    ``notes``."""
    n = len(genes)
    values = np.asarray(values)
    frame = pd.DataFrame({"p": pd.Series(perturbations, dtype=object), "c": pd.Series(list(contexts), dtype=object),
                          "g": pd.Series(genes, dtype=object)})
    group = frame.groupby(["p", "c", "g"], sort=False).ngroup().to_numpy() if n else np.zeros(0, dtype=np.int64)
    n_groups = int(group.max()) + 1 if n else 0
    notes["collision_policy"] = how
    if n_groups == n:
        notes["collisions"] = 0
        notes["collision_kinds"] = "{}"
        return Merged(np.arange(n), values, 0)

    # The first entry of each group (in file order), and what sets each later entry apart from it.
    first_of = np.full(n_groups, n, dtype=np.int64)
    np.minimum.at(first_of, group, np.arange(n))
    head = first_of[group]
    later = np.flatnonzero(head != np.arange(n))
    raw_p = np.asarray(pd.Series(list(raw_perturbations), dtype=object).astype(str), dtype=object)
    raw_g = np.asarray(pd.Series(list(raw_genes), dtype=object).astype(str), dtype=object)
    ctx_arr = np.asarray(list(contexts), dtype=object)
    name_differs = raw_p[later] != raw_p[head[later]]
    id_differs = raw_g[later] != raw_g[head[later]]
    kinds = np.where(name_differs, "names_onto_one_symbol", np.where(id_differs, "ids_onto_one_gene", "duplicate_row"))

    def describe(j: int) -> dict:
        i = int(head[j])
        return {"rows": [int(rows[i]), int(rows[j])], perturbation_field: [str(raw_p[i]), str(raw_p[j])],
                gene_field: [str(raw_g[i]), str(raw_g[j])], "context": str(ctx_arr[j]),
                "onto": f"{perturbations[j]} / {genes[j]}"}

    if how == "error":
        j = int(later[0])
        i = int(head[j])
        kind = str(kinds[0])
        raise InputError(
            file, f"rows {rows[i]} and {rows[j]} land on one value ({KINDS[kind]}): row {rows[i]} has "
            f"{perturbation_field}={raw_p[i]!r}, {gene_field}={raw_g[i]!r}, row {rows[j]} has "
            f"{perturbation_field}={raw_p[j]!r}, {gene_field}={raw_g[j]!r}; both are perturbation "
            f"{perturbations[j]}, gene {genes[j]}, context {ctx_arr[j]}",
            f"pass --option collisions=first (keep {first_means}) or --option collisions=mean (average them), "
            "or keep one of the two rows", row=int(rows[j]),
            field={"ids_onto_one_gene": gene_field, "names_onto_one_symbol": perturbation_field}.get(
                kind, f"{perturbation_field}+{gene_field}+context"))

    summary: dict[str, dict] = {}
    for kind in KINDS:
        hits = later[kinds == kind]
        if len(hits):
            summary[kind] = {"count": int(len(hits)), "examples": [describe(int(j)) for j in hits[:MAX_EXAMPLES]]}
    notes["collisions"] = int(len(later))
    notes["collision_kinds"] = json.dumps(summary, sort_keys=True)

    if how == "first":
        prefer = np.zeros(n) if order is None else np.asarray(order, dtype=np.float64)
        # Lowest `order` wins, then file order: sort by (group, order, position) and take each group's head.
        by = np.lexsort((np.arange(n), prefer, group))
        starts = np.flatnonzero(np.r_[True, group[by][1:] != group[by][:-1]])
        keep = np.sort(by[starts])
        return Merged(keep, values[keep], int(len(later)))
    # mean: each group's entries averaged, kept at the group's first entry (NaN ignored).
    sums = np.zeros(n_groups, dtype=np.float64)
    counts = np.zeros(n_groups, dtype=np.int64)
    finite = ~np.isnan(values.astype(np.float64))
    np.add.at(sums, group[finite], values[finite].astype(np.float64))
    np.add.at(counts, group[finite], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    keep = np.sort(first_of)
    return Merged(keep, means[group[keep]].astype(values.dtype), int(len(later)))


def _record(notes: dict, how: str, kind: str, count: int, examples: list[dict]) -> None:
    """Add ``count`` collisions of ``kind`` to a load's notes (several axes can add to one load)."""
    notes["collision_policy"] = how
    notes["collisions"] = int(notes.get("collisions", 0)) + int(count)
    kinds = json.loads(notes.get("collision_kinds") or "{}")
    entry = kinds.setdefault(kind, {"count": 0, "examples": []})
    entry["count"] += int(count)
    entry["examples"] = (entry["examples"] + examples)[:MAX_EXAMPLES]
    notes["collision_kinds"] = json.dumps(kinds, sort_keys=True)


def start(notes: dict, how: str) -> None:
    """A matrix load's collision record before any axis adds to it: none yet, under ``how``."""
    notes["collision_policy"] = how
    notes.setdefault("collisions", 0)
    notes.setdefault("collision_kinds", "{}")


@dataclass
class GeneAxis:
    """A matrix's gene ids collapsed onto resolved genes: ``genes`` in order of first appearance,
    and :meth:`apply` giving one entry per gene along an axis of a block (its first id's values
    under ``first``, the mean of its ids' under ``mean``; unresolved ids dropped)."""

    genes: list[str]
    take: np.ndarray  # without a mean to take: the input position of each gene
    order: np.ndarray | None = None  # with one: input positions sorted by gene ...
    starts: np.ndarray | None = None  # ... where each gene's run starts ...
    counts: np.ndarray | None = None  # ... and its length

    def apply(self, block: np.ndarray, axis: int) -> np.ndarray:
        if self.order is None:
            return np.take(block, self.take, axis=axis)
        summed = self.total(block, axis)
        shape = [1] * block.ndim
        shape[axis] = -1
        return summed / self.counts.reshape(shape).astype(summed.dtype)

    def total(self, block: np.ndarray, axis: int = 0) -> np.ndarray:
        """Like :meth:`apply`, but a sum where it takes a mean (counts such as cells per row add)."""
        if self.order is None:
            return np.take(block, self.take, axis=axis)
        return np.add.reduceat(np.take(block, self.order, axis=axis), self.starts, axis=axis)


def gene_axis(file: str, genes: list, raw_ids: list, labels: list, how: str, notes: dict, *,
              gene_field: str = "gene", what: str = "rows", measure: str = "measure gene",
              renamed_kind: str = "ids_onto_one_gene") -> GeneAxis:
    """Collapse a matrix's gene ids (``genes``: resolved symbol or None per id; ``raw_ids``: the
    ids as written; ``labels``: how to name each position in a message) under policy ``how``.
    Records the collapsed ids in ``notes``; with ``error``, refuses naming both positions.

    The same works for an axis of perturbations (an aggregated h5ad's rows): ``genes`` are then
    the perturbation symbols and two names of one symbol are ``renamed_kind``
    ``names_onto_one_symbol``."""
    resolved = np.flatnonzero(np.array([g is not None for g in genes], dtype=bool))
    symbols = pd.Series([genes[i] for i in resolved], dtype=object)
    codes, uniques = pd.factorize(symbols)  # codes in order of first appearance
    out = [str(u) for u in uniques]
    if len(out) == len(resolved):
        return GeneAxis(out, resolved)
    later = np.flatnonzero(pd.Series(codes).duplicated().to_numpy())
    first_of = np.unique(codes, return_index=True)[1]  # the first position of each gene
    raw = [str(r) for r in raw_ids]
    describe = []
    for k in later:
        i, j = int(resolved[first_of[codes[k]]]), int(resolved[k])
        kind = "duplicate_row" if raw[i] == raw[j] else renamed_kind
        describe.append((kind, i, j))
    if how == "error":
        kind, i, j = describe[0]
        same = f"{gene_field} {raw[i]!r} twice" if kind == "duplicate_row" else f"{gene_field} {raw[i]!r} and {raw[j]!r}"
        raise InputError(file, f"{what} {labels[i]!r} and {labels[j]!r} both {measure} {genes[j]} ({same}; "
                         f"{KINDS[kind]})",
                         "pass --option collisions=first (keep the first) or --option collisions=mean (average "
                         "them), or keep one of the two", row=str(labels[j]), field=gene_field)
    for kind in KINDS:
        hits = [(i, j) for k, i, j in describe if k == kind]
        if hits:
            _record(notes, how, kind, len(hits), [
                {"rows": [str(labels[i]), str(labels[j])], gene_field: [raw[i], raw[j]],
                 "context": "every signature" if renamed_kind == "ids_onto_one_gene" else "the file",
                 "onto": str(genes[j])} for i, j in hits[:MAX_EXAMPLES]])
    if how == "first":
        return GeneAxis(out, resolved[first_of])
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]])
    return GeneAxis(out, resolved[first_of], resolved[order], starts, np.bincount(codes, minlength=len(out)))


def names_onto_one(file: str, groups: np.ndarray, raw_names: list, labels: list, how: str, notes: dict, *,
                   contexts: list, onto: list, name_field: str = "perturbation", what: str = "columns",
                   exempt: np.ndarray | None = None) -> np.ndarray:
    """Signatures (``groups``: the experiment each one makes) whose different perturbation names
    (``raw_names``) make one experiment. The same name repeated is a replicate, not a collision,
    and so is any ``exempt`` signature (controls: DMSO and PBS are both the vehicle). Returns the
    signatures to keep: all under ``mean`` (they average like replicates), those with their
    experiment's first name under ``first``; ``error`` refuses naming both."""
    n = len(groups)
    keep = np.ones(n, dtype=bool)
    if not n:
        return keep
    raw = pd.Series([str(r) for r in raw_names], dtype=object)
    consider = np.ones(n, dtype=bool) if exempt is None else ~np.asarray(exempt, dtype=bool)
    frame = pd.DataFrame({"g": np.asarray(groups), "raw": raw, "pos": np.arange(n)})[consider]
    first_pos = frame.groupby("g", sort=False)["pos"].transform("first").to_numpy()
    first_raw = raw.to_numpy()[first_pos]
    differs = frame["raw"].to_numpy() != first_raw
    if not differs.any():
        return keep
    pos = frame["pos"].to_numpy()[differs]
    heads = first_pos[differs]
    if how == "error":
        i, j = int(heads[0]), int(pos[0])
        raise InputError(file, f"{what} {labels[i]!r} and {labels[j]!r} land on one experiment ({KINDS['names_onto_one_symbol']}): "
                         f"{name_field} {raw[i]!r} and {raw[j]!r} are both {onto[j]} in {contexts[j]}",
                         "pass --option collisions=first (keep the first name's signatures) or --option "
                         "collisions=mean (average them as replicates)", row=str(labels[j]), field=name_field)
    _record(notes, how, "names_onto_one_symbol", len(pos), [
        {"rows": [str(labels[i]), str(labels[j])], name_field: [raw[i], raw[j]], "context": str(contexts[j]),
         "onto": str(onto[j])} for i, j in zip(heads[:MAX_EXAMPLES], pos[:MAX_EXAMPLES])])
    if how == "first":
        keep[pos] = False
    return keep


def summary_lines(counts: dict) -> list[str]:
    """Readable lines for the CLI from a load's recorded collisions (none when there were none)."""
    n = counts.get("collisions")
    if not n:
        return []
    lines = [f"collisions: {n} row(s) merged into another under collisions={counts.get('collision_policy')}"]
    for kind, entry in json.loads(counts.get("collision_kinds") or "{}").items():
        lines.append(f"  {entry['count']} x {KINDS.get(kind, kind)} ({kind})")
        for ex in entry["examples"]:
            rest = ", ".join(f"{k} {v[0]!r} / {v[1]!r}" for k, v in ex.items()
                             if k not in ("rows", "context", "onto"))
            lines.append(f"    rows {ex['rows'][0]} and {ex['rows'][1]}: {rest}, context {ex['context']!r} "
                         f"-> {ex['onto']}")
    return lines


__all__ = ["POLICIES", "KINDS", "merge", "summary_lines", "Merged", "GeneAxis", "gene_axis",
           "names_onto_one", "start"]
