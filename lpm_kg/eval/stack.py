"""The LPM stacked with the linear models: lpm-kg's default model.

Each expert is fitted on the training tuples, and the weights are fitted separately for two
questions, because the experts that answer them differ:

- **seen**: a perturbation measured in training (in other contexts: the paper's split), where the
  paper's LPM and the transfer models know it;
- **unseen**: a perturbation never measured, which only the graph's priors, its siblings (other
  doses, other methods), compounds sharing its annotations and what a typical perturbation does
  can speak for.

Two stages, because a validation set is small (a 23-compound set holds out 3):

1. the closed-form experts are **cross-fitted** on the training tuples: five folds of training
   perturbations held out of every context (unseen), or of experiments whose perturbation stays
   measured in another context (seen), each fold predicted by experts fitted without it. Their
   weights are fitted on these out-of-fold predictions: every training perturbation counts, not
   only the validation ones;
2. on the validation tuples, weights for the closed-form blend and the neural experts (which are
   too costly to cross-fit).

Every fit is non-negative least squares with each experiment counted once, per context where it
has 3 or more experiments (pooled otherwise), shrunk toward a prior (the plain average; for a
context, the pooled weights) by the strength that leave-one-experiment-out scores best. A question
with no data gets the plain average. The two stages compose into one weight per expert:

    y(p, r, c) = m(c, r) + sum_k w_k(question(p), c) * (expert_k(p, r, c) - m(c, r)),   w_k >= 0

with m the per-(context, readout) training mean. Experts:

- ``lpm`` (the paper's LPM; a perturbation it never trained on gets the mean trained embedding)
  and, with the graph's reference knowledge, ``graph-lpm`` (embeds any perturbation from priors);
- ``linear`` (Ahlmann-Eltze et al. 2025), ``additive-transfer``, ``sibling-transfer`` and
  ``context-readout-median`` (what a typical perturbation does: most do little);
- with the knowledge, ``linear-priors`` and ``annotation-transfer`` (compounds sharing a mechanism
  or a target).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import nnls

from lpm_kg.eval.baselines import AdditiveTransfer, Baseline, ContextReadoutMean, ContextReadoutMedian, Linear, _ids
from lpm_kg.eval.graph_models import GraphLPMModel, LinearPriors
from lpm_kg.eval.lpm_model import LPMModel
from lpm_kg.eval.sibling import AnnotationTransfer, SiblingTransfer
from lpm_kg.priors import fit_gene_priors

MIN_VAL_EXPERIMENTS = 3  # per context, for weights of its own; fewer: the question's pooled weights
QUESTIONS = ("seen", "unseen")
NEURAL = ("lpm", "graph-lpm")
FOLDS = 5
CLOSED_FORM = {"linear": Linear, "additive-transfer": AdditiveTransfer, "sibling-transfer": SiblingTransfer,
               "context-readout-median": ContextReadoutMedian}


# Shrinkage toward the prior weights, relative to the mean diagonal of the experts' Gram matrix; the
# strength is chosen by leave-one-experiment-out validation (a few validation experiments, as on a
# 23-compound set, pick strong shrinkage; hundreds pick little).
SHRINKAGE = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
MIN_LOO_GROUPS = 5


def _nnls_gram(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin_{w >= 0} w'Aw - 2b'w, from the Gram form (A = R'R: NNLS of R w against R^-T b)."""
    k = len(b)
    R = np.linalg.cholesky(A + 1e-10 * (np.trace(A) / k + 1e-12) * np.eye(k)).T
    w, _ = nnls(R, np.linalg.solve(R.T, b))
    return w


