"""Gene-gene networks from perturbation data and the LPM, scored against reference networks: the
one call (:func:`discover_networks`) that infers (:mod:`lpm_kg.discovery.inference`), scores
(:mod:`lpm_kg.discovery.network_metrics`) and writes back (:mod:`lpm_kg.graph.networks`).

Discovery task 3 of docs/lpm-model.md. Every method scores every pair of *perturbed genes* (genes
targeted by a genetic perturbation the model knows; a gene with several perturbations, e.g.
CRISPRi and shRNA, is one gene) and returns a :class:`GeneNetwork`: a symmetric gene x gene score
matrix, higher = more likely to interact.

Methods (:data:`METHODS`)
-------------------------
``embedding-similarity``
    Cosine similarity of the LPM's perturbation embeddings (one seed's table: seeds' spaces are
    not aligned), a gene's perturbations averaged first.
``imputed-correlation`` (the paper's route)
    For every genetic perturbation and every selected context, a profile over the readouts
    measured in that context: the observed value where the experiment measured it, the LPM's
    prediction (seed mean) where not, so unperformed (perturbation, context) experiments are
    filled in whole. The per-context (gene x readout) blocks are concatenated into one matrix and
    the network is inferred by correlation (:func:`lpm_kg.discovery.inference.profile_correlation`): each (context, readout)
    column is standardised across perturbed genes (z-score, so every readout weighs the same),
    then every pair of gene rows is Pearson-correlated; the edge score is the signed correlation
    (co-functional genes, as STRING and CORUM relate them, give similar profiles), or its absolute
    value with ``absolute=True`` (for a signed regulatory network, where knocking down an activator
    and a repressor of the same genes gives opposite profiles: better on the simulator's network).
``raw-correlation``
    The baseline for the above: the same from observed values only. NaN-aware: each column is
    standardised over the genes that measured it, and each pair is correlated over the readouts
    both measured (pairs sharing fewer than ``min_shared`` readouts get no score).
``observed-first``
    Measured evidence first, imputation only where there is none: ``raw-correlation`` for every
    pair it scores, and for the pairs it cannot (never measured in a shared context), the
    ``imputed-correlation`` score placed on raw's scale by an isotonic regression of raw on
    imputed, fitted on the pairs both score (:func:`lpm_kg.discovery.inference.observed_first`).
    Averaging imputed evidence into pairs that were measured together dilutes it (on Replogle +
    the shRNA plate, benchmarks/results/bench_discovery.md); this keeps what imputation adds.
``shared-effect``
    For a run trained with the context-free term (``shared_rank`` in the model settings): each
    gene's predicted effect on every readout that the model learned every context shares,
    correlated as above (:func:`lpm_kg.discovery.inference.shared_effect_correlation`). Genes
    screened in different cell lines are compared on one footing; on Replogle with each gene kept
    in one of K562/RPE1 it recovers CORUM pairs as well as the cross-context comparison of measured
    profiles and better than imputation (benchmarks/results/bench_discovery_masked_shared.md).
    Not in the default list of a run without that term.
``cross-context-correlation``
    Observed values only, compared across contexts: each (context, readout) column z-scored within
    its context, a gene's columns of one readout averaged over the contexts it was measured in,
    then correlated as above. Genes screened in different cell lines still get a score; on
    Replogle with each gene kept in one of K562/RPE1 this no-model fill recovers known pairs far
    better than the LPM's imputation (benchmarks/results/bench_discovery.md, masked networks).
``zero-filled-correlation``
    The naive imputation the LPM must beat: every unobserved value taken as 0 (no effect; for
    top-list scores, below every listed gene), then the same correlation.
``random``
    Uniform random scores: the floor every method must beat.

Evaluation (:func:`lpm_kg.discovery.network_metrics.evaluate`)
-----------------------------
References are read from the graph (:func:`lpm_kg.graph.networks.list_references`, :func:`~lpm_kg.graph.networks.load_reference`):
``INTERACTS_WITH`` (STRING), ``REGULATES`` (DoRothEA, TRRUST; scored undirected) and co-membership
of a ``Complex`` (CORUM), one reference per loaded dataset. The candidate pairs are the pairs of
genes that both have a genetic perturbation and both appear in the reference's gene universe
(the genes with at least one relation of that dataset); a candidate pair is positive when the
reference relates it. Reported per (method, reference): AUPRC (average precision,
:func:`lpm_kg.discovery.network_metrics.average_precision`, computed as scikit-learn does: ties share one threshold), precision@k
for k in :data:`KS` (the k best-scored candidate pairs, ties broken by pair order), the prior
(positive rate: the AUPRC and precision@k expected of random scores) and AUPRC / prior. A pair a
method cannot score (raw correlation without enough shared readouts) ranks last.

Significance (:func:`lpm_kg.discovery.relations.significance`): the tail recall (share of the
reference's pairs in the top or bottom 5 % of scores) and, for it and the AUPRC, the permutation p
value against the reference rewired with its degrees kept (``n_null`` rewirings, default 200): a
method that only ranks hub genes' pairs high gains nothing against it.

Graph write-back
----------------
``(:Gene)-[:INFERRED_INTERACTION {run, method, score, rank}]->(:Gene)``: a method's strongest edges
(default :data:`DEFAULT_TOP`), stored once per unordered pair from the alphabetically smaller
symbol to the larger, ``rank`` 1 strongest, ``run`` naming the ModelRun that inferred them.
Reference relations (INTERACTS_WITH, REGULATES, MEMBER_OF) are never written here. Writing is
idempotent per (run, method): :func:`write_network` replaces that run and method's edges and
touches no other. The evaluation is recorded in the ModelRun's ``metrics`` JSON under the key
``network`` (:func:`record_network_metrics`), merged into what is there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from lpm_kg.discovery.inference import METHODS, default_methods, infer_networks  # noqa: F401 (METHODS: the command lists them)
from lpm_kg.discovery.network_metrics import KS, compare, metrics_payload
from lpm_kg.discovery.relations import N_NULL, significance
from lpm_kg.gene_network import DEFAULT_TOP, GeneNetwork, NetworkError, Reference
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.networks import load_references, perturbation_targets, record_network_metrics, write_network
from lpm_kg.graph.pull import TupleSet


@dataclass
class NetworkReport:
    run_id: str
    networks: dict[str, GeneNetwork]
    references: dict[str, Reference]
    table: pd.DataFrame
    written: dict[str, dict]
    seconds: dict[str, float]


def discover_networks(graph: Graph, run_id: str, model, tuples: TupleSet, *, methods: Sequence[str] | None = None,
                      references: Sequence[str] | None = None, top: int | None = DEFAULT_TOP,
                      per_gene: int | None = None, contexts="genetic", absolute: bool = False, seed: int = 0,
                      ks: Sequence[int] = KS, write: bool = True, n_null: int = N_NULL) -> NetworkReport:
    """Infer ``methods`` (default: every one ``model`` can give) with ``model`` (the LPM of run
    ``run_id``) on its data ``tuples``, score them
    on the graph's ``references`` (default: every one loaded), and, with ``write``, store each
    method's ``top`` edges and the scores on the run (``metrics.network``). ``n_null``: rewirings of
    each reference for the tail recall and the permutation p values (0: none)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    targets = perturbation_targets(graph, model.vocab.perturbations if model is not None else tuples.perturbations)
    refs = load_references(graph, references)
    if not refs:
        raise NetworkError("no reference network in the graph: load STRING, CORUM, DoRothEA or TRRUST first "
                           "(`lpm-kg load ... --format string|corum|dorothea|trrust`)")
    seconds["read"] = time.perf_counter() - started
    methods = default_methods(model) if methods is None else methods
    networks = infer_networks(methods, tuples=tuples, targets=targets, model=model, contexts=contexts,
                              absolute=absolute, seed=seed)
    for m, net in networks.items():
        seconds[m] = net.info["seconds"]
    t = time.perf_counter()
    table = compare(networks, refs, ks)
    if n_null:  # is each AUPRC above what a reference of the same degrees would give?
        table = table.merge(significance(networks, refs, n_null, seed), on=["reference", "method"], how="left")
    seconds["evaluate"] = time.perf_counter() - t
    written = {}
    if write:
        t = time.perf_counter()
        for m, net in networks.items():
            written[m] = write_network(graph, run_id, net, top=top, per_gene=per_gene)
        record_network_metrics(graph, run_id, metrics_payload(table, networks, top=top))
        seconds["write"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - started
    return NetworkReport(run_id, networks, refs, table, written, seconds)
