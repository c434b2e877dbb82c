"""Which genes act with X: a gene's nearest genes in a model run's perturbation embedding space,
learned against known.

Every perturbed gene's vector is the mean of its genetic perturbations' stored embeddings (one
run), centred over the perturbed genes, so what all knock-downs share does not make every pair
similar (the scoring of lpm_kg.discovery.relations does the same). For each of the ``k`` nearest
genes:

- ``cosine`` and ``pair_p``: the share of all pairs of perturbed genes at least as similar (how
  unusual this pair is in this run's map);
- ``known``: what the graph's references say links the two (STRING, regulons, a shared complex or
  gene set), each line naming its dataset; empty for a candidate the references do not know.

And for the list as a whole, the enrichment of known partners among the ``k`` nearest against
the base rate of known partners among all perturbed genes (hypergeometric p): whether this run's
neighbours of X are better than a random list of perturbed genes at finding what is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lpm_kg.discovery.inference import cosine_matrix, gene_vectors
from lpm_kg.gene_network import NetworkError
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.embeddings import current_embedding_run, read_embeddings
from lpm_kg.graph.networks import perturbation_targets, relation_evidence


@dataclass
class Partners:
    gene: str
    run: str
    table: pd.DataFrame  # rank, partner, cosine, pair_p, known (list of lines)
    n_genes: int  # perturbed genes in the run's map
    known_total: int  # of them, known partners of gene
    known_in_top: int
    expected_in_top: float
    enrichment_p: float


def gene_partners(graph: Graph, gene: str, k: int = 20, run: str | None = None) -> Partners:
    """The ``k`` genes nearest to ``gene`` in ``run``'s perturbation embeddings (default: the
    current embeddings' run), with the references' evidence and the significance described in the
    module docstring."""
    from scipy.stats import hypergeom

    run = run or current_embedding_run(graph)
    if run is None:
        raise NetworkError("no model run has stored perturbation embeddings: run `lpm-kg sync` first")
    symbols, vectors = read_embeddings(graph, run, "perturbations")
    if not symbols:
        raise NetworkError(f"run {run!r} stored no perturbation embeddings (`lpm-kg runs` lists the runs)")
    targets = perturbation_targets(graph, symbols)
    genes, v, _ = gene_vectors(symbols, vectors, targets) if targets else ([], None, 0)
    if gene not in genes:
        hint = ", ".join(genes[:8]) + (" ..." if len(genes) > 8 else "")
        raise NetworkError(f"{gene!r} is not a perturbed gene of run {run} (no genetic perturbation of it was "
                           f"embedded); its perturbed genes: {hint or 'none'}")
    if len(genes) < 3:
        raise NetworkError(f"run {run} embeds {len(genes)} perturbed genes: too few to rank partners")
    sim = cosine_matrix(v - v.mean(axis=0))  # centred: what every knock-down shares is no similarity
    q = genes.index(gene)
    i, j = np.triu_indices(len(genes), k=1)
    all_pairs = np.sort(sim[i, j][np.isfinite(sim[i, j])])
    others = np.array([n for n in range(len(genes)) if n != q])
    row = sim[q, others]
    order = others[np.argsort(-np.where(np.isfinite(row), row, -np.inf), kind="stable")][:k]
    partners = [genes[n] for n in order]
    # What the references know of every other perturbed gene: the evidence shown for the nearest,
    # and the base rate their enrichment is measured against, from one read.
    evidence = relation_evidence(graph, gene, [genes[n] for n in others])
    cos = sim[q, order]
    # Share of all pairs with a similarity at least this high (1 / n_pairs at best).
    pair_p = (len(all_pairs) - np.searchsorted(all_pairs, cos - 1e-12, side="left")) / max(len(all_pairs), 1)
    table = pd.DataFrame({"rank": np.arange(1, len(order) + 1), "partner": partners, "cosine": cos,
                          "pair_p": np.maximum(pair_p, 1 / max(len(all_pairs), 1)),
                          "known": [evidence.get(p, []) for p in partners]})
    known_total = len(evidence)
    known_in_top = int(sum(bool(x) for x in table["known"]))
    n_top = len(order)
    expected = n_top * known_total / max(len(others), 1)
    p = float(hypergeom.sf(known_in_top - 1, len(others), known_total, n_top)) if known_total else 1.0
    return Partners(gene, run, table, len(genes), known_total, known_in_top, expected, p)
