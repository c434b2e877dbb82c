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


def delete_dataset(graph: Graph, name: str, batch: int = 10_000) -> None:
    """Remove a dataset and everything only it wrote (experiments, reference edges, memberships).
    A name the graph does not hold is refused (nothing is deleted)."""
    if not graph.read("MATCH (d:Dataset {name: $name}) RETURN d.name AS n", {"name": name}):
        known = [r["n"] for r in graph.read("MATCH (d:Dataset) RETURN d.name AS n ORDER BY n LIMIT 20")]
        raise ConfigError(f"there is no dataset {name!r} in the graph; datasets: {', '.join(known) or 'none'}")
    for q in ("MATCH (e:Experiment {dataset: $name}) WITH e LIMIT $batch DETACH DELETE e RETURN count(*) AS n",
              "MATCH ()-[r:INTERACTS_WITH|REGULATES|MEMBER_OF|HAS_TARGET {dataset: $name}]->() WITH r LIMIT $batch "
              "DELETE r RETURN count(*) AS n"):
        graph.in_batches(q, {"name": name}, batch=batch)
    graph.query("MATCH (d:Dataset {name: $name}) DETACH DELETE d", {"name": name})
