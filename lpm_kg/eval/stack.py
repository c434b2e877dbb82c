"""The LPM stacked with the linear models: lpm-kg's default model.

Each expert is fitted on the training tuples. On the validation tuples a non-negative weight per
expert is fitted, separately for two questions, because the experts that answer them differ:

- **seen**: a perturbation measured in training (in other contexts: the paper's split), where
  the paper's LPM and the transfer models know it;
- **unseen**: a perturbation never measured, which only the graph's priors, its siblings (other
  doses, other methods) and what a typical perturbation does can speak for.

Within a question, weights are per context where the validation set has enough experiments there,
pooled otherwise; a question with no validation experiment gets the plain average of its experts.
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


def blend_weights(X: np.ndarray, t: np.ndarray, exp: np.ndarray) -> np.ndarray:
    """Non-negative least squares of ``t`` on the columns of ``X`` (experts' deviations), each
    experiment (index ``exp``) scaled to unit norm of its ``t`` so that every experiment counts once."""
    norm = np.sqrt(np.bincount(exp, weights=t * t))
    scale = 1.0 / np.maximum(norm, 1e-12)[exp]
    w, _ = nnls(X * scale[:, None], t * scale)
    return w


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
            self.weights_[(q, None)] = blend_weights(X[rows], t[rows], exp[rows])
            for ctx in np.unique(vc[rows]):
                sel = rows & (vc == ctx)
                if len(np.unique(exp[sel])) >= MIN_VAL_EXPERIMENTS:
                    self.weights_[(q, int(ctx))] = blend_weights(X[sel], t[sel], exp[sel])
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
