"""A Dataset node records where data came from and whether its load finished.

A load first marks its dataset ``loading`` and only marks it ``complete`` once every write is
done. A crash or a lost server leaves ``loading`` behind: readers see the dataset as incomplete
and the next run of the same load (same checksum, format and options) writes it again,
idempotently, so the result equals one clean run. Experiments are written in batches, each
recording in its own transaction how many experiments are now written
(``experiments_written``); that rerun starts after them, so an hour-long LINCS write that was
interrupted does not start again from nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lpm_kg.errors import ConfigError
from lpm_kg.graph.connection import Graph


@dataclass
class DatasetState:
    name: str
    status: str
    checksum: str | None
    format: str | None
    options: str | None
    experiments_written: int | None = None

    def is_interrupted(self, checksum: str, format: str, options: dict) -> bool:
        """An unfinished run of this very load: its writes can be kept and the rest written."""
        return (self.status == "loading" and self.checksum == checksum and self.format == format
                and self.options == options_key(options))

    def is_current(self, checksum: str, format: str, options: dict) -> bool:
        return (self.status == "complete" and self.checksum == checksum and self.format == format
                and self.options == options_key(options))


def options_key(options: dict) -> str:
    return json.dumps(options, sort_keys=True, default=str)


def get_state(graph: Graph, name: str) -> DatasetState | None:
    rows = graph.read("MATCH (d:Dataset {name: $name}) RETURN d.status AS status, d.checksum AS checksum, "
                      "d.format AS format, d.options AS options, d.experiments_written AS written", {"name": name})
    if not rows:
        return None
    r = rows[0]
    return DatasetState(name, r["status"], r["checksum"], r["format"], r["options"], r["written"])


def begin(graph: Graph, name: str, *, checksum: str, format: str, options: dict, files: list[str],
          source: str | None, licence: str | None, kind: str, resume: bool = False) -> None:
    """Mark the dataset loading; ``resume`` keeps the progress an interrupted run of the same load recorded."""
    graph.query(
        "MERGE (d:Dataset {name: $name}) "
        "SET d.status = 'loading', d.checksum = $checksum, d.format = $format, d.options = $options, "
        "    d.files = $files, d.source = $source, d.licence = $licence, d.kind = $kind, "
        "    d.started_at = datetime(), "
        "    d.experiments_written = CASE WHEN $resume THEN d.experiments_written ELSE null END",
        {"name": name, "checksum": checksum, "format": format, "options": options_key(options),
         "files": files, "source": source, "licence": licence, "kind": kind, "resume": resume})


def complete(graph: Graph, name: str, counts: dict[str, Any]) -> None:
    graph.query("MATCH (d:Dataset {name: $name}) SET d.status = 'complete', d.completed_at = datetime(), d += $counts, "
                "d.experiments_written = null",
                {"name": name, "counts": counts})


def graph_counts(graph: Graph) -> tuple[dict[str, int], dict[str, int]]:
    """(nodes per label, relationships per type), each sorted by name."""
    labels = {r["label"]: r["n"] for r in graph.read(
        "MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS n ORDER BY label")}
    types = {r["type"]: r["n"] for r in graph.read("MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS n ORDER BY type")}
    return labels, types


def list_datasets(graph: Graph) -> list[dict]:
    rows = graph.read("MATCH (d:Dataset) RETURN d {.*, started_at: toString(d.started_at), "
                      "completed_at: toString(d.completed_at)} AS d ORDER BY d.name")
    return [dict(r["d"]) for r in rows]


# What deleting a dataset may leave behind, and when such a node counts as left behind: nothing
# points to it any more (no experiment, prediction, embedding or combination uses it). Each
# statement deletes at most $batch nodes; combinations go before their parts, panels before the
# readouts they list (readouts have their own rule, _delete_orphan_readouts).
ORPHANS: dict[str, str] = {
    "ReadoutPanel": "MATCH (n:ReadoutPanel) WHERE NOT EXISTS { (n)<--() }",
    "Perturbation (combination)": "MATCH (n:Perturbation) WHERE NOT EXISTS { (n)<--() } "
                                  "AND EXISTS { (n)-[:HAS_PART]->() }",
    "Perturbation": "MATCH (n:Perturbation) WHERE NOT EXISTS { (n)<--() }",
    "Context": "MATCH (n:Context) WHERE NOT EXISTS { (n)<--() }",
    "CellLine": "MATCH (n:CellLine) WHERE NOT EXISTS { (n)<--() }",
    # A compound that a reference table described (aliases, mechanisms) stays: it is knowledge, not
    # a leftover of a measurement; one that only a perturbation named goes with its perturbation.
    "Compound": "MATCH (n:Compound) WHERE NOT EXISTS { (n)--() } AND n.aliases IS NULL AND n.moa IS NULL",
}


def delete_orphans(graph: Graph, batch: int = 10_000) -> dict[str, int]:
    """Delete the nodes that nothing in the graph uses any more (see ORPHANS) and the readouts that
    no experiment, prediction, embedding or panel refers to; {label: number deleted}. Safe to run
    at any time: a node still in use is never matched."""
    removed: dict[str, int] = {}
    for label, match in ORPHANS.items():
        n = graph.in_batches(f"{match} WITH n LIMIT $batch DETACH DELETE n RETURN count(*) AS n", batch=batch)
        key = label.split(" ")[0]
        removed[key] = removed.get(key, 0) + n
    removed["Readout"] = _delete_orphan_readouts(graph, batch)  # after the panels that listed them
    return {k: v for k, v in removed.items() if v}


def _delete_orphan_readouts(graph: Graph, batch: int) -> int:
    # A readout is listed by symbol in ReadoutPanel arrays (the values of an experiment are a list
    # in panel order), not only linked by relationships, so the panels' lists are checked here.
    candidates = {r["s"] for r in graph.read("MATCH (n:Readout) WHERE NOT EXISTS { (n)<--() } RETURN n.symbol AS s")}
    if not candidates:
        return 0
    listed = {r["s"] for r in graph.read("MATCH (p:ReadoutPanel) UNWIND p.readouts AS s RETURN DISTINCT s")}
    orphans = sorted(candidates - listed)
    for start in range(0, len(orphans), batch):
        graph.query("UNWIND $symbols AS s MATCH (n:Readout {symbol: s}) WHERE NOT EXISTS { (n)<--() } DETACH DELETE n",
                    {"symbols": orphans[start:start + batch]})
    return len(orphans)


def measurement_datasets(graph: Graph, names: list[str] | None = None) -> list[tuple[str, str]]:
    """(name, checksum) of the complete datasets that hold experiments (what a model can train on),
    by name; with ``names``, only those."""
    rows = graph.read("MATCH (d:Dataset) WHERE d.status = 'complete' AND ($names IS NULL OR d.name IN $names) "
                      "AND EXISTS { (:Experiment)-[:IN_DATASET]->(d) } "
                      "RETURN d.name AS name, d.checksum AS checksum ORDER BY name", {"names": names})
    return [(r["name"], r["checksum"]) for r in rows]


# The reference relation types a gene prior can read, each counted from Neo4j's count store.
_RELATION_COUNTS = {t: f"MATCH ()-[r:{t}]->() RETURN count(r) AS n" for t in ("INTERACTS_WITH", "MEMBER_OF", "REGULATES")}


def reference_relation_count(graph: Graph, types: list[str]) -> int:
    """How many reference relations of ``types`` (INTERACTS_WITH, MEMBER_OF, REGULATES) the graph holds."""
    return sum(graph.read(_RELATION_COUNTS[t])[0]["n"] for t in types if t in _RELATION_COUNTS)


def require_dataset(graph: Graph, name: str) -> None:
    """Refuse a dataset name the graph does not hold, listing the ones it does."""
    if not graph.read("MATCH (d:Dataset {name: $name}) RETURN d.name AS n", {"name": name}):
        known = [r["n"] for r in graph.read("MATCH (d:Dataset) RETURN d.name AS n ORDER BY n LIMIT 20")]
        raise ConfigError(f"there is no dataset {name!r} in the graph; datasets: {', '.join(known) or 'none'}")


def delete_dataset(graph: Graph, name: str, batch: int = 10_000) -> dict[str, int]:
    """Remove a dataset and everything only it wrote (experiments, reference edges, memberships),
    then the nodes nothing uses any more (delete_orphans); {what: number deleted}. A name the
    graph does not hold is refused (nothing is deleted). The Dataset node goes last, so a delete
    that is cut off is finished by running it again."""
    require_dataset(graph, name)
    removed = {}
    for key, q in (("Experiment", "MATCH (e:Experiment {dataset: $name}) WITH e LIMIT $batch DETACH DELETE e "
                                  "RETURN count(*) AS n"),
                   ("reference edges", "MATCH ()-[r:INTERACTS_WITH|REGULATES|MEMBER_OF|HAS_TARGET {dataset: $name}]->() "
                                       "WITH r LIMIT $batch DELETE r RETURN count(*) AS n"),
                   ("groups", "MATCH (n:Complex|GeneSet {dataset: $name}) WHERE NOT EXISTS { (n)<-[:MEMBER_OF]-() } "
                              "WITH n LIMIT $batch DETACH DELETE n RETURN count(*) AS n")):
        removed[key] = graph.in_batches(q, {"name": name}, batch=batch)
    removed.update(delete_orphans(graph, batch))
    graph.query("MATCH (d:Dataset {name: $name}) DETACH DELETE d", {"name": name})
    return {k: v for k, v in removed.items() if v}


def gene_map_stamp(graph: Graph) -> list:
    """What identifies the loaded gene tables: [name, checksum, status, completed_at] per Dataset of
    kind genes (a changed stamp means a changed gene map)."""
    return graph.read("MATCH (d:Dataset {kind: 'genes'}) RETURN collect([d.name, d.checksum, d.status, "
                      "toString(d.completed_at)]) AS s")[0]["s"]


def gene_map(graph: Graph):
    """Every Gene's ids as a frame: symbol, entrez, ensembl, prev_symbols, aliases (empty: no map)."""
    rows = graph.read("MATCH (g:Gene) RETURN g.symbol AS symbol, g.entrez AS entrez, g.ensembl AS ensembl, "
                      "coalesce(g.prev_symbols, []) AS prev_symbols, coalesce(g.aliases, []) AS aliases")
    return pd.DataFrame([dict(r) for r in rows], columns=["symbol", "entrez", "ensembl", "prev_symbols", "aliases"])
