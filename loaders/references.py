"""Reference gene-gene relations: STRING interactions, CORUM complexes and gene sets in GMT
files (the regulons, DoRothEA and TRRUST, are loaders/regulons.py).

These are ground truth taken from curated resources. They are written as their own
relationship types (INTERACTS_WITH, REGULATES, MEMBER_OF) tagged with the dataset, and are kept
apart from anything a model infers, which must never be written under these types.

The graph holds one relationship per (source, target, dataset): a loader that returned two rows
for one gene pair would have the second silently overwrite the first. So every loader here
returns unique pairs and says how it merged the rows that landed on one pair (rows whose ids
resolve to one gene, or a source that lists a pair once per piece of evidence).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from lpm_kg.contract import GroupTable, RelationTable
from lpm_kg.errors import ConfigError, InputError
from lpm_kg.registry import LoaderOptions, register
from lpm_kg.validate import check_no_duplicates, numeric_column, require_columns
from loaders.table_helpers import (MISSING, add_note, entrez_text, is_blank, open_text, prefer_resolvable,
                                   read_checked, require_filled, resolve_ids, split_list)


# --------------------------------------------------------------------------- STRING

class StringOptions(LoaderOptions):
    min_score: float = Field(0.0, description="keep edges whose score is at least this, in the file's units "
                             "(STRING: 0-1000; 0 keeps all)")
    score_col: str = Field("combined_score", description="column of the combined score")


# Evidence channels of a STRING links file with the detailed columns; kept as edge properties.
STRING_CHANNELS = ("neighborhood", "neighborhood_transferred", "fusion", "cooccurence", "homology", "coexpression",
                   "coexpression_transferred", "experiments", "experiments_transferred", "database",
                   "database_transferred", "textmining", "textmining_transferred")


@register("string", "relations", "STRING protein interactions with gene ids (entrez1, entrez2 and/or symbol1, "
          "symbol2) and a combined score: undirected INTERACTS_WITH edges, one per gene pair.",
          options=StringOptions)
def read_string(path: Path, ctx) -> RelationTable:
    file = str(path)
    opts = ctx.opts(StringOptions)
    score_col, min_score = opts.score_col, opts.min_score
    df = read_checked(path, dtype=str)
    has_entrez = {"entrez1", "entrez2"} <= set(df.columns)
    has_symbol = {"symbol1", "symbol2"} <= set(df.columns)
    require_columns(df, (["entrez1", "entrez2"] if has_entrez or not has_symbol else ["symbol1", "symbol2"])
                    + [score_col], file)
    id_cols = ("entrez1", "entrez2") if has_entrez else ("symbol1", "symbol2")
    for end in ("1", "2"):
        # An edge needs an id for both ends: an Entrez id, or else a symbol.
        blank = is_blank(df[id_cols[0][:-1] + end])
        if has_entrez and has_symbol:
            blank &= is_blank(df["symbol" + end])
        if blank.any():
            i = int(np.flatnonzero(blank)[0])
            raise InputError(file, "empty gene id", "fill it in or drop the row", row=i + 1,
                             field=id_cols[0][:-1] + end)
    scores = numeric_column(df[score_col], file, score_col)
    channels = {ch: numeric_column(df[ch], file, ch) for ch in STRING_CHANNELS if ch in df.columns}

    keep = scores >= min_score
    row_no = [int(i) + 1 for i in np.flatnonzero(keep)]  # the file's data rows of the kept edges, for errors
    df, scores = df[keep].reset_index(drop=True), scores[keep]
    channels = {ch: v[keep] for ch, v in channels.items()}
    n = len(df)
    if n == 0:
        return RelationTable("INTERACTS_WITH", pd.DataFrame(columns=["source", "target", "score"]), "STRING", False)
    rows = row_no * 2
    if has_entrez:
        primary = entrez_text(df["entrez1"]).tolist() + entrez_text(df["entrez2"]).tolist()
        fallback = (df["symbol1"].tolist() + df["symbol2"].tolist()) if has_symbol else [None] * (2 * n)
        ids, is_primary = prefer_resolvable(ctx, primary, fallback)
        fields = [(c if p else s) for c, s, p in zip(["entrez1"] * n + ["entrez2"] * n,
                                                     ["symbol1"] * n + ["symbol2"] * n, is_primary)]
    else:
        ids = df["symbol1"].astype(str).str.strip().tolist() + df["symbol2"].astype(str).str.strip().tolist()
        fields = ["symbol1"] * n + ["symbol2"] * n
    genes = resolve_ids(ctx, ids, rows, fields)
    a = np.array(genes[:n], dtype=object)
    b = np.array(genes[n:], dtype=object)

    edges = pd.DataFrame({"source": a, "target": b, "score": scores})
    if np.all(scores == np.round(scores)):
        edges["score"] = scores.astype(np.int64)
    for ch, values in channels.items():
        edges[ch] = values.astype(np.int64) if np.all(values == np.round(values)) else values
    edges = edges[pd.notna(edges["source"]) & pd.notna(edges["target"])]
    self_loop = (edges["source"] == edges["target"]).to_numpy()
    add_note(ctx, "self_loops_dropped", self_loop.sum())  # two ids of one gene, or a file's own self-loops
    edges = edges[~self_loop].copy()
    # Undirected: stored once, from the alphabetically smaller symbol to the larger.
    swap = (edges["source"] > edges["target"]).to_numpy()
    src = np.where(swap, edges["target"], edges["source"])
    edges["target"] = np.where(swap, edges["source"], edges["target"])
    edges["source"] = src
    # A pair listed in both directions, or ids that resolve to one gene: keep the best-scored row.
    before = len(edges)
    edges = (edges.sort_values("score", ascending=False, kind="stable")
             .drop_duplicates(["source", "target"], keep="first").sort_index().reset_index(drop=True))
    add_note(ctx, "duplicate_pairs_merged", before - len(edges))
    return RelationTable("INTERACTS_WITH", edges, "STRING", directed=False)


# --------------------------------------------------------------------------- CORUM

# CORUM 3 (coreComplexes.txt / allComplexes.txt) and CORUM 4+ (snake_case) spell the columns differently.
CORUM_COLUMNS = {
    "id": ("ComplexID", "complex_id"),
    "name": ("ComplexName", "complex_name"),
    "organism": ("Organism", "organism"),
    "entrez": ("subunits(Entrez IDs)", "subunits_entrez_id"),
    "symbol": ("subunits(Gene name)", "subunits_gene_name"),
    "cell_line": ("Cell line", "cell_line"),
    "purification": ("Protein complex purification method", "protein_complex_purification_method"),
    "go_ids": ("GO ID", "functions_go_id"),
    "pmids": ("PubMed ID", "pmid"),
    "comment": ("Complex comment", "complex_comment"),
}


class CorumOptions(LoaderOptions):
    organism: str = Field("Human", description="keep complexes of this organism (the gene map is human)")


def _pick(df: pd.DataFrame, key: str) -> str | None:
    return next((c for c in CORUM_COLUMNS[key] if c in df.columns), None)


@register("corum", "groups", "CORUM protein complexes (coreComplexes.txt / allComplexes.txt): Complex nodes "
          "with their subunits as MEMBER_OF, resolved by Entrez id (the gene name where the Entrez id is unknown).",
          options=CorumOptions)
def read_corum(path: Path, ctx) -> GroupTable:
    file = str(path)
    df = read_checked(path, sep="\t", dtype=str)
    cols = {k: _pick(df, k) for k in CORUM_COLUMNS}
    required = ["id", "name", "organism"]
    missing = [k for k in required if cols[k] is None]
    if missing or (cols["entrez"] is None and cols["symbol"] is None):
        need = [CORUM_COLUMNS[k][0] for k in missing] or [CORUM_COLUMNS["entrez"][0]]
        require_columns(df, need, file)
    organism = ctx.opts(CorumOptions).organism
    human = (df[cols["organism"]].astype(str).str.strip().str.lower() == organism.lower()).to_numpy()
    if not human.any():
        found = ", ".join(df[cols["organism"]].dropna().astype(str).value_counts().index[:5])
        raise InputError(file, f"no complex of organism {organism!r} (found: {found})",
                         "pass --option organism=NAME with one of those", field=cols["organism"])
    require_filled(df, cols["id"], file, what="complex id")
    check_no_duplicates(df, [cols["id"]], file)
    row_no = np.flatnonzero(human) + 1  # data rows of the kept complexes, for errors
    df = df[human].reset_index(drop=True)

    ids, rows, fields, groups_of, n_listed = [], [], [], [], []
    for r, (gid, entrez, symbols) in enumerate(zip(
            df[cols["id"]], df[cols["entrez"]] if cols["entrez"] else [None] * len(df),
            df[cols["symbol"]] if cols["symbol"] else [None] * len(df))):
        e = [x.removesuffix(".0") for x in split_list(entrez)] if cols["entrez"] else []
        s = split_list(symbols) if cols["symbol"] else []
        # The two lists are parallel when they have the same length; otherwise use the Entrez ids
        # (or the symbols when a file has no Entrez ids).
        if e:
            pairs = list(zip(e, s if len(s) == len(e) else [None] * len(e)))
        else:
            pairs = [(None, x) for x in s]
        n_listed.append(len(pairs))
        for ent, sym in pairs:
            ids.append((ent, sym))
            rows.append(int(row_no[r]))
            groups_of.append(f"CORUM:{str(gid).strip()}")
    primary = [e if e is not None else (s or "") for e, s in ids]
    fallback = [s if e is not None else None for e, s in ids]
    chosen, is_primary = prefer_resolvable(ctx, primary, fallback)
    for (e, _), p in zip(ids, is_primary):
        fields.append(cols["entrez"] if (p and e is not None) else cols["symbol"])
    genes = resolve_ids(ctx, chosen, rows, fields, what="subunit gene id")
    members = pd.DataFrame({"group": groups_of, "gene": genes}).dropna()
    members = members.drop_duplicates().reset_index(drop=True)  # a subunit listed twice (e.g. a dimer) once
    size = members.groupby("group").size()

    def text(col):
        return [None if v is None or str(v).strip().lower() in MISSING else str(v).strip()
                for v in (df[col] if col else [None] * len(df))]

    groups = pd.DataFrame({
        "id": [f"CORUM:{str(g).strip()}" for g in df[cols["id"]]],
        "name": df[cols["name"]].astype(str).str.strip(),
        "corum_id": df[cols["id"]].astype(str).str.strip(),
        "organism": df[cols["organism"]].astype(str).str.strip(),
        "cell_line": text(cols["cell_line"]),
        "purification": text(cols["purification"]),
        "comment": text(cols["comment"]),
        "go_ids": [split_list(v) for v in (df[cols["go_ids"]] if cols["go_ids"] else [None] * len(df))],
        "pmids": [split_list(v) for v in (df[cols["pmids"]] if cols["pmids"] else [None] * len(df))],
        "n_subunits": n_listed,
    })
    groups["size"] = groups["id"].map(size).fillna(0).astype(int)
    return GroupTable("Complex", groups, members, "CORUM")


# --------------------------------------------------------------------------- GMT gene sets

class GmtOptions(LoaderOptions):
    collection: str | None = Field(None, description="collection name, the prefix of each GeneSet id; unset: the "
                                   "file name without .gmt")


def gmt_collection(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".gmt", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


@register("gmt", "groups", "Gene sets in GMT format (name, description, genes..., tab-separated): GeneSet "
          "nodes with id collection:name and their genes as MEMBER_OF.", options=GmtOptions)
def read_gmt(path: Path, ctx) -> GroupTable:
    file = str(path)
    if not path.exists():
        raise InputError(file, "file not found", "check the path")
    if path.stat().st_size == 0:
        raise InputError(file, "the file is empty", "pass a GMT file: one gene set per line")
    collection = ctx.opts(GmtOptions).collection
    collection = (gmt_collection(path) if collection is None else collection).strip()
    if not collection:
        raise ConfigError("option collection must not be empty")
    sets, seen = [], {}
    ids, rows = [], []
    n_empty = 0
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                spaces = " (its fields are separated by spaces, not tabs?)" if " " in line.strip() else ""
                raise InputError(file, f"line has no tab{spaces}: a GMT line is name<TAB>description<TAB>gene...",
                                 "separate the name, the description and each gene with tabs", row=lineno,
                                 field="description")
            name = fields[0].strip()
            if not name:
                raise InputError(file, "gene set without a name", "put the set's name in the first field",
                                 row=lineno, field="name")
            if name in seen:
                raise InputError(file, f"gene set {name!r} repeats line {seen[name]}",
                                 "give each set a unique name, or load the other file as its own collection",
                                 row=lineno, field="name")
            seen[name] = lineno
            # Enrichr writes weighted genes as GENE,1.0: the gene is the part before the comma.
            genes = list(dict.fromkeys(g.split(",")[0].strip() for g in fields[2:] if g.split(",")[0].strip()))
            if not genes:
                # Real files have these (Reactome lists viral pathways with no human gene): the set
                # is left out, and the count recorded on the Dataset node, rather than failing the load.
                n_empty += 1
                continue
            sets.append({"id": f"{collection}:{name}", "name": name, "collection": collection,
                         "description": fields[1].strip() or None, "n_listed": len(genes)})
            ids += genes
            rows += [lineno] * len(genes)
    if not sets:
        raise InputError(file, "no gene set lists any gene" if seen else "the file holds no gene set",
                         "pass a GMT file: name<TAB>description<TAB>gene<TAB>gene...")
    add_note(ctx, "empty_sets", n_empty)
    group_of = [s["id"] for s in sets for _ in range(s["n_listed"])]
    genes = resolve_ids(ctx, ids, rows, "genes")
    members = pd.DataFrame({"group": group_of, "gene": genes}).dropna()
    members = members.drop_duplicates().reset_index(drop=True)  # two ids of one gene in one set
    groups = pd.DataFrame(sets)
    groups["size"] = groups["id"].map(members.groupby("group").size()).fillna(0).astype(int)
    return GroupTable("GeneSet", groups[["id", "name", "collection", "description", "size", "n_listed"]],
                      members, collection)
