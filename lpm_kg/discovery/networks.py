"""Gene-gene networks from perturbation data and the LPM, scored against reference networks.

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
    the network is inferred by correlation (:func:`profile_correlation`): each (context, readout)
    column is standardised across perturbed genes (z-score, so every readout weighs the same),
    then every pair of gene rows is Pearson-correlated; the edge score is the signed correlation
    (co-functional genes, as STRING and CORUM relate them, give similar profiles), or its absolute
    value with ``absolute=True`` (for a signed regulatory network, where knocking down an activator
    and a repressor of the same genes gives opposite profiles: better on the simulator's network).
``raw-correlation``
    The baseline for the above: the same from observed values only. NaN-aware: each column is
    standardised over the genes that measured it, and each pair is correlated over the readouts
    both measured (pairs sharing fewer than ``min_shared`` readouts get no score).
``zero-filled-correlation``
    The naive imputation the LPM must beat: every unobserved value taken as 0 (no effect; for
    top-list scores, below every listed gene), then the same correlation.
``random``
    Uniform random scores: the floor every method must beat.

Evaluation (:func:`evaluate`)
-----------------------------
References are read from the graph (:func:`list_references`, :func:`load_reference`):
``INTERACTS_WITH`` (STRING), ``REGULATES`` (DoRothEA, TRRUST; scored undirected) and co-membership
of a ``Complex`` (CORUM), one reference per loaded dataset. The candidate pairs are the pairs of
genes that both have a genetic perturbation and both appear in the reference's gene universe
(the genes with at least one relation of that dataset); a candidate pair is positive when the
reference relates it. Reported per (method, reference): AUPRC (average precision,
:func:`average_precision`, computed as scikit-learn does: ties share one threshold), precision@k
for k in :data:`KS` (the k best-scored candidate pairs, ties broken by pair order), the prior
(positive rate: the AUPRC and precision@k expected of random scores) and AUPRC / prior. A pair a
method cannot score (raw correlation without enough shared readouts) ranks last.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lpm_kg.errors import LpmKgError
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.pull import TupleSet
from lpm_kg.jsonsafe import json_safe

METHODS = ("embedding-similarity", "imputed-correlation", "raw-correlation", "zero-filled-correlation", "random")
KS = (10, 50, 100, 500)
DEFAULT_TOP = 2_000
EDGES_PER_TX = 50_000  # edges written (and the old ones deleted) in one transaction, atomically
DELETE_PER_TX = 10_000
REL_TYPE = "INFERRED_INTERACTION"
#: Reference relations in the graph: relationship type -> how its pairs are read.
REFERENCE_TYPES = ("INTERACTS_WITH", "REGULATES", "MEMBER_OF")


class NetworkError(LpmKgError, ValueError):
    """A network inference or evaluation that cannot run as asked."""


# --------------------------------------------------------------------------- networks

@dataclass
class GeneNetwork:
    """Scores of every pair of ``genes`` (sorted symbols): ``scores[i, j] == scores[j, i]``,
    NaN on the diagonal and for pairs the method could not score."""

    method: str
    genes: list[str]
    scores: np.ndarray
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.genes)
        if self.scores.shape != (n, n):
            raise NetworkError(f"{self.method}: scores of shape {self.scores.shape} for {n} genes")
        if list(self.genes) != sorted(self.genes) or len(set(self.genes)) != n:
            raise NetworkError(f"{self.method}: genes must be unique and sorted")

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every unordered pair once, (i, j, score) with i < j (so genes[i] < genes[j])."""
        i, j = np.triu_indices(len(self.genes), k=1)
        return i, j, self.scores[i, j]

    def edges(self, top: int | None = DEFAULT_TOP, per_gene: int | None = None) -> pd.DataFrame:
        """The strongest scored pairs as ``source, target, score, rank`` (source < target, rank 1
        strongest). ``per_gene`` keeps a pair that is among the ``per_gene`` best of either of its
        genes; ``top`` then keeps the ``top`` best of those. Ties are broken by pair order."""
        i, j, s = self.pairs()
        ok = np.isfinite(s)
        i, j, s = i[ok], j[ok], s[ok]
        if per_gene is not None:
            keep = np.zeros(len(s), bool)
            idx = np.arange(len(s))
            for ends in (i, j):
                order = np.lexsort((idx, -s, ends))  # by gene, then best score first
                first = np.searchsorted(ends[order], ends[order], side="left")
                within = np.arange(len(order)) - first
                keep[order[within < per_gene]] = True
            i, j, s = i[keep], j[keep], s[keep]
        order = np.argsort(-s, kind="stable")
        if top is not None:
            order = order[:max(0, int(top))]
        g = np.asarray(self.genes, dtype=object)
        return pd.DataFrame({"source": g[i[order]], "target": g[j[order]], "score": s[order].astype(np.float64),
                             "rank": np.arange(1, len(order) + 1)})


