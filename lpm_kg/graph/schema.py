"""Applies the constraints and indexes in ``cypher/schema`` and records the schema version."""

from __future__ import annotations

import re
from importlib import resources

from lpm_kg.graph.connection import Graph

# Raised whenever the graph model changes in a way readers must know about.
SCHEMA_VERSION = 5


def schema_statements() -> list[tuple[str, str]]:
    """(file name, statement) for every statement in the schema files, in file order."""
    folder = resources.files("lpm_kg.cypher") / "schema"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".cypher"):
            continue
        text = re.sub(r"^\s*//.*$", "", entry.read_text(), flags=re.MULTILINE)
        out += [(entry.name, s.strip()) for s in text.split(";") if s.strip()]
    return out


def apply_schema(graph: Graph) -> int:
    """Idempotent: every statement is IF NOT EXISTS. Returns the schema version now recorded."""
    for _, statement in schema_statements():
        graph.query(statement)
    graph.query("MERGE (s:SchemaInfo {name: 'lpm-kg'}) SET s.version = $v, s.updated_at = datetime()",
                {"v": SCHEMA_VERSION})
    return SCHEMA_VERSION


def schema_version(graph: Graph) -> int | None:
    rows = graph.read("MATCH (s:SchemaInfo {name: 'lpm-kg'}) RETURN s.version AS v")
    return rows[0]["v"] if rows else None


def ensure_schema(graph: Graph) -> None:
    """Apply the schema on first use, or when this lpm-kg is newer than the graph."""
    current = schema_version(graph)
    if current is None or current < SCHEMA_VERSION:
        apply_schema(graph)
