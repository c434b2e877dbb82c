"""Gene priors in the graph: ``Gene.prior`` (a vector) and ``Gene.prior_run``, the ModelRun of
kind ``prior`` that fitted them (its config is the PriorSpec, its data fingerprint the knowledge's),
and the vector index ``gene_prior`` over them. Writing the same priors again changes nothing; a
new fit replaces the old vectors on every gene, so one space is current at a time."""

from __future__ import annotations

import numpy as np

from lpm_kg.graph.connection import Graph
from lpm_kg.graph.embeddings import DELETE_PER_TX, EMBEDDINGS_PER_TX
from lpm_kg.graph.runs import complete_model_run, create_model_run, get_model_run
from lpm_kg.graph.write import _chunks, _Values, write_perturbations, write_readouts
from lpm_kg.symbols import parse_perturbation, split_readout

PRIOR_INDEX = "gene_prior"

#: The genes whose prior is nearest (cosine) to that of gene ``$symbol``, the gene itself first.
SIMILAR_PRIOR_QUERY = ("MATCH (q:Gene {symbol: $symbol}) WHERE q.prior IS NOT NULL "
                       f"CALL db.index.vector.queryNodes('{PRIOR_INDEX}', $k, q.prior) YIELD node, score "
                       "RETURN node.symbol AS symbol, score")


def _index_dim(graph: Graph) -> int | None:
    rows = graph.read("SHOW VECTOR INDEXES YIELD name, options WHERE name = $name RETURN options", {"name": PRIOR_INDEX})
    return int(rows[0]["options"]["indexConfig"]["vector.dimensions"]) if rows else None


def write_gene_priors(graph: Graph, priors, knowledge) -> dict:
    """Write ``priors`` (:class:`lpm_kg.priors.GenePriors`) fitted from ``knowledge``; returns counts
    (``written`` 0 when this prior run is already complete in the graph)."""
    run = get_model_run(graph, priors.run_id)
    if run and run.get("status") == "complete":
        return {"run_id": priors.run_id, "written": 0, "up_to_date": True}
    # What the gene vectors depend on (as in prior_run_id): model runs that differ only in their
    # compound annotations or their encoder share one prior run.
    sizes = {k: v for k, v in knowledge.sizes().items() if k != "annotated_compounds"}
    metrics = {"n_genes": len(priors.genes), "n_with_prior": int(priors.has_prior.sum()), **sizes}
    create_model_run(graph, run_id=priors.run_id, config=priors.spec.fit_settings(),
                     data_fingerprint=knowledge.relations_fingerprint(), datasets=[], metrics=metrics, kind="prior")
    dim = int(priors.vectors.shape[1])
    if _index_dim(graph) not in (None, dim):
        graph.query(f"DROP INDEX {PRIOR_INDEX} IF EXISTS")
    # Another fit's vectors live in another space: off every gene first.
    graph.in_batches("MATCH (g:Gene) WHERE g.prior IS NOT NULL AND coalesce(g.prior_run, '') <> $run "
                     "WITH g LIMIT $batch REMOVE g.prior, g.prior_run RETURN count(*) AS n",
                     {"run": priors.run_id}, batch=DELETE_PER_TX)
    rows = [{"s": g, "v": _Values(v.astype(float).tolist())}
            for g, v, has in zip(priors.genes, priors.vectors, priors.has_prior) if has]
    for batch in _chunks(rows, EMBEDDINGS_PER_TX):
        graph.query("UNWIND $rows AS row MATCH (g:Gene {symbol: row.s}) "
                    "CALL db.create.setNodeVectorProperty(g, 'prior', row.v) SET g.prior_run = $run",
                    {"rows": batch, "run": priors.run_id})
    graph.query(f"CREATE VECTOR INDEX {PRIOR_INDEX} IF NOT EXISTS FOR (g:Gene) ON g.prior "
                "OPTIONS {indexConfig: $config}",
                {"config": {"vector.dimensions": dim, "vector.similarity_function": "cosine",
                            "vector.quantization.enabled": False}})
    graph.query("CALL db.awaitIndex($index, 300)", {"index": PRIOR_INDEX})
    complete_model_run(graph, priors.run_id)
    return {"run_id": priors.run_id, "written": len(rows), "up_to_date": False}


def read_gene_priors(graph: Graph) -> tuple[list[str], np.ndarray, str | None]:
    """The current priors: gene symbols, vectors and their run."""
    rows = graph.read("MATCH (g:Gene) WHERE g.prior IS NOT NULL RETURN g.symbol AS s, g.prior AS v, "
                      "g.prior_run AS run ORDER BY s")
    runs = {r["run"] for r in rows}
    return ([r["s"] for r in rows], np.asarray([r["v"] for r in rows], np.float32).reshape(len(rows), -1),
            runs.pop() if len(runs) == 1 else None)


def similar_genes(graph: Graph, symbol: str, k: int = 10) -> list[tuple[str, float]]:
    return [(r["symbol"], float(r["score"])) for r in graph.read(SIMILAR_PRIOR_QUERY, {"symbol": symbol, "k": k})]


