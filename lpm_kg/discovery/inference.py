"""Gene-gene networks inferred from perturbation data and the LPM, in NumPy (no graph access).

The methods (:data:`NETWORK_METHODS`, one registry) and what each computes are described in
:mod:`lpm_kg.discovery.networks`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lpm_kg.gene_network import GeneNetwork, NetworkError
from lpm_kg.graph.pull import TupleSet
from lpm_kg.registry import Registry


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
    # The network's own precision: observed-first breaks ties below float32's resolution.
    out = np.full((len(genes), len(genes)), np.nan, network.scores.dtype)
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


def shared_cosine(a: np.ndarray, b: np.ndarray, min_shared: int = 1) -> np.ndarray:
    """Cosine of every row of ``a`` with every row of ``b`` over the columns both measured (NaN:
    not measured), float64; NaN where fewer than ``min_shared`` columns are shared or either row
    is zero on them. Profiles measured over different readouts are compared on what they share."""
    am, bm = np.isfinite(a).astype(np.float64), np.isfinite(b).astype(np.float64)
    a0, b0 = np.nan_to_num(np.asarray(a, np.float64)), np.nan_to_num(np.asarray(b, np.float64))
    na = (a0 ** 2) @ bm.T  # |a|^2 over the columns b measured too
    nb = am @ (b0 ** 2).T
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (a0 @ b0.T) / np.sqrt(na * nb)
    return np.where((am @ bm.T >= min_shared) & np.isfinite(cos) & (na > 0) & (nb > 0), cos, np.nan)


def gene_vectors(symbols: Sequence[str], vectors: np.ndarray, targets: Mapping[str, str]
                 ) -> tuple[list[str], np.ndarray, int]:
    """(genes sorted, [genes, dim] float64, perturbations used): the mean of each gene's genetic
    perturbations' vectors (``vectors[k]`` embeds ``symbols[k]``)."""
    genes, rows, group = _gene_groups(list(symbols), targets)
    if not genes:
        raise NetworkError("no genetic perturbation among the embedded symbols")
    return genes, _group_mean(np.asarray(vectors, dtype=np.float64)[rows], group, len(genes)), len(rows)


def embedding_similarity(symbols: Sequence[str], vectors: np.ndarray, targets: Mapping[str, str], *,
                         absolute: bool = False) -> GeneNetwork:
    """Cosine similarity of perturbation embeddings (``vectors[k]`` embeds ``symbols[k]``), a
    gene's perturbations averaged. Signed by default (similar effects score high)."""
    genes, v, n_perturbations = gene_vectors(symbols, vectors, targets)
    sim = cosine_matrix(v)
    return GeneNetwork("embedding-similarity", genes, _upper_symmetric(np.abs(sim) if absolute else sim),
                       {"n_perturbations": n_perturbations, "dim": int(v.shape[1]), "absolute": absolute})


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


def _standardised(matrix: np.ndarray) -> np.ndarray:
    """Each column z-scored over the rows that have it (NaN stays NaN; a column with fewer than 2
    values or no spread becomes all NaN)."""
    x = np.asarray(matrix, dtype=np.float64)
    have = np.isfinite(x)
    n = have.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(n > 0, np.where(have, x, 0).sum(axis=0) / np.maximum(n, 1), 0)
        sd = np.sqrt(np.where(have, (x - mu) ** 2, 0).sum(axis=0) / np.maximum(n - 1, 1))
    ok = (n >= 2) & (sd > 1e-12)
    return np.where(have & ok, (x - mu) / np.where(ok, sd, 1.0), np.nan)


def profile_correlation(matrix: np.ndarray, *, min_shared: int = 3, absolute: bool = False) -> np.ndarray:
    """Pearson correlation of every pair of rows, NaN-aware (see the module docstring): columns
    z-scored over the rows that have them (columns with fewer than 2 values or no spread are
    dropped), then each pair correlated over the columns both rows have; NaN where a pair shares
    fewer than ``min_shared`` columns or a row has no spread on them. Signed unless ``absolute``."""
    z = _standardised(matrix)
    z = z[:, np.isfinite(z).any(axis=0)]
    have = np.isfinite(z)
    z = np.where(have, z, 0.0)
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


