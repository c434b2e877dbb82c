"""The LPM stacked with the linear models: lpm-kg's default model for the benchmark.

Each expert is fitted on the training tuples; on the validation tuples (perturbations held out
of training, as the test ones are) a non-negative weight per expert is fitted, per context where
the validation set has enough experiments there and pooled otherwise. The prediction is the
per-(context, readout) training mean plus the weighted sum of the experts' deviations from it:

    y(p, r, c) = m(c, r) + sum_k w_k(c) * (expert_k(p, r, c) - m(c, r)),   w_k >= 0

so a model that helps on held-out perturbations gets weight, and one that does not gets none
(it cannot pull the stack below its best expert by more than the validation noise). Experts:

- the neural ones, by what the validation set asks for: the paper's ``lpm`` when some validation
  perturbations were measured in training (in other contexts: the paper's split, where it is the
  strongest model measured), the graph-informed ``graph-lpm`` when some were not (it alone can
  embed a perturbation from the graph's priors) and the graph's reference knowledge is given;
- ``linear`` (Ahlmann-Eltze et al. 2025), ``additive-transfer``, ``sibling-transfer``, and
  ``context-readout-median`` (what a typical perturbation does: most do little);
- ``linear-priors`` when the knowledge is given.

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
from lpm_kg.eval.sibling import SiblingTransfer

MIN_VAL_EXPERIMENTS = 3  # per context, for weights of its own; fewer: the pooled weights


class StackedLPM(Baseline):
    name = "lpm-stack"
    description = ("the (graph) LPM stacked with linear, linear-priors, additive and sibling transfer; "
                   "non-negative expert weights per context fitted on validation")
    uses_knowledge = True  # reads the graph's knowledge when given; runs without it

    def __init__(self, config=None, knowledge=None, experts: list[str] | None = None, show_progress: bool = False,
                 device: str | None = None):
        self.config, self.knowledge, self.show_progress, self.device = config, knowledge, show_progress, device
        self.experts = experts

    def __repr__(self) -> str:
        return f"StackedLPM(experts={self.expert_names()})"

    def expert_names(self, seen=None, unseen=None) -> list[str]:
        """The experts; ``seen``/``unseen``: whether some validation perturbations were (not)
        measured in training (None: not known, both kinds)."""
        if self.experts is not None:
            return list(self.experts)
        graph = self.knowledge is not None
        neural = (["lpm"] if seen is not False or not graph else []) + (["graph-lpm"] if graph and unseen is not False
                                                                        else [])
        return neural + ["linear", "additive-transfer", "sibling-transfer", "context-readout-median"] + (
            ["linear-priors"] if graph else [])

    def _make(self, name: str) -> Baseline:
        if name == "graph-lpm":
            return GraphLPMModel(self.config, knowledge=self.knowledge, show_progress=self.show_progress,
                                 device=self.device)
        if name == "lpm":
            return LPMModel(self.config, show_progress=self.show_progress, device=self.device)
        if name == "linear-priors":
            return LinearPriors(knowledge=self.knowledge)
        return {"linear": Linear, "additive-transfer": AdditiveTransfer, "sibling-transfer": SiblingTransfer,
                "context-readout-median": ContextReadoutMedian}[name]()

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        p, r, c = _ids(p, r, c)
        y = np.asarray(y, dtype=np.float64)
        self.base_ = ContextReadoutMean().fit(p, r, c, y, n_perturbations, n_readouts, n_contexts)
        self.models_, self.fit_seconds_ = {}, {}
        seen = unseen = None
        if val is not None and len(val[3]):
            known = np.isin(np.unique(np.asarray(val[0])), p)
            seen, unseen = bool(known.any()), bool((~known).any())
        for name in self.expert_names(seen, unseen):
            started = time.perf_counter()
            self.models_[name] = self._make(name).fit(p, r, c, y, n_perturbations, n_readouts, n_contexts,
                                                      vocab=vocab, val=val)
            self.fit_seconds_[name] = time.perf_counter() - started
        names = list(self.models_)
        self.weights_: dict[int, np.ndarray] = {}
        self.pooled_weights_ = np.full(len(names), 1.0 / len(names))  # no validation: the plain average
        if val is not None and len(val[3]):
            vp, vr, vc = _ids(*val[:3])
            vy = np.asarray(val[3], dtype=np.float64)
            m = self.base_.predict(vp, vr, vc)
            X = np.stack([self.models_[n].predict(vp, vr, vc) - m for n in names], 1)
            t = vy - m
            exp = np.unique(vp * n_contexts + vc, return_inverse=True)[1].ravel()
            norm = np.sqrt(np.bincount(exp, weights=t * t))
            scale = 1.0 / np.maximum(norm, 1e-12)[exp]
            self.pooled_weights_ = self._solve(X, t, scale)
            for ctx in np.unique(vc):
                rows = vc == ctx
                if len(np.unique(exp[rows])) >= MIN_VAL_EXPERIMENTS:
                    self.weights_[int(ctx)] = self._solve(X[rows], t[rows], scale[rows])
        return self

    @staticmethod
    def _solve(X: np.ndarray, t: np.ndarray, scale: np.ndarray) -> np.ndarray:
        w, _ = nnls(X * scale[:, None], t * scale)
        return w

    def weights(self) -> dict[str, dict[str, float]]:
        """Context id ("pooled" for the fallback) -> expert -> weight, for reports."""
        names = list(self.models_)
        out = {"pooled": dict(zip(names, map(float, self.pooled_weights_)))}
        out.update({str(k): dict(zip(names, map(float, w))) for k, w in self.weights_.items()})
        return out

    def predict(self, p, r, c):
        p, r, c = _ids(p, r, c)
        m = self.base_.predict(p, r, c)
        out = m.copy()
        W = np.stack([self.weights_.get(int(ctx), self.pooled_weights_) for ctx in range(int(c.max()) + 1)]) \
            if len(c) else np.zeros((0, len(self.models_)))
        self.last_std = np.zeros(len(p))
        for k, (name, model) in enumerate(self.models_.items()):
            w = W[c, k]
            if not np.any(w):
                continue
            out += w * (model.predict(p, r, c) - m)
            if hasattr(model, "last_std"):
                self.last_std = self.last_std + w * model.last_std
        return out