def blend_weights(X: np.ndarray, t: np.ndarray, exp: np.ndarray, prior: np.ndarray | None = None,
                  groups: np.ndarray | None = None) -> np.ndarray:
    """Non-negative weights of the experts' deviations ``X`` for the measured deviations ``t``:
    least squares with every experiment (index ``exp``) scaled to unit norm of its ``t`` (so each
    counts once), shrunk toward ``prior`` (default: the plain average) by the strength whose
    leave-one-group-out weights score best on the held-out group (mean centered Pearson of its
    experiments, the benchmark's metric). ``groups`` (one per row; default the experiments): the
    unit held out together, the perturbation, since its experiments in other contexts would tell
    on it. With fewer than ``MIN_LOO_GROUPS`` groups (too few to tell a useful expert from a lucky
    one): the strongest shrinkage."""
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
    # Each experiment's group, and the rows of each experiment (for the held-out scores).
    group_of_exp = np.zeros(n, np.int64)
    group_of_exp[exp] = np.unique(exp if groups is None else groups, return_inverse=True)[1].ravel()
    n_groups = int(group_of_exp.max()) + 1 if n else 0
    if n_groups < MIN_LOO_GROUPS:
        lam = SHRINKAGE[-1]
    else:
        order = np.argsort(exp, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(exp, minlength=n))]
        A_g = np.zeros((n_groups, k, k))
        np.add.at(A_g, group_of_exp, A_e)
        b_g = np.zeros((n_groups, k))
        np.add.at(b_g, group_of_exp, b_e)
        best = (-np.inf, SHRINKAGE[-1])
        for lam in SHRINKAGE:
            scores = []
            for g in range(n_groups):
                w = _nnls_gram(A - A_g[g] + lam * unit * np.eye(k), b - b_g[g] + lam * unit * prior)
                for e in np.flatnonzero(group_of_exp == g):
                    rows = order[bounds[e]:bounds[e + 1]]
                    pred, truth = X[rows] @ w, t[rows]
                    ok = pred.std() > 0 and truth.std() > 0
                    scores.append(float(np.corrcoef(pred, truth)[0, 1]) if ok else 0.0)
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
            return LinearPriors(knowledge=self.knowledge, spec=getattr(self.config, "priors", None),
                                priors=getattr(self, "gene_priors_", None))
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
        return self.fit_weights(val, train=(p, r, c, y), vocab=vocab)

    def prepare(self, p, r, c, y, n_perturbations, n_readouts, n_contexts) -> "StackedLPM":
        """The reference mean and which perturbations trained; the experts come after, into ``models_``."""
        p, r, c = _ids(p, r, c)
        self.n_contexts_ = n_contexts
        self.sizes_ = (n_perturbations, n_readouts, n_contexts)
        self.base_ = ContextReadoutMean().fit(p, r, c, np.asarray(y, dtype=np.float64), n_perturbations, n_readouts,
                                              n_contexts)
        self.trained_ = np.zeros(n_perturbations, bool)
        self.trained_[np.unique(p)] = True
        self.models_, self.fit_seconds_ = {}, {}
        if self.knowledge is not None:  # the gene priors once, for linear-priors and its cross-fitted copies

            self.gene_priors_ = fit_gene_priors(self.knowledge, getattr(self.config, "priors", None))
        return self

    @staticmethod
    def _fitted_weights(X, t, exp, ctx, groups, prior=None) -> dict[int | None, np.ndarray]:
        """Pooled weights (key None) and, for contexts with enough experiments, their own."""
        out = {None: blend_weights(X, t, exp, prior=prior, groups=groups)}
        for k in np.unique(ctx):
            sel = ctx == k
            if len(np.unique(exp[sel])) >= MIN_VAL_EXPERIMENTS:
                out[int(k)] = blend_weights(X[sel], t[sel], exp[sel], prior=out[None], groups=groups[sel])
        return out

    def cross_fitted(self, train, vocab, question: str, seed: int = 0):
        """Out-of-fold deviations of the closed-form experts for one question, or None when the training
        data has no such fold (a perturbation measured in one context only cannot be "seen" elsewhere):
        (X [rows, closed-form experts], t, experiment ids, context ids, perturbation ids)."""
        p, r, c = _ids(*train[:3])
        y = np.asarray(train[3], dtype=np.float64)
        n_p, n_r, n_c = self.sizes_
        control = next((i for i, s in enumerate(getattr(vocab, "perturbations", []) or []) if s == "Control"), None)
        if question == "unseen":
            groups = np.unique(p[p != control]) if control is not None else np.unique(p)
            key = p
        else:  # experiments whose perturbation is measured in another context too
            exps = np.unique(p * n_c + c)
            per_p = np.bincount(exps // n_c, minlength=n_p)
            groups = exps[(per_p[exps // n_c] >= 2) & ((exps // n_c) != (control if control is not None else -1))]
            key = p * n_c + c
        if len(groups) < FOLDS:
            return None
        fold_of = np.random.default_rng(seed).permutation(len(groups)) % FOLDS
        names = [n for n in self.models_ if n not in NEURAL]
        parts = []
        for f in range(FOLDS):
            held = np.isin(key, groups[fold_of == f])
            keep = ~held
            base = ContextReadoutMean().fit(p[keep], r[keep], c[keep], y[keep], n_p, n_r, n_c)
            m = base.predict(p[held], r[held], c[held])
            cols = [self._make(n).fit(p[keep], r[keep], c[keep], y[keep], n_p, n_r, n_c, vocab=vocab)
                    .predict(p[held], r[held], c[held]) - m for n in names]
            parts.append((np.stack(cols, 1), y[held] - m, p[held] * n_c + c[held], c[held], p[held]))
        X, t, e, ctx, pert = (np.concatenate(a) for a in zip(*parts))
        return X, t, np.unique(e, return_inverse=True)[1].ravel(), ctx, pert

    def fit_weights(self, val, train=None, vocab=None) -> "StackedLPM":
        """The experts' weights per question and context: stage 1 from the closed-form experts
        cross-fitted on ``train`` (p, r, c, y), stage 2 from validation (p, r, c, y) or None."""
        names = list(self.models_)
        closed = np.array([n not in NEURAL for n in names])
        k_closed = int(closed.sum())
        self.weights_: dict[tuple[str, int | None], np.ndarray] = {}
        if val is not None and len(val[3]):
            vp, vr, vc = _ids(*val[:3])
            vy = np.asarray(val[3], dtype=np.float64)
            m = self.base_.predict(vp, vr, vc)
            X_val, t_val = self._deviations(vp, vr, vc, m), vy - m
            exp_val = np.unique(vp * self.n_contexts_ + vc, return_inverse=True)[1].ravel()
            seen_val = self.trained_[vp]
        for q in QUESTIONS:
            # Stage 1: the closed-form blend, from out-of-fold predictions.
            oof = self.cross_fitted(train, vocab, q) if train is not None and k_closed else None
            stage1 = self._fitted_weights(*oof) if oof is not None else {None: np.full(k_closed, 1.0 / max(k_closed, 1))}
            # Stage 2: the closed-form blend beside each neural expert, on validation.
            rows = (seen_val if q == "seen" else ~seen_val) if val is not None and len(val[3]) else None
            contexts = set(k for k in stage1 if k is not None)
            if rows is not None and rows.any():
                ctx_val = vc[rows]
                cf = np.zeros(rows.sum())
                for k in np.unique(ctx_val):
                    sel = ctx_val == k
                    cf[sel] = X_val[rows][sel][:, closed] @ stage1.get(int(k), stage1[None])
                Z = np.column_stack([cf, X_val[rows][:, ~closed]])
                # The prior: for a seen perturbation every part starts equal (the paper's LPM is the
                # strongest single model on the compound sets' paper split); for an unseen one the
                # cross-fitted blend starts alone, since the neural experts' evidence is a handful of
                # validation perturbations (benchmarks/README.md, bench_default).
                prior = None if q == "seen" else np.r_[1.0, np.zeros(Z.shape[1] - 1)]
                stage2 = self._fitted_weights(Z, t_val[rows], exp_val[rows], ctx_val, vp[rows], prior=prior)
                contexts |= set(k for k in stage2 if k is not None)
            else:  # no validation for this question: the same prior
                n2 = 1 + len(names) - k_closed
                stage2 = {None: np.full(n2, 1.0 / n2) if q == "seen" else np.r_[1.0, np.zeros(n2 - 1)]}
            for k in [None, *sorted(contexts)]:
                a, b = stage1.get(k, stage1[None]), stage2.get(k, stage2[None])
                w = np.zeros(len(names))
                w[closed], w[~closed] = b[0] * a, b[1:]
                self.weights_[(q, k)] = w
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
