"""The LPM stacked with the linear models: lpm-kg's default model.

Each expert is fitted on the training tuples. On the validation tuples a non-negative weight per
expert is fitted, separately for two questions, because the experts that answer them differ:

- **seen**: a perturbation measured in training (in other contexts: the paper's split), where
  the paper's LPM and the transfer models know it;
- **unseen**: a perturbation never measured, which only the graph's priors, its siblings (other
  doses, other methods) and what a typical perturbation does can speak for.

Within a question, weights are pooled over contexts and, where a context has 3 or more validation
experiments, per context too; a question with no validation experiment gets the plain average of
its experts. Every fit is shrunk toward a prior (the plain average for the pooled weights, the
pooled weights for a context's), by the strength that leave-one-experiment-out validation scores
best: a few validation experiments cannot hand a lucky expert all the weight.
The prediction is the per-(context, readout) training mean plus the weighted deviations:

    y(p, r, c) = m(c, r) + sum_k w_k(question(p), c) * (expert_k(p, r, c) - m(c, r)),   w_k >= 0

so an expert that helps on held-out perturbations gets weight and one that does not gets none:
the stack cannot fall below its best expert by more than the validation noise. Experts:

- ``lpm`` (the paper's LPM; a perturbation it never trained on gets the mean trained embedding)
  and, with the graph's reference knowledge, ``graph-lpm`` (embeds any perturbation from priors);
- ``linear`` (Ahlmann-Eltze et al. 2025), ``additive-transfer``, ``sibling-transfer`` and
  ``context-readout-median`` (what a typical perturbation does: most do little);
- with the knowledge, ``linear-priors`` and ``annotation-transfer`` (compounds sharing a mechanism
  or a target).

Every validation experiment weighs the same in the fit (its rows are scaled by the norm of its
measured deviation), since the benchmark's metrics average over experiments, not tuples.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import nnls

from lpm_kg.eval.baselines import AdditiveTransfer, Baseline, ContextReadoutMean, ContextReadoutMedian, Linear, _ids
from lpm_kg.eval.graph_models import GraphLPMModel, LinearPriors
from lpm_kg.eval.models import LPMModel
from lpm_kg.eval.sibling import AnnotationTransfer, SiblingTransfer

MIN_VAL_EXPERIMENTS = 3  # per context, for weights of its own; fewer: the question's pooled weights
QUESTIONS = ("seen", "unseen")
CLOSED_FORM = {"linear": Linear, "additive-transfer": AdditiveTransfer, "sibling-transfer": SiblingTransfer,
               "context-readout-median": ContextReadoutMedian}


# Shrinkage toward the prior weights, relative to the mean diagonal of the experts' Gram matrix; the
# strength is chosen by leave-one-experiment-out validation (a few validation experiments, as on a
# 23-compound set, pick strong shrinkage; hundreds pick little).
SHRINKAGE = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)


def _nnls_gram(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin_{w >= 0} w'Aw - 2b'w, from the Gram form (A = R'R: NNLS of R w against R^-T b)."""
    k = len(b)
    R = np.linalg.cholesky(A + 1e-10 * (np.trace(A) / k + 1e-12) * np.eye(k)).T
    w, _ = nnls(R, np.linalg.solve(R.T, b))
    return w


def blend_weights(X: np.ndarray, t: np.ndarray, exp: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """Non-negative weights of the experts' deviations ``X`` for the measured deviations ``t``:
    least squares with every experiment (index ``exp``) scaled to unit norm of its ``t`` (so each
    counts once), shrunk toward ``prior`` (default: the plain average) by the strength whose
    leave-one-experiment-out weights score best on the held-out experiment (centered Pearson, the
    benchmark's metric). With fewer than 3 experiments: the strongest shrinkage."""
    k = X.shape[1]
    prior = np.full(k, 1.0 / k) if prior is None else np.asarray(prior, np.float64)
    _, exp = np.unique(exp, return_inverse=True)
    n = int(exp.max()) + 1 if len(exp) else 0
    norm = np.sqrt(np.bincount(exp, weights=t * t, minlength=n))
    scale = 1.0 / np.maximum(norm, 1e-12)[exp]
    Xs, ts = X * scale[:, None], t * scale
    A_e = np.zeros((n, k, k))
    np.add.at(A_e, exp, Xs[:, :, None] * Xs[:, None, :])
    b_e = np.zeros((n, k))
    np.add.at(b_e, exp, Xs * ts[:, None])
    A, b = A_e.sum(0), b_e.sum(0)
    unit = np.trace(A) / k + 1e-12
    if n < 3:
        lam = SHRINKAGE[-1]
    else:
        order = np.argsort(exp, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(exp, minlength=n))]
        best = (-np.inf, SHRINKAGE[-1])
        for lam in SHRINKAGE:
            scores = []
            for e in range(n):
                w = _nnls_gram(A - A_e[e] + lam * unit * np.eye(k), b - b_e[e] + lam * unit * prior)
                rows = order[bounds[e]:bounds[e + 1]]
                pred, truth = X[rows] @ w, t[rows]
                sp, st = pred.std(), truth.std()
                scores.append(0.0 if sp == 0 or st == 0 else float(np.corrcoef(pred, truth)[0, 1]))
            score = float(np.mean(scores))
            if score >= best[0] - 1e-9:  # a tie goes to the stronger shrinkage
                best = (score, lam)
        lam = best[1]
    return _nnls_gram(A + lam * unit * np.eye(k), b + lam * unit * prior)