def link_priors(graph: Graph, run_id: str, prior_run_id: str) -> None:
    """``(lpm run)-[:USED_PRIORS]->(prior run)``: which priors a graph-informed model learned from."""
    graph.query("MATCH (r:ModelRun {run_id: $run}), (p:ModelRun {run_id: $prior}) MERGE (r)-[:USED_PRIORS]->(p)",
                {"run": run_id, "prior": prior_run_id})


def ensure_predicted_symbols(graph: Graph, perturbations: list[str], readouts: list[str]) -> dict[str, int]:
    """Perturbation and Readout nodes for symbols predicted from priors alone (never measured, so
    never loaded), linked to their genes as a loader would link them; existing nodes stay as they are."""
    have_p = {r["s"] for r in graph.read("UNWIND $s AS s MATCH (p:Perturbation {symbol: s}) RETURN s",
                                         {"s": list(perturbations)})}
    new_p = [p for p in dict.fromkeys(perturbations) if p not in have_p]
    if new_p:
        write_perturbations(graph, [parse_perturbation(p, lambda g: g) for p in new_p])
    have_r = {r["s"] for r in graph.read("UNWIND $s AS s MATCH (r:Readout {symbol: s}) RETURN s", {"s": list(readouts)})}
    new_r = [r for r in dict.fromkeys(readouts) if r not in have_r]
    write_readouts(graph, [{"symbol": r, "gene": split_readout(r)[1], "modality": split_readout(r)[0]} for r in new_r])
    return {"perturbations": len(new_p), "readouts": len(new_r)}


def mark_prior_predictions(graph: Graph, run_id: str, pairs: list[tuple[str, str]], prior_run_id: str) -> None:
    """Mark the run's PredictedExperiments of these (perturbation, context) pairs as predicted from
    graph priors: ``source = 'prior'`` and ``prior_run``, with ``FROM_PRIORS`` to the prior run."""
    rows = [{"id": f"{run_id}:{p}@{c}"} for p, c in pairs]
    graph.query("MATCH (pr:ModelRun {run_id: $prior}) UNWIND $rows AS row "
                "MATCH (e:PredictedExperiment {id: row.id}) SET e.source = 'prior', e.prior_run = $prior "
                "MERGE (e)-[:FROM_PRIORS]->(pr)", {"rows": rows, "prior": prior_run_id})


# One fixed query per relation type (a type cannot be a query parameter).
_PAIR_QUERIES = {
    "INTERACTS_WITH": "MATCH (a:Gene)-[:INTERACTS_WITH]->(b:Gene) RETURN a.symbol AS a, b.symbol AS b",
    "REGULATES": "MATCH (a:Gene)-[:REGULATES]->(b:Gene) RETURN a.symbol AS a, b.symbol AS b",
}


def knowledge_tables(graph: Graph, relations, annotations) -> dict:
    """The reference knowledge as plain tables (what :func:`lpm_kg.priors.read_knowledge` builds its
    Knowledge from): ``genes`` (every Gene symbol, sorted), ``interacts`` and ``regulates`` (symbol
    pairs) and ``members`` (gene, "complex:<id>" or "set:<id>") with the ``complexes`` among the
    groups, for the relation types named in ``relations``; ``targets`` and ``moas`` (compound ->
    names) for the annotations named in ``annotations``."""
    genes = [r["s"] for r in graph.read("MATCH (g:Gene) RETURN g.symbol AS s ORDER BY s")]

    def gene_pairs(rel: str):
        return [(r["a"], r["b"]) for r in graph.read(_PAIR_QUERIES[rel])] if rel in relations else []

    members, complexes = [], []
    if "MEMBER_OF" in relations:
        rows = graph.read("MATCH (g:Gene)-[:MEMBER_OF]->(s) RETURN g.symbol AS g, coalesce(s.id, s.name) AS s, "
                          "s:Complex AS complex")
        members = [(r["g"], ("complex:" if r["complex"] else "set:") + str(r["s"])) for r in rows]
        complexes = [s for (_, s), r in zip(members, rows) if r["complex"]]
    targets: dict[str, list[str]] = {}
    if "HAS_TARGET" in annotations:
        for r in graph.read("MATCH (c:Compound)-[:HAS_TARGET]->(g:Gene) RETURN c.name AS c, collect(g.symbol) AS g"):
            targets[r["c"]] = r["g"]
    moas: dict[str, list[str]] = {}
    if "HAS_MOA" in annotations:
        for r in graph.read("MATCH (c:Compound)-[:HAS_MOA]->(m:MOA) RETURN c.name AS c, collect(m.name) AS m"):
            moas[r["c"]] = r["m"]
    return {"genes": genes, "interacts": gene_pairs("INTERACTS_WITH"), "regulates": gene_pairs("REGULATES"),
            "members": members, "complexes": complexes, "targets": targets, "moas": moas}
