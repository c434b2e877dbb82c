"""Cheap baselines the LPM must beat (docs/lpm-model.md, "Metrics and baselines"), run
exactly as the LPM: ``fit`` on the training tuples' id arrays, ``predict`` for any (p, r, c).

Every baseline has the same interface::

    model = BASELINES[name](**options)
    model.fit(p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None)
    pred = model.predict(p, r, c)          # float64, one value per tuple

``vocab`` (a :class:`lpm_kg.model.Vocabulary`, a TupleSet, or a list of perturbation symbols) is
only needed to find the Control perturbation; ``val`` (validation (p, r, c, y)) is accepted for
a uniform call and ignored (only the LPM early-stops on it).

Means are over training tuples; after ``average_replicate_tuples`` one tuple is one experiment's
readout, so a mean "over contexts" weighs each context once. Tables over (perturbation, readout)
pairs are sparse (sorted int64 keys and ``searchsorted``), so no dense perturbation x readout
array is ever built; (context, readout) tables are dense.
"""

from __future__ import annotations

import numpy as np

from lpm_kg.symbols import CONTROL


class _SparseMeans:
    """Sums and counts of values per int64 key, looked up by key (missing keys: 0 and 0)."""

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        self.keys, inverse = np.unique(keys, return_inverse=True)
        inverse = inverse.ravel()
        self.sums = np.bincount(inverse, weights=values, minlength=len(self.keys))
        self.counts = np.bincount(inverse, minlength=len(self.keys)).astype(np.float64)

    def index(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position, found) of each key."""
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, max(len(self.keys) - 1, 0))
        found = (self.keys[pos] == keys) if len(self.keys) else np.zeros(len(keys), dtype=bool)
        return pos, found

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, found = self.index(keys)
        if not len(self.keys):
            return np.zeros(len(keys)), np.zeros(len(keys))
        return np.where(found, self.sums[pos], 0.0), np.where(found, self.counts[pos], 0.0)


def _ids(*arrays) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a, dtype=np.int64) for a in arrays)


def control_id(vocab) -> int | None:
    """The id of ``Control`` in ``vocab`` (Vocabulary, TupleSet or list of perturbations), or None."""
    if vocab is None:
        return None
    perturbations = getattr(vocab, "perturbations", vocab)
    perturbations = list(perturbations)
    return perturbations.index(CONTROL) if CONTROL in perturbations else None


def context_readout_means(r, c, y, n_readouts: int, n_contexts: int) -> np.ndarray:
    """Dense [n_contexts, n_readouts] mean of y per (context, readout), NaN where unseen: the
    ``reference`` of the centered metric."""
    r, c = _ids(r, c)
    key = c * n_readouts + r
    size = n_contexts * n_readouts
    sums = np.bincount(key, weights=np.asarray(y, dtype=np.float64), minlength=size)
    counts = np.bincount(key, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts).reshape(n_contexts, n_readouts)


class Baseline:
    """The common interface; subclasses set ``name`` and ``description``."""

    name = "baseline"
    description = ""

    def fit(self, p, r, c, y, n_perturbations: int, n_readouts: int, n_contexts: int, vocab=None, val=None
            ) -> "Baseline":
        raise NotImplementedError

    def predict(self, p, r, c) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GlobalMean(Baseline):
    name = "global-mean"
    description = "the mean of every training value"

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        self.mean_ = float(np.mean(np.asarray(y, dtype=np.float64))) if len(y) else 0.0
        return self

    def predict(self, p, r, c):
        return np.full(len(p), self.mean_)


class ContextReadoutMean(Baseline):
    name = "context-readout-mean"
    description = "per (context, readout) training mean; else the readout's mean; else the global mean"

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        r, c = _ids(r, c)
        y = np.asarray(y, dtype=np.float64)
        self.global_ = float(y.mean()) if len(y) else 0.0
        n = np.bincount(r, minlength=n_readouts)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.readout_ = np.where(n > 0, np.bincount(r, weights=y, minlength=n_readouts) / n, np.nan)
        self.raw_ = context_readout_means(r, c, y, n_readouts, n_contexts)
        table = np.where(np.isfinite(self.raw_), self.raw_, self.readout_[None, :])
        self.table_ = np.where(np.isfinite(table), table, self.global_)
        return self

    def predict(self, p, r, c):
        r, c = _ids(r, c)
        return self.table_[c, r]


class ContextReadoutMedian(Baseline):
    """The per-(context, readout) training *median*: the outcome of a typical perturbation. Most
    perturbations move little and a few move a lot, so the mean is pulled toward the strong ones and
    the median is the better guess for a perturbation about which nothing else is known (on the
    Papalexi knockouts it scores 0.24 centered Pearson, where the mean scores 0 by construction)."""

    name = "context-readout-median"
    description = "per (context, readout) training median (a typical perturbation); else the mean"

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        r, c = _ids(r, c)
        y = np.asarray(y, dtype=np.float64)
        self.fallback_ = ContextReadoutMean().fit(p, r, c, y, n_perturbations, n_readouts, n_contexts)
        key = c * n_readouts + r
        order = np.lexsort((y, key))
        k, v = key[order], y[order]
        starts = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
        sizes = np.diff(np.r_[starts, len(k)])
        lo, hi = starts + (sizes - 1) // 2, starts + sizes // 2
        table = self.fallback_.table_.copy().ravel()
        if len(k):
            table[k[starts]] = (v[lo] + v[hi]) / 2
        self.table_ = table.reshape(n_contexts, n_readouts)
        return self

    def predict(self, p, r, c):
        r, c = _ids(r, c)
        return self.table_[c, r]


class Control(Baseline):
    """NoPerturb. Values are already changes against control, so a perturbation that did nothing
    has value 0: where Control itself is not measured in a (context, readout), 0 *is* the control
    value. Where it is measured (a dataset that keeps its control tuples), its training mean is
    used."""

    name = "control"
    description = "NoPerturb: the Control value of that (context, readout) if measured, else 0"

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        p, r, c = _ids(p, r, c)
        self.table_ = np.zeros((n_contexts, n_readouts))
        ctrl = control_id(vocab)
        if ctrl is not None:
            is_ctrl = p == ctrl
            means = context_readout_means(r[is_ctrl], c[is_ctrl], np.asarray(y)[is_ctrl], n_readouts, n_contexts)
            self.table_ = np.where(np.isfinite(means), means, 0.0)
        return self

    def predict(self, p, r, c):
        r, c = _ids(r, c)
        return self.table_[c, r]


class _OtherContexts(Baseline):
    """Means of a per-tuple quantity over the same (perturbation, readout) in the *other* contexts
    of training: all contexts' sums minus the query context's own."""

    def _fit_other(self, p, r, c, values, n_readouts, n_contexts):
        self.n_r, self.n_c = n_readouts, n_contexts
        self.pr_ = _SparseMeans(p * n_readouts + r, values)
        self.prc_ = _SparseMeans((p * n_contexts + c) * n_readouts + r, values)

    def _other_mean(self, p, r, c) -> tuple[np.ndarray, np.ndarray]:
        """(mean over other contexts, whether any other context has it)."""
        s_all, n_all = self.pr_.lookup(p * self.n_r + r)
        s_own, n_own = self.prc_.lookup((p * self.n_c + c) * self.n_r + r)
        n = n_all - n_own
        has = n > 0
        mean = np.zeros(len(p))
        mean[has] = (s_all[has] - s_own[has]) / n[has]
        return mean, has


class PerturbationMeanOtherContexts(_OtherContexts):
    name = "perturbation-mean-other-contexts"
    description = ("the same perturbation's mean value per readout in the other contexts; "
                   "else the context-readout mean")

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        p, r, c = _ids(p, r, c)
        self.fallback_ = ContextReadoutMean().fit(p, r, c, y, n_perturbations, n_readouts, n_contexts)
        self._fit_other(p, r, c, np.asarray(y, dtype=np.float64), n_readouts, n_contexts)
        return self

    def predict(self, p, r, c):
        p, r, c = _ids(p, r, c)
        mean, has = self._other_mean(p, r, c)
        return np.where(has, mean, self.fallback_.predict(p, r, c))


class AdditiveTransfer(_OtherContexts):
    """y(p, r, c) = m(c, r) + mean over the other contexts c' of [y(p, r, c') - m(c', r)], with m
    the per-(context, readout) training mean: a context effect plus a perturbation effect
    transferred from the other contexts. Without other contexts: m(c, r) alone."""

    name = "additive-transfer"
    description = ("per (context, readout) mean + the perturbation's mean deviation from the "
                   "(context, readout) means in the other contexts")

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        p, r, c = _ids(p, r, c)
        y = np.asarray(y, dtype=np.float64)
        self.base_ = ContextReadoutMean().fit(p, r, c, y, n_perturbations, n_readouts, n_contexts)
        self._fit_other(p, r, c, y - self.base_.raw_[c, r], n_readouts, n_contexts)
        return self

    def predict(self, p, r, c):
        p, r, c = _ids(p, r, c)
        deviation, _ = self._other_mean(p, r, c)  # 0 where no other context has it
        return self.base_.predict(p, r, c) + deviation


class Linear(Baseline):
    """The linear baseline of Ahlmann-Eltze, Huber & Anders (Nature Methods 2025), on features
    learnt from the training data, in the multi-context setting:

        y(p, r, c) = m(c, r) + g_r^T W u_{p,-c}

    - m(c, r): the per-(context, readout) training mean (the bias b of the paper);
    - deviations d = y - m(c, r) of the training tuples form a (training experiment x readout)
      matrix D, missing entries 0 (= the mean);
    - readout embedding G (n_readouts x k): the top-k principal axes of D (right singular vectors;
      D's columns are already centred per context, so no further centring);
    - perturbation embedding u_{p,-c} = G^T v_{p,-c}: the perturbation's mean deviation profile
      over readouts in the contexts *other* than c, projected on G. Training rows use the profile
      without their own context, so W learns the same mapping the test asks for (a perturbation's
      profile elsewhere -> its effect here); a query whose (p, c) is not in training uses all of
      p's contexts. A perturbation seen nowhere else has u = 0, so its prediction is m(c, r);
    - W (k x k): the paper's closed-form ridge,
      W = (G^T G + lambda I)^-1 G^T D^T U (U^T U + lambda I)^-1, with U the rows u of the training
      experiments (G^T G = I).

    ``k`` (default 10) and ``ridge`` (lambda, default 0.1) are the paper's defaults.
    """

    name = "linear"
    description = "Ahlmann-Eltze et al. 2025: context-readout mean + ridge bilinear G W U^T on PCA features"

    def __init__(self, k: int = 10, ridge: float = 0.1, dense_readouts: int = 2048):
        self.k, self.ridge, self.dense_readouts = k, ridge, dense_readouts

    def __repr__(self) -> str:
        return f"Linear(k={self.k}, ridge={self.ridge})"

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        import scipy.sparse as sp

        p, r, c = _ids(p, r, c)
        y = np.asarray(y, dtype=np.float64)
        self.n_p, self.n_r, self.n_c = n_perturbations, n_readouts, n_contexts
        self.base_ = ContextReadoutMean().fit(p, r, c, y, n_perturbations, n_readouts, n_contexts)
        # One deviation per (p, c, r): replicates (if any) averaged.
        prc = _SparseMeans((p * n_contexts + c) * n_readouts + r, y - self.base_.raw_[c, r])
        d = prc.sums / prc.counts
        e_key, tr = prc.keys // n_readouts, prc.keys % n_readouts
        self.exp_keys_, e = np.unique(e_key, return_inverse=True)
        e = e.ravel()
        ep = self.exp_keys_ // n_contexts
        n_e = len(self.exp_keys_)
        D = sp.csr_matrix((d, (e, tr)), shape=(n_e, n_readouts))

        k = max(0, min(self.k, n_readouts, n_e))
        if k == 0:
            self.G_, self.W_ = np.zeros((n_readouts, 0)), np.zeros((0, 0))
            self.U_exp_, self.U_all_ = np.zeros((n_e, 0)), np.zeros((n_perturbations, 0))
            return self
        if n_readouts <= self.dense_readouts or k >= min(n_readouts, n_e) - 1:
            cov = (D.T @ D).toarray()
            vals, vecs = np.linalg.eigh(cov)
            G = vecs[:, np.argsort(vals)[::-1][:k]]
        else:
            from scipy.sparse.linalg import svds

            _, s, vt = svds(D, k=k, random_state=0)
            G = vt[np.argsort(s)[::-1]].T
        self.G_ = np.ascontiguousarray(G)

        # Profiles: per (p, r) the mean deviation over p's contexts; per experiment, without its own.
        pr = _SparseMeans((prc.keys // (n_contexts * n_readouts)) * n_readouts + tr, d)
        mean_pr = pr.sums / pr.counts
        pr_p, pr_r = pr.keys // n_readouts, pr.keys % n_readouts
        self.U_all_ = np.stack([np.bincount(pr_p, weights=mean_pr * self.G_[pr_r, j], minlength=n_perturbations)
                                for j in range(k)], axis=1)
        # Per training tuple (p, c, r): its (p, r) mean over other contexts replaces the all-context mean.
        pos, _ = pr.index(ep[e] * n_readouts + tr)
        n_other = pr.counts[pos] - 1
        other = np.where(n_other > 0, (pr.sums[pos] - d) / np.maximum(n_other, 1), 0.0)
        corr = other - mean_pr[pos]
        U = self.U_all_[ep] + np.stack([np.bincount(e, weights=corr * self.G_[tr, j], minlength=n_e)
                                        for j in range(k)], axis=1)
        self.U_exp_ = U
        lam = self.ridge
        DG = np.asarray(D @ self.G_)  # n_e x k, = (G^T D^T)^T
        self.W_ = (DG.T @ U) @ np.linalg.inv(U.T @ U + lam * np.eye(k)) / (1.0 + lam)
        return self

    def embeddings(self, p, c) -> np.ndarray:
        """u_{p,-c} for query (p, c) pairs."""
        p, c = _ids(p, c)
        u = self.U_all_[p]
        if len(self.exp_keys_):
            key = p * self.n_c + c
            pos = np.minimum(np.searchsorted(self.exp_keys_, key), len(self.exp_keys_) - 1)
            found = self.exp_keys_[pos] == key
            u = np.where(found[:, None], self.U_exp_[pos], u)
        return u

    def predict(self, p, r, c):
        p, r, c = _ids(p, r, c)
        base = self.base_.predict(p, r, c)
        if self.G_.shape[1] == 0:
            return base
        z = self.embeddings(p, c) @ self.W_.T  # n x k
        return base + np.einsum("ij,ij->i", self.G_[r], z)


BASELINES: dict[str, type[Baseline]] = {cls.name: cls for cls in (
    GlobalMean, ContextReadoutMean, ContextReadoutMedian, Control, PerturbationMeanOtherContexts, AdditiveTransfer,
    Linear)}
