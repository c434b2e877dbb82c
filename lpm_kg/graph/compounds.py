"""Compound perturbations and their annotations, read from the graph: which compound a chemical
perturbation applies (``OF_COMPOUND``) and that compound's mechanisms of action (``HAS_MOA``)."""

from __future__ import annotations

from collections.abc import Iterable

from lpm_kg.graph.connection import Graph


def compound_mechanisms(graph: Graph, perturbations: Iterable[str] | None = None) -> dict[str, tuple[str, list[str]]]:
    """Chemical perturbation symbol -> (its compound's name, the compound's MOA names sorted; empty
    when it has none). With ``perturbations``, only those."""
    symbols = None if perturbations is None else list(perturbations)
    rows = graph.read("MATCH (p:Perturbation)-[:OF_COMPOUND]->(c:Compound) WHERE p.kind = 'chemical' "
                      "AND ($symbols IS NULL OR p.symbol IN $symbols) "
                      "RETURN p.symbol AS p, c.name AS compound, "
                      "COLLECT { MATCH (c)-[:HAS_MOA]->(m:MOA) RETURN m.name ORDER BY m.name } AS moas",
                      {"symbols": symbols})
    return {r["p"]: (r["compound"], list(r["moas"])) for r in rows}


def find_compound(graph: Graph, name: str) -> str | None:
    """The Compound a user's name or alias designates (its stored name), or None."""
    rows = graph.read("MATCH (c:Compound) WHERE c.name = toLower($name) OR $name IN c.aliases "
                      "OR toLower($name) IN c.aliases RETURN c.name AS name ORDER BY name LIMIT 1", {"name": name})
    return rows[0]["name"] if rows else None


def measured_perturbations(graph: Graph, datasets: list[str] | None = None) -> list[dict]:
    """Every genetic or chemical perturbation measured in ``datasets`` (default: all), sorted by
    symbol: ``symbol``, ``kind``, ``gene`` (its target gene, the first of several), ``compound`` and
    the compound's annotated ``targets``."""
    rows = graph.read(
        "MATCH (e:Experiment) WHERE $datasets IS NULL OR e.dataset IN $datasets "
        "WITH DISTINCT e.perturbation AS s MATCH (p:Perturbation {symbol: s}) "
        "WHERE p.kind IN ['genetic', 'chemical'] "
        "RETURN p.symbol AS symbol, p.kind AS kind, "
        "coalesce(head(COLLECT { MATCH (p)-[:TARGETS]->(g:Gene) RETURN g.symbol ORDER BY g.symbol }), p.gene) AS gene, "
        "head(COLLECT { MATCH (p)-[:OF_COMPOUND]->(c:Compound) RETURN c.name ORDER BY c.name }) AS compound, "
        "COLLECT { MATCH (p)-[:OF_COMPOUND]->(:Compound)-[:HAS_TARGET]->(t:Gene) RETURN DISTINCT t.symbol } AS targets "
        "ORDER BY symbol", {"datasets": datasets})
    return [dict(r) for r in rows]


def perturbation_kinds(graph: Graph, symbols) -> list[dict]:
    """Per perturbation of ``symbols`` in the graph: ``s``, ``kind``, ``method`` and its compound's
    MOA names (``moas``, empty for none)."""
    return [dict(r) for r in graph.read(
        "UNWIND $symbols AS s MATCH (p:Perturbation {symbol: s}) "
        "OPTIONAL MATCH (p)-[:OF_COMPOUND]->(:Compound)-[:HAS_MOA]->(m:MOA) "
        "RETURN p.symbol AS s, p.kind AS kind, p.method AS method, collect(DISTINCT m.name) AS moas",
        {"symbols": list(symbols)})]