def perturbation_targets(graph: Graph, perturbations: Iterable[str] | None = None) -> dict[str, str]:
    """Genetic perturbation symbol -> the symbol of the Gene it ``TARGETS`` (perturbations
    targeting several genes are left out). With ``perturbations``, only those."""
    symbols = None if perturbations is None else list(perturbations)
    rows = graph.read("MATCH (p:Perturbation)-[:TARGETS]->(g:Gene) WHERE p.kind = 'genetic' "
                      "AND ($symbols IS NULL OR p.symbol IN $symbols) "
                      "WITH p, collect(g.symbol) AS genes WHERE size(genes) = 1 "
                      "RETURN p.symbol AS p, genes[0] AS g", {"symbols": symbols})
    return {r["p"]: r["g"] for r in rows}


def _gene_groups(symbols: Sequence[str], targets: Mapping[str, str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(sorted genes, row ids into ``symbols`` of genetic perturbations, their gene index)."""
    rows = [k for k, s in enumerate(symbols) if s in targets]
    genes = sorted({targets[symbols[k]] for k in rows})
    index = {g: n for n, g in enumerate(genes)}
    return genes, np.array(rows, dtype=np.int64), np.array([index[targets[symbols[k]]] for k in rows], dtype=np.int64)


def _group_mean(matrix: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of the rows of each group, NaN-aware (a group's NaN where none of its rows has a value)."""
    if len(group) == n_groups and np.array_equal(np.sort(group), np.arange(n_groups)):
        out = np.empty_like(matrix)
        out[group] = matrix
        return out
    finite = np.isfinite(matrix)
    sums = np.zeros((n_groups, matrix.shape[1]), np.float64)
    counts = np.zeros((n_groups, matrix.shape[1]), np.float64)
    np.add.at(sums, group, np.where(finite, matrix, 0.0))
    np.add.at(counts, group, finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts).astype(matrix.dtype)


def _upper_symmetric(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float32)
    np.fill_diagonal(out, np.nan)
    return out


def _on_genes(network: GeneNetwork, genes: Sequence[str] | None) -> GeneNetwork:
    """The network over ``genes`` (sorted), NaN for genes it does not score."""
    if genes is None or list(genes) == network.genes:
        return network
    genes = sorted(set(genes))
    have = {g: k for k, g in enumerate(network.genes)}
    src = np.array([have.get(g, -1) for g in genes])
    out = np.full((len(genes), len(genes)), np.nan, np.float32)
    ok = np.flatnonzero(src >= 0)
    out[np.ix_(ok, ok)] = network.scores[np.ix_(src[ok], src[ok])]
    np.fill_diagonal(out, np.nan)
    return GeneNetwork(network.method, genes, out, {**network.info, "n_genes_scored": int(len(ok))})


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b`` (default ``a``), float64;
    NaN for a zero row, which has no direction."""
    a = np.asarray(a, dtype=np.float64)
    b = a if b is None else np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a, axis=1, keepdims=True), np.linalg.norm(b, axis=1, keepdims=True)
    sim = np.divide(a, na, out=np.zeros_like(a), where=na > 0) @ np.divide(b, nb, out=np.zeros_like(b), where=nb > 0).T
    sim[na[:, 0] == 0] = np.nan
    sim[:, nb[:, 0] == 0] = np.nan
    return sim


def embedding_similarity(symbols: Sequence[str], vectors: np.ndarray, targets: Mapping[str, str], *,
                         absolute: bool = False) -> GeneNetwork:
    """Cosine similarity of perturbation embeddings (``vectors[k]`` embeds ``symbols[k]``), a
    gene's perturbations averaged. Signed by default (similar effects score high)."""
    genes, rows, group = _gene_groups(list(symbols), targets)
    if not genes:
        raise NetworkError("no genetic perturbation among the embedded symbols")
    v = _group_mean(np.asarray(vectors, dtype=np.float64)[rows], group, len(genes))
    sim = cosine_matrix(v)
    return GeneNetwork("embedding-similarity", genes, _upper_symmetric(np.abs(sim) if absolute else sim),
                       {"n_perturbations": int(len(rows)), "dim": int(v.shape[1]), "absolute": absolute})


def random_network(genes: Sequence[str], seed: int = 0) -> GeneNetwork:
    """Uniform random scores (symmetric): the baseline every method must beat."""
    genes = sorted(set(genes))
    n = len(genes)
    rng = np.random.default_rng(seed)
    s = np.zeros((n, n), np.float32)
    i, j = np.triu_indices(n, k=1)
    s[i, j] = rng.random(len(i))
    s = s + s.T
    return GeneNetwork("random", genes, _upper_symmetric(s), {"seed": seed})


# --------------------------------------------------------------------------- profiles

@dataclass
class Profiles:
    """Perturbed genes x (context, readout) profile matrix: NaN where nothing is known."""

    genes: list[str]
    contexts: list[str]
    readouts: list[str]  # one per column
    column_context: np.ndarray  # context index per column
    matrix: np.ndarray  # float32 [genes, columns]
    observed: np.ndarray  # bool [genes, columns]: measured (not imputed)
    n_imputed: int = 0
    seconds_imputing: float = 0.0


def _select_contexts(tuples: TupleSet, genetic: np.ndarray, contexts) -> list[int]:
    if contexts is None or contexts == "genetic":
        return sorted(np.unique(tuples.context[np.isin(tuples.perturbation, genetic)]).tolist())
    if contexts == "all":
        return list(range(len(tuples.contexts)))
    names = [contexts] if isinstance(contexts, str) else list(contexts)
    unknown = [c for c in names if c not in tuples.contexts]
    if unknown:
        raise NetworkError(f"unknown context(s) {', '.join(unknown)}; the data has {', '.join(tuples.contexts[:10])}")
    return sorted(tuples.contexts.index(c) for c in names)


def perturbation_profiles(tuples: TupleSet, targets: Mapping[str, str], *, model=None, contexts="genetic",
                          chunk: int = 1 << 21) -> Profiles:
    """The (perturbed gene x (context, readout)) matrix of observed values, and with ``model`` (an
    :class:`lpm_kg.model.LPM` knowing the tuples' symbols) the LPM's predictions wherever nothing
    was observed. Columns are, per selected context, the readouts measured in that context by any
    perturbation. ``contexts``: ``"genetic"`` (default: contexts where a genetic perturbation was
    measured), ``"all"``, or a list of context symbols. Rows of one gene's perturbations are averaged."""
    genetic = np.array([k for k, s in enumerate(tuples.perturbations) if s in targets], dtype=np.int64)
    if model is not None:  # only what the model can predict
        known = set(model.vocab.perturbations)
        genetic = np.array([k for k in genetic if tuples.perturbations[k] in known], dtype=np.int64)
    if not len(genetic):
        raise NetworkError("no genetic perturbation with a target gene in the data")
    genes, _, group_all = _gene_groups([tuples.perturbations[k] for k in genetic], targets)
    row_of = np.full(len(tuples.perturbations), -1, np.int64)
    row_of[genetic] = np.arange(len(genetic))
    ctx_ids = _select_contexts(tuples, genetic, contexts)
    if model is not None:
        known_c, known_r = set(model.vocab.contexts), set(model.vocab.readouts)
        ctx_ids = [c for c in ctx_ids if tuples.contexts[c] in known_c]
        if not ctx_ids:
            raise NetworkError("the model knows none of the selected contexts")
        p_model = model.vocab.ids("perturbations", [tuples.perturbations[k] for k in genetic])

    blocks, masks, col_ctx, col_readouts, n_imputed, t_imp = [], [], [], [], 0, 0.0
    for n_ctx, c in enumerate(ctx_ids):
        in_c = tuples.context == c
        readouts = np.unique(tuples.readout[in_c])
        if model is not None:
            readouts = np.array([r for r in readouts if tuples.readouts[r] in known_r], dtype=readouts.dtype)
        if not len(readouts):
            continue
        col_of = np.full(len(tuples.readouts), -1, np.int64)
        col_of[readouts] = np.arange(len(readouts))
        block = np.full((len(genetic), len(readouts)), np.nan, np.float32)
        sel = in_c & (row_of[tuples.perturbation] >= 0) & (col_of[tuples.readout] >= 0)
        block[row_of[tuples.perturbation[sel]], col_of[tuples.readout[sel]]] = tuples.value[sel]
        seen = np.isfinite(block)
        if model is not None:
            started = time.perf_counter()
            rr, cc = np.nonzero(~seen)
            r_model = model.vocab.ids("readouts", [tuples.readouts[r] for r in readouts])
            c_model = int(model.vocab.ids("contexts", [tuples.contexts[c]])[0])
            for a in range(0, len(rr), chunk):
                p_ids, r_ids = p_model[rr[a:a + chunk]], r_model[cc[a:a + chunk]]
                mean, _ = model.predict_ids(p_ids, r_ids, np.full(len(p_ids), c_model))
                block[rr[a:a + chunk], cc[a:a + chunk]] = mean
            n_imputed += len(rr)
            t_imp += time.perf_counter() - started
        blocks.append(_group_mean(block, group_all, len(genes)))
        masks.append(_group_mean(seen.astype(np.float32), group_all, len(genes)) > 0)
        col_ctx.append(np.full(len(readouts), n_ctx))
        col_readouts += [tuples.readouts[r] for r in readouts]
    if not blocks:
        raise NetworkError("no readout measured in the selected contexts")
    return Profiles(genes, [tuples.contexts[c] for c in ctx_ids], col_readouts, np.concatenate(col_ctx),
                    np.concatenate(blocks, axis=1), np.concatenate(masks, axis=1), n_imputed, t_imp)


def profile_correlation(matrix: np.ndarray, *, min_shared: int = 3, absolute: bool = False) -> np.ndarray:
    """Pearson correlation of every pair of rows, NaN-aware (see the module docstring): columns
    z-scored over the rows that have them (columns with fewer than 2 values or no spread are
    dropped), then each pair correlated over the columns both rows have; NaN where a pair shares
    fewer than ``min_shared`` columns or a row has no spread on them. Signed unless ``absolute``."""
    x = np.asarray(matrix, dtype=np.float64)
    have = np.isfinite(x)
    n_col = have.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(n_col > 0, np.where(have, x, 0).sum(axis=0) / np.maximum(n_col, 1), 0)
        sd = np.sqrt(np.where(have, (x - mu) ** 2, 0).sum(axis=0) / np.maximum(n_col - 1, 1))
    keep = (n_col >= 2) & (sd > 1e-12)
    x, have, mu, sd = x[:, keep], have[:, keep], mu[keep], sd[keep]
    z = np.where(have, (x - mu) / sd, 0.0)
    m = have.astype(np.float64)
    if have.all():  # complete: plain Pearson of the rows
        zc = z - z.mean(axis=1, keepdims=True)
        norm = np.sqrt((zc ** 2).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = (zc @ zc.T) / np.outer(norm, norm)
        n = np.full(corr.shape, z.shape[1], np.float64)
    else:  # pairwise-complete sums over the shared columns
        n = m @ m.T
        sx = z @ m.T  # sum of row i over the columns shared with j
        sxx = (z * z) @ m.T
        sxy = z @ z.T
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = sxy - sx * sx.T / n
            var_i = sxx - sx ** 2 / n
            corr = cov / np.sqrt(var_i * var_i.T)
    corr[(n < max(2, min_shared)) | ~np.isfinite(corr)] = np.nan
    corr = np.clip(corr, -1.0, 1.0)
    return np.abs(corr) if absolute else corr


def imputed_correlation(tuples: TupleSet, model, targets: Mapping[str, str], *, contexts="genetic",
                        absolute: bool = False) -> GeneNetwork:
    """The paper's route: observed + LPM-imputed profiles, correlated (see the module docstring)."""
    prof = perturbation_profiles(tuples, targets, model=model, contexts=contexts)
    corr = profile_correlation(prof.matrix, absolute=absolute)
    return GeneNetwork("imputed-correlation", prof.genes, _upper_symmetric(corr),
                       {"contexts": prof.contexts, "n_columns": int(prof.matrix.shape[1]),
                        "observed_fraction": float(prof.observed.mean()), "n_imputed": int(prof.n_imputed),
                        "seconds_imputing": round(prof.seconds_imputing, 3), "absolute": absolute})


def raw_correlation(tuples: TupleSet, targets: Mapping[str, str], *, contexts="genetic", min_shared: int = 3,
                    absolute: bool = False) -> GeneNetwork:
    """The baseline: observed profiles only, each pair correlated over the readouts both measured."""
    prof = perturbation_profiles(tuples, targets, model=None, contexts=contexts)
    corr = profile_correlation(prof.matrix, min_shared=min_shared, absolute=absolute)
    return GeneNetwork("raw-correlation", prof.genes, _upper_symmetric(corr),
                       {"contexts": prof.contexts, "n_columns": int(prof.matrix.shape[1]),
                        "observed_fraction": float(prof.observed.mean()), "min_shared": min_shared,
                        "pairs_unscored": int(np.isnan(corr[np.triu_indices(len(prof.genes), 1)]).sum()),
                        "absolute": absolute})


def zero_filled_correlation(tuples: TupleSet, targets: Mapping[str, str], *, contexts="genetic",
                            absolute: bool = False) -> GeneNetwork:
    """The naive-imputation baseline: observed profiles with every unobserved value set to 0."""
    prof = perturbation_profiles(tuples, targets, model=None, contexts=contexts)
    filled = np.where(np.isfinite(prof.matrix), prof.matrix, 0.0)
    corr = profile_correlation(filled, absolute=absolute)
    return GeneNetwork("zero-filled-correlation", prof.genes, _upper_symmetric(corr),
                       {"contexts": prof.contexts, "n_columns": int(prof.matrix.shape[1]),
                        "observed_fraction": float(prof.observed.mean()), "absolute": absolute})


def model_tuples(tuples: TupleSet, model) -> TupleSet:
    """``tuples`` restricted to the symbols ``model`` knows (the data may have grown since it trained)."""
    keep = np.ones(len(tuples), bool)
    for kind, col in (("perturbations", tuples.perturbation), ("readouts", tuples.readout),
                      ("contexts", tuples.context)):
        known = set(getattr(model.vocab, kind))
        ok = np.array([s in known for s in getattr(tuples, kind)], bool)
        keep &= ok[col] if len(ok) else np.zeros(len(tuples), bool)
    if keep.all():
        return tuples
    return TupleSet(tuples.perturbation[keep], tuples.readout[keep], tuples.context[keep], tuples.value[keep],
                    tuples.perturbations, tuples.readouts, tuples.contexts, tuples.datasets)


def infer_networks(methods: Sequence[str], *, tuples: TupleSet, targets: Mapping[str, str], model=None,
                   embeddings: tuple[Sequence[str], np.ndarray] | None = None, contexts="genetic",
                   absolute: bool = False, seed: int = 0) -> dict[str, GeneNetwork]:
    """Run ``methods`` on one gene set: the genes targeted by a genetic perturbation in ``tuples``
    (and, when there is a model, in its vocabulary). ``embeddings`` (symbols, vectors) default to
    the model's first seed's perturbation table. Every network is returned over the same genes.
    ``absolute`` applies to the correlation methods (embedding similarity stays signed)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise NetworkError(f"unknown method(s) {', '.join(unknown)}; methods: {', '.join(METHODS)}")
    needs_model = {"imputed-correlation"} | (set() if embeddings is not None else {"embedding-similarity"})
    if model is None and needs_model & set(methods):
        raise NetworkError(f"method(s) {', '.join(sorted(needs_model & set(methods)))} need a trained LPM")
    if model is not None:
        tuples = model_tuples(tuples, model)
    present = np.unique(tuples.perturbation)
    genes = sorted({targets[tuples.perturbations[k]] for k in present if tuples.perturbations[k] in targets})
    if len(genes) < 2:
        raise NetworkError(f"{len(genes)} perturbed gene(s) in the data: a network needs at least 2")
    out: dict[str, GeneNetwork] = {}
    for method in methods:
        started = time.perf_counter()
        if method == "embedding-similarity":
            symbols, vectors = embeddings if embeddings is not None else (
                model.vocab.perturbations, model.embeddings("perturbations"))
            net = embedding_similarity(symbols, vectors, targets)
        elif method == "imputed-correlation":
            net = imputed_correlation(tuples, model, targets, contexts=contexts, absolute=absolute)
        elif method == "raw-correlation":
            net = raw_correlation(tuples, targets, contexts=contexts, absolute=absolute)
        elif method == "zero-filled-correlation":
            net = zero_filled_correlation(tuples, targets, contexts=contexts, absolute=absolute)
        else:
            net = random_network(genes, seed=seed)
        net = _on_genes(net, genes)
        net.info["seconds"] = round(time.perf_counter() - started, 3)
        out[method] = net
    return out


# --------------------------------------------------------------------------- references

@dataclass
class Reference:
    """A reference network: ``pairs`` (unordered, (a, b) with a < b) over the ``genes`` universe."""

    name: str  # the dataset that loaded it
    relation: str  # INTERACTS_WITH, REGULATES or MEMBER_OF
    format: str | None  # the loader (string, corum, dorothea, trrust, ...)
    source: str | None  # e.g. STRING, DoRothEA, TRRUST (None for complexes)
    genes: frozenset
    pairs: frozenset

    @property
    def kind(self) -> str:
        return (self.format or self.source or self.relation).lower()


def list_references(graph: Graph) -> list[dict]:
    """Every reference network in the graph: ``name`` (dataset), ``relation``, ``format``, ``source``,
    ``n`` (relationships)."""
    rows = []
    for rel, pattern in (("INTERACTS_WITH", "(:Gene)-[r:INTERACTS_WITH]->(:Gene)"),
                         ("REGULATES", "(:Gene)-[r:REGULATES]->(:Gene)"),
                         ("MEMBER_OF", "(:Gene)-[r:MEMBER_OF]->(:Complex)")):
        rows += [{"relation": rel, **dict(r)} for r in graph.read(
            f"MATCH {pattern} WITH r.dataset AS name, r.source AS source, count(*) AS n "
            "OPTIONAL MATCH (d:Dataset {name: name}) RETURN name, source, n, d.format AS format ORDER BY name")]
    return rows


def _matches(ref: dict, token: str) -> bool:
    token = token.lower()
    return any(str(ref.get(k) or "").lower() == token for k in ("name", "format", "source"))


def select_references(graph: Graph, wanted: Sequence[str] | None = None) -> list[dict]:
    """The references named in ``wanted`` (each token matches a dataset name, a loader format such as
    ``string``/``corum``/``dorothea``/``trrust``, or a source such as ``STRING``), default all.
    A token that matches nothing raises :class:`NetworkError` naming what is loaded."""
    found = list_references(graph)
    if wanted is None:
        return found
    out, missing = [], []
    for token in wanted:
        hits = [r for r in found if _matches(r, token)]
        if not hits:
            missing.append(token)
        out += [r for r in hits if r not in out]
    if missing:
        have = ", ".join(f"{r['name']} ({r['format'] or r['source']}, {r['relation']})" for r in found) or "none"
        raise NetworkError(f"no reference network {', '.join(map(repr, missing))} in the graph; loaded: {have}")
    return out


def load_reference(graph: Graph, name: str, relation: str) -> Reference:
    """One dataset's reference network (undirected pairs; a complex makes all its members pairs)."""
    if relation not in REFERENCE_TYPES:
        raise NetworkError(f"unknown reference relation {relation!r}; one of {', '.join(REFERENCE_TYPES)}")
    info = next((r for r in list_references(graph) if r["name"] == name and r["relation"] == relation), None)
    if info is None:
        raise NetworkError(f"there is no {relation} reference of dataset {name!r} in the graph")
    pairs: set[tuple[str, str]] = set()
    genes: set[str] = set()
    if relation == "MEMBER_OF":
        rows = graph.read("MATCH (g:Gene)-[m:MEMBER_OF]->(c:Complex) WHERE m.dataset = $name "
                          "RETURN c.id AS c, collect(DISTINCT g.symbol) AS members", {"name": name})
        for r in rows:
            members = sorted(r["members"])
            genes.update(members)
            pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1:])
    else:
        rows = graph.read(f"MATCH (a:Gene)-[r:{relation}]->(b:Gene) WHERE r.dataset = $name "
                          "RETURN a.symbol AS a, b.symbol AS b", {"name": name})
        for r in rows:
            a, b = r["a"], r["b"]
            genes.update((a, b))
            if a != b:
                pairs.add((a, b) if a < b else (b, a))
    return Reference(name, relation, info.get("format"), info.get("source"), frozenset(genes), frozenset(pairs))


def load_references(graph: Graph, wanted: Sequence[str] | None = None) -> dict[str, Reference]:
    """:func:`select_references` loaded, keyed by dataset name (``name:relation`` if a dataset has two)."""
    chosen = select_references(graph, wanted)
    names = [r["name"] for r in chosen]
    return {(r["name"] if names.count(r["name"]) == 1 else f"{r['name']}:{r['relation']}"):
            load_reference(graph, r["name"], r["relation"]) for r in chosen}


# --------------------------------------------------------------------------- metrics

def average_precision(labels, scores) -> float:
    """Average precision (area under the precision-recall curve as a step function), as
    scikit-learn's ``average_precision_score``: sum over distinct score thresholds t, from the
    highest, of (recall(t) - recall(previous t)) * precision(t). Tied scores share one threshold.
    NaN scores rank last. NaN if there is no positive."""
    y = np.asarray(labels, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels for {len(s)} scores")
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # last index of each run of ties
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def precision_at_k(labels, scores, k: int) -> float:
    """Share of positives among the ``k`` best-scored items (ties broken by position; NaN last).
    With fewer than ``k`` items, among all of them."""
    y = np.asarray(labels, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not len(y):
        return float("nan")
    s = np.where(np.isnan(s), -np.inf, s)
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean())


def candidate_pairs(genes: Sequence[str], reference: Reference) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, label) over ``genes`` (sorted): the pairs of genes both in the reference's universe,
    i < j, labelled by whether the reference relates them."""
    genes = list(genes)
    index = {g: k for k, g in enumerate(genes)}
    inside = np.flatnonzero([g in reference.genes for g in genes])
    a, b = np.triu_indices(len(inside), k=1)
    i, j = inside[a], inside[b]
    related = np.zeros((len(genes), len(genes)), bool)
    for x, y in reference.pairs:
        if x in index and y in index:
            related[index[x], index[y]] = related[index[y], index[x]] = True
    return i, j, related[i, j]


def evaluate(network: GeneNetwork, reference: Reference, ks: Sequence[int] = KS,
             candidates: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict:
    """AUPRC, precision@k and the prior of one network on one reference (see the module docstring)."""
    i, j, labels = candidates if candidates is not None else candidate_pairs(network.genes, reference)
    scores = network.scores[i, j]
    n, n_pos = len(labels), int(labels.sum())
    prior = n_pos / n if n else float("nan")
    auprc = average_precision(labels, scores) if n_pos else float("nan")
    out = {"method": network.method, "reference": reference.name, "auprc": auprc, "prior": prior,
           "lift": auprc / prior if n_pos else float("nan"), "n_candidates": n, "n_positives": n_pos,
           "n_genes": int(len(np.union1d(i, j))), "n_unscored": int(np.isnan(scores).sum())}
    for k in ks:
        out[f"p@{k}"] = precision_at_k(labels, scores, k) if n else float("nan")
    return out


def compare(networks: Mapping[str, GeneNetwork], references: Mapping[str, Reference],
            ks: Sequence[int] = KS) -> pd.DataFrame:
    """One row per (method, reference); all methods on one reference share its candidate pairs."""
    genes = {tuple(n.genes) for n in networks.values()}
    if len(genes) > 1:
        raise NetworkError("the networks to compare score different genes; infer them with infer_networks")
    rows = []
    for name, ref in references.items():
        cand = candidate_pairs(next(iter(networks.values())).genes, ref) if networks else None
        for net in networks.values():
            rows.append({**evaluate(net, ref, ks, cand), "reference": name})
    cols = ["reference", "method", "auprc", "prior", "lift", *[f"p@{k}" for k in ks], "n_candidates",
            "n_positives", "n_genes", "n_unscored"]
    return pd.DataFrame(rows, columns=cols)


def format_table(table: pd.DataFrame) -> str:
    """The comparison as aligned text."""
    if table.empty:
        return "(no reference has a candidate pair)"
    shown = table.copy()
    for col in shown.columns:
        if col in ("auprc", "prior", "lift") or col.startswith("p@"):
            shown[col] = shown[col].map(lambda v: "nan" if pd.isna(v) else f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}")
    return shown.to_string(index=False)


# --------------------------------------------------------------------------- graph write-back

def _check_run(graph: Graph, run_id: str) -> None:
    from lpm_kg.graph.runs import check_run_id, require_run

    check_run_id(run_id)
    require_run(graph, run_id)


def _replace_edges(tx, run_id: str, method: str, rows: list[dict], delete: bool) -> None:
    if delete:
        tx.run(f"MATCH (:Gene)-[x:{REL_TYPE} {{run: $run}}]->(:Gene) WHERE x.method = $method DELETE x",
               run=run_id, method=method).consume()
    tx.run(f"UNWIND $rows AS row MATCH (a:Gene {{symbol: row.s}}), (b:Gene {{symbol: row.t}}) "
           f"CREATE (a)-[:{REL_TYPE} {{run: $run, method: $method, score: row.score, rank: row.rank}}]->(b)",
           run=run_id, method=method, rows=rows).consume()


def write_network(graph: Graph, run_id: str, network: GeneNetwork | pd.DataFrame, *, method: str | None = None,
                  top: int | None = DEFAULT_TOP, per_gene: int | None = None) -> dict:
    """Store a network's strongest edges as ``INFERRED_INTERACTION`` of run ``run_id`` (which must
    exist: :func:`lpm_kg.graph.runs.create_model_run`), replacing that run and method's edges
    (other runs and methods are untouched). ``network`` is a :class:`GeneNetwork` (pruned with
    :meth:`GeneNetwork.edges` and ``top`` / ``per_gene``) or a frame of ``source, target, score, rank``
    with ``method``. Up to :data:`EDGES_PER_TX` edges are replaced in one transaction; more are
    written in batches, and a killed write is finished by writing again. Returns counts and seconds."""
    started = time.perf_counter()
    _check_run(graph, run_id)
    if isinstance(network, GeneNetwork):
        method = method or network.method
        edges = network.edges(top=top, per_gene=per_gene)
    else:
        edges = network
        if method is None:
            raise NetworkError("write_network needs method= with an edge frame")
    if not isinstance(method, str) or not method:
        raise NetworkError(f"method {method!r} is not a name")
    missing = {"source", "target", "score", "rank"} - set(edges.columns)
    if missing:
        raise NetworkError(f"the edges lack column(s) {', '.join(sorted(missing))}")
    src, dst = edges["source"].astype(str).to_numpy(), edges["target"].astype(str).to_numpy()
    swap = src > dst  # once per unordered pair, smaller symbol first
    src, dst = np.where(swap, dst, src), np.where(swap, src, dst)
    if (src == dst).any():
        raise NetworkError("the edges hold a self-pair")
    if pd.DataFrame({"s": src, "t": dst}).duplicated().any():
        raise NetworkError("the edges hold a gene pair twice")
    score = pd.to_numeric(edges["score"], errors="coerce").to_numpy(np.float64)
    if not np.isfinite(score).all():
        raise NetworkError("the edges hold NaN or infinite scores")
    genes = sorted(set(src) | set(dst))
    known = {r["s"] for r in graph.read("UNWIND $g AS s MATCH (:Gene {symbol: s}) RETURN s", {"g": genes})}
    absent = [g for g in genes if g not in known]
    if absent:
        raise NetworkError(f"{len(absent)} gene(s) of the edges are not Gene nodes, e.g. {', '.join(absent[:3])}")
    rows = [{"s": s, "t": t, "score": float(v), "rank": int(k)}
            for s, t, v, k in zip(src, dst, score, edges["rank"].to_numpy())]
    if len(rows) <= EDGES_PER_TX:
        graph.write_tx(_replace_edges, run_id, method, rows, True)
    else:
        delete_networks(graph, run_id, method)
        for a in range(0, len(rows), EDGES_PER_TX):
            graph.write_tx(_replace_edges, run_id, method, rows[a:a + EDGES_PER_TX], False)
    return {"method": method, "n_edges": len(rows), "seconds": time.perf_counter() - started}


def read_network(graph: Graph, run_id: str, method: str) -> pd.DataFrame:
    """A run and method's stored edges as ``source, target, score, rank``, strongest first."""
    rows = graph.read(f"MATCH (a:Gene)-[x:{REL_TYPE} {{run: $run}}]->(b:Gene) WHERE x.method = $method "
                      "RETURN a.symbol AS source, b.symbol AS target, x.score AS score, x.rank AS rank ORDER BY rank",
                      {"run": run_id, "method": method})
    return pd.DataFrame([dict(r) for r in rows], columns=["source", "target", "score", "rank"])


