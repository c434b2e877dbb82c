"""Deleting old model runs with everything they wrote."""

from __future__ import annotations

from lpm_kg.graph.connection import Graph
from lpm_kg.graph.embeddings import DELETE_PER_TX, KINDS, delete_in_batches, use_embeddings
from lpm_kg.graph.networks import delete_networks
from lpm_kg.graph.runs import WritebackError, list_model_runs


def prune_model_runs(graph: Graph, keep: int = 1, kind: str = "lpm") -> list[str]:
    """Delete all but the ``keep`` newest complete runs of ``kind`` (trained models by default;
    evaluation records are another kind and never count against them), with everything they wrote (Embedding
    history, PredictedExperiments, node ``embedding`` properties they set; for ``kind='prior'``
    the ``Gene.prior`` vectors). Runs still
    ``writing`` that are newer than the newest complete run may be in progress and are kept.
    Nodes whose current embedding came from a deleted run take that of the newest kept run that
    embeds their kind (or none). Returns the deleted run ids. A killed prune is finished by
    running it again."""
    if keep < 0:
        raise WritebackError(f"keep must be 0 or more, not {keep}")
    runs = [r for r in list_model_runs(graph) if r["kind"] == kind]  # newest first
    complete = [r for r in runs if r["status"] == "complete"]
    kept = {r["run_id"] for r in complete[:keep]}
    newest_complete = complete[0]["created_at"] if complete else None
    kept |= {r["run_id"] for r in runs if r["status"] == "writing"
             and (newest_complete is None or r["created_at"] > newest_complete)}
    doomed = [r["run_id"] for r in runs if r["run_id"] not in kept]
    delete_runs(graph, doomed)
    return doomed


def unused_prior_runs(graph: Graph) -> list[str]:
    """Prior runs (gene priors) that no remaining model run used."""
    return [r["run"] for r in graph.read("MATCH (p:ModelRun {kind: 'prior'}) "
                                         "WHERE NOT EXISTS { (:ModelRun)-[:USED_PRIORS]->(p) } "
                                         "RETURN p.run_id AS run ORDER BY run")]


def delete_runs(graph: Graph, doomed: list[str]) -> None:
    """Delete these runs with everything they wrote (see :func:`prune_model_runs`)."""
    if not doomed:
        return
    for run_id in doomed:
        # Readers asking for the latest complete run stop seeing it before anything goes.
        graph.query("MATCH (r:ModelRun {run_id: $run}) SET r.status = 'deleting'", {"run": run_id})
    orphaned: set[str] = set()
    for run_id in doomed:
        delete_in_batches(graph, "MATCH (x:Embedding {run: $run})", {"run": run_id})
        delete_in_batches(graph, "MATCH (x:PredictedExperiment {run: $run})", {"run": run_id})
        delete_networks(graph, run_id)  # inferred gene-gene edges name their run too
        delete_in_batches(graph, "MATCH (x:Suggestion {run_id: $run})", {"run": run_id})  # lpm-kg suggest's plans
        delete_in_batches(graph, "MATCH (x:SuggestionPlan {run_id: $run})", {"run": run_id})
        for kind, (label, _) in KINDS.items():
            if graph.in_batches(f"MATCH (n:{label}) WHERE n.embedding_run = $run WITH n LIMIT $batch "
                                "REMOVE n.embedding, n.embedding_run RETURN count(*) AS n", {"run": run_id},
                                batch=DELETE_PER_TX):
                orphaned.add(kind)
        # A prior run's vectors are on Gene nodes (lpm_kg.graph.priors).
        graph.in_batches("MATCH (g:Gene) WHERE g.prior_run = $run WITH g LIMIT $batch "
                         "REMOVE g.prior, g.prior_run RETURN count(*) AS n", {"run": run_id}, batch=DELETE_PER_TX)
        graph.query("MATCH (r:ModelRun {run_id: $run}) DETACH DELETE r", {"run": run_id})

    # The newest surviving run with vectors of a kind whose current vectors were just removed.
    for kind in sorted(orphaned):
        rows = graph.read("MATCH (r:ModelRun) WHERE r.status = 'complete' "
                          "AND EXISTS { MATCH (e:Embedding {run: r.run_id}) WHERE e.kind = $kind } "
                          "RETURN r.run_id AS run ORDER BY r.created_at DESC, r.run_id DESC LIMIT 1", {"kind": kind})
        if rows:
            use_embeddings(graph, rows[0]["run"], kinds=[kind])