class StackedLPM(Baseline):
    name = "lpm-stack"
    description = ("the default: the LPM and graph LPM stacked with linear, linear-priors, additive and sibling "
                   "transfer and the median; non-negative weights per question (seen or unseen perturbation) and "
                   "context, fitted on validation")
    uses_knowledge = True  # reads the graph's knowledge when given; runs without it

    def __init__(self, config=None, knowledge=None, experts: list[str] | None = None, show_progress: bool = False,
                 device: str | None = None):
        self.config, self.knowledge, self.show_progress, self.device = config, knowledge, show_progress, device
        self.experts = experts

    def __repr__(self) -> str:
        return f"StackedLPM(experts={self.expert_names()})"

    def expert_names(self) -> list[str]:
        if self.experts is not None:
            return list(self.experts)
        graph = self.knowledge is not None
        return ["lpm"] + (["graph-lpm"] if graph else []) + list(CLOSED_FORM) + (
            ["linear-priors", "annotation-transfer"] if graph else [])

    def _make(self, name: str) -> Baseline:
        if name == "graph-lpm":
            return GraphLPMModel(self.config, knowledge=self.knowledge, show_progress=self.show_progress,
                                 device=self.device)
        if name == "lpm":
            config = self.config
            if config is not None and not isinstance(config, str) and getattr(config, "priors", None) is not None:
                config = config.model_copy(update={"priors": None})  # the paper's LPM of the same settings
            elif isinstance(config, str) and config.startswith("graph-"):
                config = config[len("graph-"):]
            return LPMModel(config, show_progress=self.show_progress, device=self.device)
        if name == "linear-priors":  # the graph LPM's prior settings, when the config has them
            return LinearPriors(knowledge=self.knowledge, spec=getattr(self.config, "priors", None))
        if name == "annotation-transfer":
            return AnnotationTransfer(knowledge=self.knowledge)
        return CLOSED_FORM[name]()

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        self.prepare(p, r, c, y, n_perturbations, n_readouts, n_contexts)
        for name in self.expert_names():
            started = time.perf_counter()
            self.models_[name] = self._make(name).fit(p, r, c, y, n_perturbations, n_readouts, n_contexts,
                                                      vocab=vocab, val=val)
            self.fit_seconds_[name] = time.perf_counter() - started
        return self.fit_weights(val)

    def prepare(self, p, r, c, y, n_perturbations, n_readouts, n_contexts) -> "StackedLPM":
        """The reference mean and which perturbations trained; the experts come after, into ``models_``."""
        p, r, c = _ids(p, r, c)
        self.n_contexts_ = n_contexts
        self.base_ = ContextReadoutMean().fit(p, r, c, np.asarray(y, dtype=np.float64), n_perturbations, n_readouts,
                                              n_contexts)
        self.trained_ = np.zeros(n_perturbations, bool)
        self.trained_[np.unique(p)] = True
        self.models_, self.fit_seconds_ = {}, {}
        return self

    def fit_weights(self, val) -> "StackedLPM":
        """The experts' weights per question and context, from validation (p, r, c, y) or None."""
        k = len(self.models_)
        equal = np.full(k, 1.0 / k)  # no validation for a question: the plain average
        self.weights_: dict[tuple[str, int | None], np.ndarray] = {(q, None): equal for q in QUESTIONS}
        if val is None or not len(val[3]):
            return self
        vp, vr, vc = _ids(*val[:3])
        vy = np.asarray(val[3], dtype=np.float64)
        m = self.base_.predict(vp, vr, vc)
        X = self._deviations(vp, vr, vc, m)
        t = vy - m
        exp = np.unique(vp * self.n_contexts_ + vc, return_inverse=True)[1].ravel()
        seen = self.trained_[vp]
        for q, rows in (("seen", seen), ("unseen", ~seen)):
            if not rows.any():
                continue
            pooled = self.weights_[(q, None)] = blend_weights(X[rows], t[rows], exp[rows])
            for ctx in np.unique(vc[rows]):
                sel = rows & (vc == ctx)
                if len(np.unique(exp[sel])) >= MIN_VAL_EXPERIMENTS:
                    self.weights_[(q, int(ctx))] = blend_weights(X[sel], t[sel], exp[sel], prior=pooled)
        return self

    def _deviations(self, p, r, c, m) -> np.ndarray:
        return np.stack([self.models_[n].predict(p, r, c) - m for n in self.models_], 1)

    def weights(self) -> dict[str, dict[str, float]]:
        """"<question>" (pooled) or "<question>:<context id>" -> expert -> weight, for reports."""
        names = list(self.models_)
        return {(q if ctx is None else f"{q}:{ctx}"): dict(zip(names, map(float, w)))
                for (q, ctx), w in self.weights_.items()}

    def weight_matrix(self, p, c) -> np.ndarray:
        """[n, experts] the weights each query tuple gets (its question and context)."""
        p, c = _ids(p, c)
        known = (p < len(self.trained_)) & self.trained_[np.minimum(p, len(self.trained_) - 1)]
        out = np.empty((len(p), len(self.models_)))
        for q, rows in (("seen", known), ("unseen", ~known)):
            for ctx in np.unique(c[rows]):
                sel = rows & (c == ctx)
                out[sel] = self.weights_.get((q, int(ctx)), self.weights_[(q, None)])
        return out

    def predict(self, p, r, c):
        p, r, c = _ids(p, r, c)
        m = self.base_.predict(p, r, c)
        W = self.weight_matrix(p, c)
        out = m.copy()
        self.last_std = np.zeros(len(p))
        for k, (name, model) in enumerate(self.models_.items()):
            if not np.any(W[:, k]):
                continue
            out += W[:, k] * (model.predict(p, r, c) - m)
            if hasattr(model, "last_std"):
                self.last_std = self.last_std + W[:, k] * model.last_std
        return out