def delete_networks(graph: Graph, run_id: str, method: str | None = None) -> int:
    """Delete a run's inferred edges (one method's, or all); returns how many. For pruning a run."""
    return graph.in_batches(f"MATCH (:Gene)-[x:{REL_TYPE} {{run: $run}}]->(:Gene) "
                            "WHERE $method IS NULL OR x.method = $method "
                            "WITH x LIMIT $batch DELETE x RETURN count(*) AS n",
                            {"run": run_id, "method": method}, batch=DELETE_PER_TX)


def record_network_metrics(graph: Graph, run_id: str, results: dict, key: str = "network") -> dict:
    """Merge ``results`` into the run's ``metrics`` JSON under ``key`` (nested dicts merged, new
    values winning; the other keys untouched), read and written in one transaction. Returns the
    run's metrics after the merge."""
    from lpm_kg.graph.runs import merge_run_metrics

    _check_run(graph, run_id)
    return merge_run_metrics(graph, run_id, {key: json_safe(results)}, deep=True)


def metrics_payload(table: pd.DataFrame, networks: Mapping[str, GeneNetwork], *, top: int | None) -> dict:
    """The evaluation as the nested dict stored under ``metrics.network``:
    ``{method: {reference: {auprc, prior, lift, p@k..., n_candidates, n_positives}}, ...}`` plus
    ``references`` (prior and counts per reference), ``methods`` (what each inferred) and ``top``."""
    by_method: dict = {}
    refs: dict = {}
    for row in table.to_dict("records"):
        values = {k: v for k, v in row.items() if k not in ("method", "reference")}
        by_method.setdefault(row["method"], {})[row["reference"]] = values
        refs[row["reference"]] = {k: row[k] for k in ("prior", "n_candidates", "n_positives", "n_genes")}
    info = {m: {k: v for k, v in n.info.items() if not isinstance(v, np.ndarray)} for m, n in networks.items()}
    return {"scores": by_method, "references": refs, "methods": info, "top": top}


