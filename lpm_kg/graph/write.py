"""Writing validated payloads into the graph, in batches, idempotently.

Every statement MERGEs on a constrained key, so a repeated or resumed load finds what an
earlier run wrote. Measurements go in as one float array per Experiment, aligned with the
readout order of its ReadoutPanel, plus CHANGES relationships to the ``top_k`` most changed
readouts, which is what Cypher users browse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from lpm_kg.contract import CompoundTable, ExperimentTable, GeneTable, GroupTable, RelationTable
from lpm_kg.errors import InputError
from lpm_kg.graph.connection import Graph
from lpm_kg.jsonsafe import json_safe
from lpm_kg.symbols import Perturbation, context_symbol, normalize_cell_line, readout_symbol

Progress = Callable[[int], None]

# About this many floats per transaction: large enough to amortise round trips, small enough
# that a transaction stays well inside the 1 GiB heap of the managed server.
VALUES_PER_TX = 250_000
ROWS_PER_TX = 5_000


def _chunks(seq, size):
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


# --------------------------------------------------------------------------- perturbations

def _perturbation_rows(perturbations: list[Perturbation]) -> tuple[list[dict], list[dict]]:
    nodes: dict[str, dict] = {}
    parts: list[dict] = []

    def add(p: Perturbation):
        if p.symbol in nodes:
            return
        nodes[p.symbol] = {"symbol": p.symbol, "kind": p.kind, "method": p.method, "gene": p.gene,
                           "compound": p.compound, "dose": p.dose, "dose_unit": p.dose_unit}
        for part in p.parts:
            add(part)
            parts.append({"whole": p.symbol, "part": part.symbol})

    for p in perturbations:
        add(p)
    return list(nodes.values()), parts


def write_perturbations(graph: Graph, perturbations: list[Perturbation]) -> None:
    nodes, parts = _perturbation_rows(perturbations)
    for batch in _chunks(nodes, ROWS_PER_TX):
        graph.query(
            "UNWIND $rows AS row MERGE (p:Perturbation {symbol: row.symbol}) "
            "SET p.kind = row.kind, p.method = row.method, p.gene = row.gene, p.compound = row.compound, "
            "    p.dose = row.dose, p.dose_unit = row.dose_unit "
            "FOREACH (_ IN CASE WHEN row.compound IS NULL THEN [] ELSE [1] END | "
            "  MERGE (c:Compound {name: row.compound}) MERGE (p)-[:OF_COMPOUND]->(c)) "
            "WITH p, row OPTIONAL MATCH (g:Gene {symbol: row.gene}) "
            "FOREACH (_ IN CASE WHEN g IS NULL THEN [] ELSE [1] END | MERGE (p)-[:TARGETS]->(g))",
            {"rows": batch})
    if parts:
        graph.query("UNWIND $rows AS row MATCH (w:Perturbation {symbol: row.whole}), (p:Perturbation {symbol: row.part}) "
                    "MERGE (w)-[:HAS_PART]->(p)", {"rows": parts})


def write_readouts(graph: Graph, rows: list[dict]) -> None:
    """Readout nodes from rows of ``symbol``, ``gene``, ``modality``, each linked to its Gene."""
    for batch in _chunks(rows, ROWS_PER_TX):
        graph.query("UNWIND $rows AS row MERGE (r:Readout {symbol: row.symbol}) "
                    "SET r.modality = row.modality, r.gene = row.gene "
                    "WITH r, row MATCH (g:Gene {symbol: row.gene}) MERGE (r)-[:OF_GENE]->(g)",
                    {"rows": batch})


# --------------------------------------------------------------------------- measurements

def panel_id(readouts: list[str]) -> str:
    return "panel-" + hashlib.sha1("\n".join(readouts).encode()).hexdigest()[:16]


def top_changes(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rows x k, -1 where fewer measured) of the k largest |values| per row, strongest first."""
    mag = np.where(np.isfinite(values), np.abs(values), -1.0)
    k = min(k, values.shape[1])
    idx = np.argpartition(-mag, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(mag, idx, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    idx[np.take_along_axis(mag, idx, axis=1) < 0] = -1
    return idx, k


def write_experiments(graph: Graph, dataset: str, table: ExperimentTable, *, top_k: int = 25,
                      progress: Progress | None = None, start_at: int = 0) -> dict:
    """Write the table; ``start_at`` experiments are already written by an interrupted run of the
    same load (``Dataset.experiments_written``), so its batches start after them."""
    tag = table.context_tag or dataset
    exps = table.experiments
    perts: list[Perturbation] = list(exps["perturbation"])
    cells = [normalize_cell_line(c) for c in exps["cell_line"]]
    control_modality = _control_modalities(perts, cells)
    contexts = [context_symbol(tag, c, p.modality if p.kind != "control" else control_modality[c])
                for c, p in zip(cells, perts)]
    readouts = [readout_symbol(g, table.readout_modality) for g in table.genes]
    pid = panel_id(readouts)

    # Small reference nodes first, so the big batches only MATCH them.
    graph.query("MATCH (d:Dataset {name: $dataset}) SET d.value_kind = $kind", {"dataset": dataset, "kind": table.value_kind})
    ctx_rows = [{"symbol": s, "cell_line": c, "modality": s.rsplit("_", 1)[1], "tag": tag}
                for s, c in dict(zip(contexts, cells)).items()]
    graph.query("UNWIND $rows AS row MERGE (c:Context {symbol: row.symbol}) "
                "SET c.cell_line = row.cell_line, c.modality = row.modality, c.dataset = row.tag "
                "MERGE (l:CellLine {name: row.cell_line}) MERGE (c)-[:OF_CELL_LINE]->(l)", {"rows": ctx_rows})
    write_perturbations(graph, perts)
    write_readouts(graph, [{"symbol": r, "gene": g, "modality": table.readout_modality}
                           for r, g in zip(readouts, table.genes)])
    graph.query("MERGE (p:ReadoutPanel {id: $id}) SET p.readouts = $readouts, p.size = size($readouts)",
                {"id": pid, "readouts": readouts})

    top_idx, k = top_changes(table.values, top_k) if top_k > 0 else (np.zeros((len(exps), 0), int), 0)
    extra_cols = [c for c in exps.columns if c not in ("key", "perturbation", "cell_line")]
    ids = [f"{dataset}:{key}" for key in exps["key"]]
    per_tx = max(1, VALUES_PER_TX // max(1, len(readouts)))
    n_measured = np.isfinite(table.values).sum(axis=1)
    start_at = min(max(0, start_at), len(exps))
    if progress and start_at:
        progress(int(n_measured[:start_at].sum()))
    for start in range(start_at, len(exps), per_tx):
        stop = min(start + per_tx, len(exps))
        rows = []
        for i in range(start, stop):
            v = table.values[i]
            props = {c: json_safe(exps[c].iat[i]) for c in extra_cols}
            props.update(key=str(exps["key"].iat[i]), value_kind=table.value_kind, n_measured=int(n_measured[i]))
            top = [j for j in top_idx[i] if j >= 0]
            rows.append({"id": ids[i], "props": props, "perturbation": perts[i].symbol, "context": contexts[i],
                         "values": v.tolist(),
                         "top": [{"r": readouts[j], "v": float(v[j]), "k": n + 1} for n, j in enumerate(top)]})
        graph.write_tx(_write_experiment_batch, rows, dataset, pid, stop)
        if progress:
            progress(int(n_measured[start:stop].sum()))

    # A changed file may have dropped experiments: remove what this dataset no longer holds.
    graph.query("MATCH (e:Experiment {dataset: $dataset}) WHERE NOT e.id IN $ids DETACH DELETE e",
                {"dataset": dataset, "ids": ids})
    return {"n_experiments": len(exps), "n_measurements": int(n_measured.sum()), "n_readouts": len(readouts),
            "n_contexts": len(ctx_rows)}


def _control_modalities(perts: list[Perturbation], cells: list[str]) -> dict[str, str]:
    """Controls join the context of their cell line's treatments (its most common modality)."""
    frame = pd.DataFrame({"cell": cells, "mod": [p.modality for p in perts], "ctl": [p.kind == "control" for p in perts]})
    treated = frame[~frame.ctl]
    modes = treated.groupby("cell")["mod"].agg(lambda m: m.mode().iat[0]).to_dict()
    fallback = treated["mod"].mode().iat[0] if len(treated) else "Control"
    return {c: modes.get(c, fallback) for c in frame.cell.unique()}


class _Values(list):
    """A values list whose repr is short. The driver renders every parameter as text for its debug
    log, even with logging off; for 250k floats a statement that cost a third of the write time."""

    def __repr__(self) -> str:
        return f"<{len(self)} values>"


def _write_experiment_batch(tx, rows, dataset, pid, written):
    tx.run("UNWIND $rows AS row "
           "MERGE (e:Experiment {id: row.id}) "
           "SET e += row.props, e.dataset = $dataset, e.perturbation = row.perturbation, e.context = row.context, "
           "    e.panel = $pid, e.values = row.values "
           "WITH e, row "
           "MATCH (d:Dataset {name: $dataset}), (p:Perturbation {symbol: row.perturbation}), "
           "      (c:Context {symbol: row.context}), (panel:ReadoutPanel {id: $pid}) "
           "MERGE (e)-[:IN_DATASET]->(d) MERGE (e)-[:OF_PERTURBATION]->(p) MERGE (e)-[:IN_CONTEXT]->(c) "
           "MERGE (e)-[:MEASURED_WITH]->(panel)",
           rows=[{**r, "values": _Values(r["values"])} for r in rows], dataset=dataset, pid=pid).consume()
    # The CHANGES statements need only ids and top effects: never send the value arrays twice more.
    light = [{"id": r["id"], "top": r["top"]} for r in rows]
    # CHANGES are replaced, not merged: a changed file may have a different top set.
    tx.run("UNWIND $rows AS row MATCH (e:Experiment {id: row.id})-[c:CHANGES]->() DELETE c",
           rows=light).consume()
    tx.run("UNWIND $rows AS row MATCH (e:Experiment {id: row.id}) "
           "UNWIND row.top AS t MATCH (r:Readout {symbol: t.r}) "
           "CREATE (e)-[:CHANGES {value: t.v, rank: t.k}]->(r)", rows=light).consume()
    # In the batch's own transaction: after a crash, the count names exactly the batches that committed.
    tx.run("MATCH (d:Dataset {name: $dataset}) SET d.experiments_written = $written",
           dataset=dataset, written=written).consume()


# --------------------------------------------------------------------------- genes and annotations

def write_genes(graph: Graph, dataset: str, table: GeneTable, progress: Progress | None = None) -> dict:
    rows = [{k: json_safe(v) for k, v in r.items()} for r in table.genes.to_dict("records")]
    for batch in _chunks(rows, ROWS_PER_TX):
        graph.query("UNWIND $rows AS row MERGE (g:Gene {symbol: row.symbol}) SET g += row, g.source = $dataset",
                    {"rows": batch, "dataset": dataset})
        if progress:
            progress(len(batch))
    return {"n_genes": len(rows)}


def _union(stored: str, new: str) -> str:
    """Cypher for the list ``stored`` extended by the items of ``new`` it lacks (no APOC needed)."""
    return f"reduce(acc = coalesce({stored}, []), x IN coalesce({new}, []) | CASE WHEN x IN acc THEN acc ELSE acc + x END)"


def write_compounds(graph: Graph, dataset: str, table: CompoundTable, progress: Progress | None = None) -> dict:
    rows = [{k: json_safe(v) for k, v in r.items()} for r in table.compounds.to_dict("records")]
    for batch in _chunks(rows, ROWS_PER_TX):
        # Lists from several annotation sources are merged, not overwritten, so the Repurposing Hub
        # and the LINCS table can both contribute targets and mechanisms to one compound.
        graph.query(
            "UNWIND $rows AS row MERGE (c:Compound {name: row.name}) "
            f"SET c.aliases = {_union('c.aliases', 'row.aliases')}, c.moa = {_union('c.moa', 'row.moa')}, "
            f"    c.pert_ids = {_union('c.pert_ids', 'row.pert_ids')}, c.sources = {_union('c.sources', '[$dataset]')} "
            "SET c.phase = coalesce(row.phase, c.phase), c.inchikey = coalesce(row.inchikey, c.inchikey), "
            "    c.smiles = coalesce(row.smiles, c.smiles) "
            "WITH c, row "
            "FOREACH (m IN row.moa | MERGE (x:MOA {name: m}) MERGE (c)-[:HAS_MOA]->(x)) "
            "WITH c, row UNWIND (CASE WHEN size(row.targets) = 0 THEN [null] ELSE row.targets END) AS t "
            "OPTIONAL MATCH (g:Gene {symbol: t}) "
            "FOREACH (_ IN CASE WHEN g IS NULL THEN [] ELSE [1] END | MERGE (c)-[:HAS_TARGET {dataset: $dataset}]->(g))",
            {"rows": batch, "dataset": dataset})
        if progress:
            progress(len(batch))
    return {"n_compounds": len(rows)}


RELATION_TYPES = ("INTERACTS_WITH", "REGULATES")
GROUP_LABELS = ("Complex", "GeneSet")


def _whitelisted(what: str, value, allowed: tuple[str, ...], dataset: str, source: str) -> str:
    """``value`` if it is in ``allowed``: a label or relationship type cannot be a Cypher
    parameter, so it is spliced into the query only from this fixed set (a real check, not an
    ``assert``, which ``python -O`` strips)."""
    if not isinstance(value, str) or value not in allowed:
        raise InputError(None, f"the {what} {value!r} of dataset '{dataset}' (source {source}) is not one lpm-kg "
                         "writes, so nothing was written",
                         f"use one of {', '.join(allowed)} (a loader's table names it)", field=what)
    return value


def write_relations(graph: Graph, dataset: str, table: RelationTable, progress: Progress | None = None) -> dict:
    rel_type = _whitelisted("relationship type", table.rel_type, RELATION_TYPES, dataset, table.source)
    edges = table.edges
    prop_cols = [c for c in edges.columns if c not in ("source", "target")]
    rows = [{"s": s, "t": t, "props": {c: json_safe(v) for c, v in zip(prop_cols, vals)}}
            for s, t, *vals in edges[["source", "target", *prop_cols]].itertuples(index=False, name=None)]
    # The relationship type cannot be a parameter; it comes from the fixed set checked above.
    query = ("UNWIND $rows AS row MATCH (a:Gene {symbol: row.s}), (b:Gene {symbol: row.t}) "
             f"MERGE (a)-[r:{rel_type} {{dataset: $dataset}}]->(b) SET r += row.props, r.source = $source")
    for batch in _chunks(rows, ROWS_PER_TX):
        graph.query(query, {"rows": batch, "dataset": dataset, "source": table.source})
        if progress:
            progress(len(batch))
    return {"n_edges": len(rows)}


def write_groups(graph: Graph, dataset: str, table: GroupTable, progress: Progress | None = None) -> dict:
    label = _whitelisted("label", table.label, GROUP_LABELS, dataset, table.source)
    groups = [{k: json_safe(v) for k, v in r.items()} for r in table.groups.to_dict("records")]
    for batch in _chunks(groups, ROWS_PER_TX):
        graph.query(f"UNWIND $rows AS row MERGE (g:{label} {{id: row.id}}) SET g += row, g.dataset = $dataset",
                    {"rows": batch, "dataset": dataset})
    members = table.members[["group", "gene"]].to_dict("records")
    for batch in _chunks(members, ROWS_PER_TX):
        graph.query(f"UNWIND $rows AS row MATCH (s:{label} {{id: row.group}}), (g:Gene {{symbol: row.gene}}) "
                    "MERGE (g)-[m:MEMBER_OF {dataset: $dataset}]->(s)", {"rows": batch, "dataset": dataset})
        if progress:
            progress(len(batch))
    return {"n_groups": len(groups), "n_memberships": len(members)}
