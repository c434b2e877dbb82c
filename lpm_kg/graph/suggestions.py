"""Suggested experiments in the graph: a ``SuggestionPlan`` (one ``lpm-kg suggest`` call: its run,
strategy and settings) and one ``Suggestion`` per proposed (perturbation, context), with its rank,
score and why.

    (:Suggestion)-[:IN_PLAN]->(:SuggestionPlan)-[:FROM_RUN]->(:ModelRun)
    (:Suggestion)-[:OF_PERTURBATION]->(:Perturbation), (:Suggestion)-[:IN_CONTEXT]->(:Context)

A plan's id is a digest of its run, strategy and settings: the same call again rewrites the same
nodes with the same values (nothing changes), and a suggestion that is no longer in the batch is
removed from the plan.
"""

from __future__ import annotations

import json

from lpm_kg.graph.connection import Graph
from lpm_kg.graph.priors import ensure_predicted_symbols
from lpm_kg.graph.runs import require_run


def measured_pairs(graph: Graph) -> set[tuple[str, str]]:
    """Every (perturbation, context) some experiment in the graph measured."""
    rows = graph.read("MATCH (e:Experiment) RETURN DISTINCT e.perturbation AS p, e.context AS c")
    return {(r["p"], r["c"]) for r in rows}


def perturbation_info(graph: Graph, symbols) -> dict[str, dict]:
    """Symbol -> ``kind``, ``gene`` (a genetic perturbation's target) and ``compound`` for the
    perturbations of ``symbols`` that are nodes of the graph."""
    rows = graph.read("UNWIND $s AS s MATCH (p:Perturbation {symbol: s}) "
                      "RETURN p.symbol AS symbol, p.kind AS kind, p.gene AS gene, "
                      "head(COLLECT { MATCH (p)-[:OF_COMPOUND]->(c:Compound) RETURN c.name }) AS compound",
                      {"s": list(symbols)})
    return {r["symbol"]: dict(r) for r in rows}


def perturbations_of(graph: Graph, names) -> dict[str, list[str]]:
    """Name (a perturbation symbol, a gene symbol or a compound name or alias) -> the perturbation
    symbols of the graph it designates."""
    rows = graph.read(
        "UNWIND $names AS name "
        "OPTIONAL MATCH (p:Perturbation) WHERE p.symbol = name OR p.gene = name "
        "   OR EXISTS { (p)-[:OF_COMPOUND]->(c:Compound) WHERE c.name = toLower(name) OR name IN c.aliases "
        "               OR toLower(name) IN c.aliases } "
        "RETURN name, collect(DISTINCT p.symbol) AS symbols", {"names": list(names)})
    return {r["name"]: sorted(r["symbols"]) for r in rows}


def write_plan(graph: Graph, plan: dict, suggestions: list[dict]) -> dict:
    """Store ``plan`` (``id``, ``run_id``, ``strategy``, ``settings`` dict, ``n_candidates``) and its
    ``suggestions`` (``perturbation``, ``context``, ``rank``, ``score``, ``uncertainty``,
    ``uncertain_readouts``, ``related``); returns counts. Perturbations known only through the
    graph get their Perturbation node, as a prediction of them does."""
    require_run(graph, plan["run_id"])
    ensure_predicted_symbols(graph, sorted({s["perturbation"] for s in suggestions}), [])
    rows = [{**s, "id": f"{plan['id']}:{s['perturbation']}@{s['context']}"} for s in suggestions]

    def work(tx):
        tx.run("MATCH (run:ModelRun {run_id: $run}) MERGE (pl:SuggestionPlan {id: $id}) "
               "ON CREATE SET pl.created_at = datetime() "
               "SET pl.run_id = $run, pl.strategy = $strategy, pl.settings = $settings, pl.n_suggestions = $n, "
               "    pl.n_candidates = $n_candidates MERGE (pl)-[:FROM_RUN]->(run)",
               id=plan["id"], run=plan["run_id"], strategy=plan["strategy"],
               settings=json.dumps(plan["settings"], sort_keys=True), n=len(rows),
               n_candidates=plan["n_candidates"]).consume()
        tx.run("MATCH (s:Suggestion)-[:IN_PLAN]->(:SuggestionPlan {id: $id}) WHERE NOT s.id IN $keep DETACH DELETE s",
               id=plan["id"], keep=[r["id"] for r in rows]).consume()
        tx.run("MATCH (pl:SuggestionPlan {id: $plan}) UNWIND $rows AS row "
               "MERGE (s:Suggestion {id: row.id}) "
               "SET s.perturbation = row.perturbation, s.context = row.context, s.rank = row.rank, "
               "    s.score = row.score, s.uncertainty = row.uncertainty, s.strategy = $strategy, s.run_id = $run, "
               "    s.plan = $plan, s.uncertain_readouts = row.uncertain_readouts, s.related = row.related "
               "MERGE (s)-[:IN_PLAN]->(pl) "
               "WITH s, row MATCH (p:Perturbation {symbol: row.perturbation}), (c:Context {symbol: row.context}) "
               "MERGE (s)-[:OF_PERTURBATION]->(p) MERGE (s)-[:IN_CONTEXT]->(c)",
               plan=plan["id"], rows=rows, strategy=plan["strategy"], run=plan["run_id"]).consume()

    graph.write_tx(work)
    return {"plan": plan["id"], "n_suggestions": len(rows)}


def read_plan(graph: Graph, plan_id: str) -> list[dict]:
    """A plan's suggestions, best first."""
    rows = graph.read("MATCH (s:Suggestion)-[:IN_PLAN]->(:SuggestionPlan {id: $id}) RETURN s ORDER BY s.rank",
                      {"id": plan_id})
    return [dict(r["s"]) for r in rows]