def cross_context_correlation(tuples: TupleSet, targets: Mapping[str, str], *, contexts="genetic", min_shared: int = 3,
                              absolute: bool = False) -> GeneNetwork:
    """Observed profiles compared across contexts: each (context, readout) column z-scored over
    the genes measured there (a context's scale and shared response taken out), then a gene's
    columns of one readout averaged over the contexts it was measured in, and every pair
    correlated over the readouts both have. Two genes screened in different cell lines still
    score, where raw-correlation, which keeps contexts apart, leaves them unscored."""
    prof = perturbation_profiles(tuples, targets, model=None, contexts=contexts)
    z = _standardised(prof.matrix)
    names, column = np.unique(np.asarray(prof.readouts, dtype=object), return_inverse=True)
    total = np.zeros((len(prof.genes), len(names)))
    count = np.zeros_like(total)
    have = np.isfinite(z)
    for k in range(z.shape[1]):  # columns of one readout symbol meet in one
        total[:, column[k]] += np.where(have[:, k], z[:, k], 0.0)
        count[:, column[k]] += have[:, k]
    with np.errstate(invalid="ignore", divide="ignore"):
        merged = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    corr = profile_correlation(merged, min_shared=min_shared, absolute=absolute)
    return GeneNetwork("cross-context-correlation", prof.genes, _upper_symmetric(corr),
                       {"contexts": prof.contexts, "n_readouts": int(len(names)), "min_shared": min_shared,
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


def observed_first(observed: np.ndarray, imputed: np.ndarray) -> tuple[np.ndarray, dict]:
    """Observed scores where there are any; elsewhere the imputed score placed on the observed
    scale. Where a pair was measured together, averaging in imputed evidence only dilutes what was
    measured (the LPM's predictions are smoother than the data), but a pair never measured in a
    shared context has no observed score at all, and there imputation is the only evidence.

    The placement: an isotonic regression of the observed score on the imputed one, fitted on the
    pairs both score (no reference knowledge), gives each imputed-only pair the observed score
    expected of its imputed score; pairs it maps to one value keep the imputed order (a tie
    breaker far below the scores' resolution, so the result stays float64: float32 would round it
    away and tie them, and ties at the top or bottom swell the tails that tail recall counts).
    Returns the matrix and what was done."""
    from scipy.optimize import isotonic_regression
    from scipy.stats import spearmanr

    obs, imp = np.asarray(observed, np.float64), np.asarray(imputed, np.float64)
    out = obs.copy()
    n = len(obs)
    iu = np.triu_indices(n, 1)
    o, m = obs[iu], imp[iu]
    both = np.isfinite(o) & np.isfinite(m)
    fill = ~np.isfinite(o) & np.isfinite(m)
    info = {"pairs_observed": int(np.isfinite(o).sum()), "pairs_filled": int(fill.sum()),
            "calibration_pairs": int(both.sum())}
    if both.sum() < 2 or not fill.any():
        return out, info
    order = np.argsort(m[both], kind="stable")
    x = m[both][order]
    fitted = isotonic_regression(o[both][order]).x
    placed = np.interp(m[fill], x, fitted)
    span = float(np.ptp(x)) or 1.0
    placed = placed + 1e-9 * (m[fill] - x[0]) / span
    rows, cols = iu[0][fill], iu[1][fill]
    out[rows, cols] = placed
    out[cols, rows] = placed
    # How well the imputed scores order the observed ones where both exist: how much to trust the fill.
    info["calibration_spearman"] = float(spearmanr(x, o[both][order]).statistic)
    return out, info


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
    return tuples.rows(keep)


@dataclass(frozen=True)
class NetworkInputs:
    """What a network method may read: the tuples (restricted to the model's vocabulary when there
    is a model), perturbation -> target gene, the model, embeddings (symbols, vectors), the
    contexts to profile over, whether correlations are absolute, the random seed, and the gene set
    every network is returned over."""

    tuples: TupleSet
    targets: Mapping[str, str]
    model: object | None
    embeddings: tuple[Sequence[str], np.ndarray] | None
    contexts: object
    absolute: bool
    seed: int
    genes: list[str]
    # Networks already inferred in this call, by method: observed-first reuses raw and imputed
    # correlation (imputing is the slow part) instead of computing them again.
    done: dict = field(default_factory=dict)

    def network(self, method: str) -> GeneNetwork:
        if method not in self.done:
            started = time.perf_counter()
            net = NETWORK_METHODS[method].infer(self)
            # Seconds to infer it, with any method it builds on that had not run before it.
            net.info["seconds"] = round(time.perf_counter() - started, 3)
            self.done[method] = net
        return self.done[method]


@dataclass(frozen=True)
class NetworkMethod:
    """A network inference method by name: ``infer(inputs)`` returns its :class:`GeneNetwork`.
    ``needs_model``: it reads the trained LPM (``embedding-similarity`` only without given
    embeddings)."""

    name: str
    description: str
    needs_model: bool
    infer: Callable[[NetworkInputs], GeneNetwork]
    #: Whether a model can give this method at all (by default every model can): a method that
    #: cannot is left out of the default list and refused by name with what to train instead.
    applies: Callable[[object], bool] = lambda model: True


def _embedding_network(x: NetworkInputs) -> GeneNetwork:
    symbols, vectors = x.embeddings if x.embeddings is not None else (
        x.model.vocab.perturbations, x.model.embeddings("perturbations"))
    return embedding_similarity(symbols, vectors, x.targets)


def shared_effect_correlation(symbols: Sequence[str], effects: np.ndarray, targets: Mapping[str, str], *,
                              absolute: bool = False) -> GeneNetwork:
    """Genes compared by the LPM's context-free effects (``effects[k]``: ``symbols[k]``'s predicted
    effect on every readout in any context, :meth:`lpm_kg.model.LPM.shared_effects`), a gene's
    perturbations averaged, correlated as measured profiles are (:func:`profile_correlation`).
    Two genes screened in different cell lines are compared on one footing, from what the model
    learned every context shares."""
    genes, v, n_perturbations = gene_vectors(symbols, effects, targets)
    return GeneNetwork("shared-effect", genes, _upper_symmetric(profile_correlation(v, absolute=absolute)),
                       {"n_perturbations": n_perturbations, "readouts": int(v.shape[1]), "absolute": absolute})


def _shared_effect_network(x: NetworkInputs) -> GeneNetwork:
    vocab = x.model.vocab.perturbations
    rows = [k for k, s in enumerate(vocab) if s in x.targets]
    return shared_effect_correlation([vocab[k] for k in rows], x.model.shared_effects(rows), x.targets,
                                     absolute=x.absolute)


def _observed_first_network(x: NetworkInputs) -> GeneNetwork:
    imputed = x.network("imputed-correlation")
    raw = _on_genes(x.network("raw-correlation"), imputed.genes)
    scores, info = observed_first(raw.scores, imputed.scores)
    return GeneNetwork("observed-first", imputed.genes, scores, {**imputed.info, **info})


#: The methods ``lpm-kg network --method`` takes, in the order they run and are reported.
NETWORK_METHODS: Registry[NetworkMethod] = Registry("network method", "lpm-kg list network-methods")
for _method in (
    NetworkMethod("embedding-similarity", "cosine similarity of the LPM's perturbation embeddings (one seed), a "
                  "gene's perturbations averaged", True, _embedding_network),
    NetworkMethod("imputed-correlation", "the paper's route: observed profiles with every unmeasured (perturbation, "
                  "context) filled in by the LPM, correlated across genes", True,
                  lambda x: imputed_correlation(x.tuples, x.model, x.targets, contexts=x.contexts, absolute=x.absolute)),
    NetworkMethod("observed-first", "raw-correlation where a pair was measured in a shared context; elsewhere "
                  "imputed-correlation, placed on the raw scale by an isotonic fit on the pairs both score", True,
                  _observed_first_network),
    NetworkMethod("shared-effect", "the LPM's context-free term (a run trained with shared_rank): each gene's "
                  "predicted effect on every readout in any context, correlated across genes", True,
                  _shared_effect_network, applies=lambda model: getattr(model, "has_shared_term", False)),
    NetworkMethod("raw-correlation", "the same correlation on observed values only (each pair over the readouts "
                  "both measured)", False,
                  lambda x: raw_correlation(x.tuples, x.targets, contexts=x.contexts, absolute=x.absolute)),
    NetworkMethod("cross-context-correlation", "observed profiles compared across contexts: each readout "
                  "standardised within its context, a gene's contexts averaged, pairs correlated over shared "
                  "readouts (genes screened in different cell lines still score)", False,
                  lambda x: cross_context_correlation(x.tuples, x.targets, contexts=x.contexts, absolute=x.absolute)),
    NetworkMethod("zero-filled-correlation", "every unmeasured value taken as 0 (no effect), then the same "
                  "correlation: the naive imputation the LPM must beat", False,
                  lambda x: zero_filled_correlation(x.tuples, x.targets, contexts=x.contexts, absolute=x.absolute)),
    NetworkMethod("random", "uniform random scores: the floor every method must beat", False,
                  lambda x: random_network(x.genes, seed=x.seed)),
):
    NETWORK_METHODS.register(_method)
#: The method names (kept for callers that take a tuple of names).
METHODS = tuple(NETWORK_METHODS)


def default_methods(model) -> list[str]:
    """Every method ``model`` can give (all of them but ``shared-effect`` for a run without the
    context-free term)."""
    return [name for name, m in NETWORK_METHODS.items() if m.applies(model)]


def infer_networks(methods: Sequence[str], *, tuples: TupleSet, targets: Mapping[str, str], model=None,
                   embeddings: tuple[Sequence[str], np.ndarray] | None = None, contexts="genetic",
                   absolute: bool = False, seed: int = 0) -> dict[str, GeneNetwork]:
    """Run ``methods`` on one gene set: the genes targeted by a genetic perturbation in ``tuples``
    (and, when there is a model, in its vocabulary). ``embeddings`` (symbols, vectors) default to
    the model's first seed's perturbation table. Every network is returned over the same genes.
    ``absolute`` applies to the correlation methods (embedding similarity stays signed)."""
    unknown = [m for m in methods if m not in NETWORK_METHODS]
    if unknown:
        raise NetworkError(f"unknown method(s) {', '.join(unknown)}; methods: {', '.join(NETWORK_METHODS)}")
    needs_model = {m for m in methods if NETWORK_METHODS[m].needs_model}
    if embeddings is not None:
        needs_model.discard("embedding-similarity")
    if model is None and needs_model:
        raise NetworkError(f"method(s) {', '.join(sorted(needs_model))} need a trained LPM")
    if model is not None:
        tuples = model_tuples(tuples, model)
    present = np.unique(tuples.perturbation)
    genes = sorted({targets[tuples.perturbations[k]] for k in present if tuples.perturbations[k] in targets})
    if len(genes) < 2:
        raise NetworkError(f"{len(genes)} perturbed gene(s) in the data: a network needs at least 2")
    inputs = NetworkInputs(tuples, targets, model, embeddings, contexts, absolute, seed, genes)
    return {method: _on_genes(inputs.network(method), genes) for method in methods}
