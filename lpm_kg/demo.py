"""The ``lpm-kg demo``: a simulated screen (lpm_kg.simulate) written as files with the sync
config that loads them, and what the demo shows of the graph once synced."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lpm_kg.graph.connection import Graph
from lpm_kg.graph.embeddings import SIMILAR_QUERIES
from lpm_kg.simulate import SimulationConfig, simulate

DEMO_QUERIES = [
    ("The most changed readouts of a knockdown in one context",
     "MATCH (e:Experiment {context: 'demo_SIM-A_CRISPRi'})-[c:CHANGES]->(r:Readout)\n"
     "WHERE e.perturbation = $p RETURN r.symbol, c.value ORDER BY c.rank LIMIT 10"),
    ("Perturbations whose learned embedding is closest to it (vector index)",
     "MATCH (p:Perturbation {symbol: $p})\n"
     "CALL db.index.vector.queryNodes('perturbation_embedding', 6, p.embedding) YIELD node, score\n"
     "RETURN node.symbol AS perturbation, score"),
    ("Predictions for experiments never performed, with their uncertainty",
     "MATCH (x:PredictedExperiment)-[pr:PREDICTS]->(r:Readout) WHERE pr.rank <= 3\n"
     "RETURN x.perturbation, x.context, r.symbol, pr.value, pr.std, x.run ORDER BY abs(pr.value) DESC LIMIT 10"),
    ("A prediction for a gene never perturbed, made from the graph, beside its provenance",
     "MATCH (x:PredictedExperiment {perturbation: $never, context: 'demo_SIM-A_CRISPRi'})-[:PREDICTED_BY]->(m:ModelRun)\n"
     "MATCH (x)-[:FROM_PRIORS]->(pr:ModelRun)\nMATCH (x)-[p:PREDICTS]->(r:Readout) WHERE p.rank <= 5\n"
     "RETURN m.run_id AS run, x.source AS source, pr.run_id AS prior_run, r.symbol, p.value, p.std ORDER BY p.rank"),
    ("The model run and what it was trained on",
     "MATCH (m:ModelRun)-[:TRAINED_ON]->(d:Dataset) RETURN m.run_id, m.status, m.metrics, collect(d.name)"),
    ("A compound, its targets, and the knockdowns of those targets",
     "MATCH (c:Compound)-[:HAS_TARGET]->(g:Gene)<-[:TARGETS]-(p:Perturbation)\n"
     "RETURN c.name, g.symbol, p.symbol LIMIT 10"),
]

DEMO_TOML = """# Written by `lpm-kg demo`: a simulated screen over a known gene network.
[[sources]]
path = "sim_genes.tsv"
format = "hgnc"
dataset = "demo-genes"

[[sources]]
path = "sim_measurements.csv"
format = "long"
dataset = "demo"

[[sources]]
path = "sim_compounds.txt"
format = "repurposing-hub"
dataset = "demo-compounds"

[[sources]]
path = "sim_network.tsv"
format = "trrust"
dataset = "demo-network"

[model]
datasets = ["demo"]
preset = "stack-small"

[predict]
unperformed = true
max_experiments = 500
"""

#: The context the demo's examples are drawn from, and the perturbation shown when it has none.
EXAMPLE_CONTEXT = "demo_SIM-A_CRISPRi"
COMPOUND_CONTEXT = "demo_SIM-A_CMP"
FALLBACK_PERTURBATION = "CRISPRi_SIMG001"


def write_demo(folder: Path, seed: int = 0) -> Path:
    """Simulate the screen into ``folder`` with its sync config; returns the config's path."""
    simulate(SimulationConfig(seed=seed, n_annotated_only=2)).write(folder)
    path = folder / "lpm-kg.toml"
    path.write_text(DEMO_TOML)
    return path


@dataclass
class DemoFacts:
    counts: dict  # e (experiments), m (measurements), p (perturbations), c (contexts)
    example: str  # a perturbation measured in EXAMPLE_CONTEXT
    similar: list[tuple[str, float]]  # the perturbations nearest to it (itself first)


def demo_facts(graph: Graph) -> DemoFacts:
    """What the demo prints after its sync: how much it loaded, an example, its nearest neighbours."""
    counts = graph.read("MATCH (e:Experiment {dataset: 'demo'}) RETURN count(e) AS e, sum(e.n_measured) AS m, "
                        "count(DISTINCT e.perturbation) AS p, count(DISTINCT e.context) AS c")[0]
    example = graph.read("MATCH (e:Experiment {context: $c}) RETURN e.perturbation AS p ORDER BY p LIMIT 1",
                         {"c": EXAMPLE_CONTEXT})
    example_p = example[0]["p"] if example else FALLBACK_PERTURBATION
    similar = graph.read(SIMILAR_QUERIES["perturbations"], {"symbol": example_p, "k": 4})
    return DemoFacts(dict(counts), example_p, [(r["symbol"], float(r["score"])) for r in similar])


def never_measured(graph: Graph) -> tuple[str | None, str | None]:
    """(a knockdown of a gene with reference relations that no demo experiment perturbed, a compound
    with annotated targets that no demo experiment measured), as perturbation symbols."""
    # Measured means an Experiment of it: a symbol only predicted before (a demo run again) still counts.
    gene = graph.read("MATCH (g:Gene)-[:REGULATES]-() "
                      "WHERE NOT EXISTS { (:Experiment)-[:OF_PERTURBATION]->(:Perturbation)-[:TARGETS]->(g) } "
                      "RETURN DISTINCT g.symbol AS s ORDER BY s LIMIT 1")
    compound = graph.read("MATCH (c:Compound)-[:HAS_TARGET]->(:Gene) "
                          "WHERE NOT EXISTS { (:Experiment)-[:OF_PERTURBATION]->(:Perturbation)-[:OF_COMPOUND]->(c) } "
                          "RETURN DISTINCT c.name AS s ORDER BY s LIMIT 1")
    return (f"CRISPRi_{gene[0]['s']}" if gene else None), (f"{compound[0]['s']}-10uM" if compound else None)