# --------------------------------------------------------------------------- one call

@dataclass
class NetworkReport:
    run_id: str
    networks: dict[str, GeneNetwork]
    references: dict[str, Reference]
    table: pd.DataFrame
    written: dict[str, dict]
    seconds: dict[str, float]


def discover_networks(graph: Graph, run_id: str, model, tuples: TupleSet, *, methods: Sequence[str] = METHODS,
                      references: Sequence[str] | None = None, top: int | None = DEFAULT_TOP,
                      per_gene: int | None = None, contexts="genetic", absolute: bool = False, seed: int = 0,
                      ks: Sequence[int] = KS, write: bool = True) -> NetworkReport:
    """Infer ``methods`` with ``model`` (the LPM of run ``run_id``) on its data ``tuples``, score them
    on the graph's ``references`` (default: every one loaded), and, with ``write``, store each
    method's ``top`` edges and the scores on the run (``metrics.network``)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    targets = perturbation_targets(graph, model.vocab.perturbations if model is not None else tuples.perturbations)
    refs = load_references(graph, references)
    if not refs:
        raise NetworkError("no reference network in the graph: load STRING, CORUM, DoRothEA or TRRUST first "
                           "(`lpm-kg load ... --format string|corum|dorothea|trrust`)")
    seconds["read"] = time.perf_counter() - started
    networks = infer_networks(methods, tuples=tuples, targets=targets, model=model, contexts=contexts,
                              absolute=absolute, seed=seed)
    for m, net in networks.items():
        seconds[m] = net.info["seconds"]
    t = time.perf_counter()
    table = compare(networks, refs, ks)
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
