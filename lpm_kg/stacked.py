"""lpm-kg's default model (``stack = true``, the ``stack-*`` presets): the paper's LPM and its
graph-informed twin, stacked with the closed-form models on validation (:mod:`lpm_kg.eval.stack`
is the same stack behind the benchmarks' interface; benchmarks/bench_default.py measures it).

It trains where an :class:`lpm_kg.model.LPM` trains (``lpm-kg sync``) and answers as one:

- ``predict_ids``/``predict``: the per-(context, readout) training mean plus the experts'
  weighted deviations, the weights per question (was the perturbation measured in training?) and
  context. A perturbation known only through the graph is answered by the experts that can speak
  for it (the graph LPM, linear-priors, its siblings, the median); a readout never measured, by
  the graph LPM alone. The uncertainty is the weighted seed spread of the two LPMs;
- ``embeddings``, ``prior_sources``, ``priors``: the graph LPM's (it embeds every symbol, measured
  or not), or the paper LPM's when the graph holds no reference relations;
- one checkpoint file holding both LPMs, the fitted experts and the weights, tensors and plain
  containers only; each LPM resumes its own part while training.

Validation in a sync holds out experiments of perturbations measured elsewhere (the "seen"
question), so the "unseen" question keeps the plain average of its experts there; the benchmark's
perturbation split fits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lpm_kg.eval.lpm_model import LPMModel, _mean_for_untrained
from lpm_kg.eval.persist import expert_from_state, expert_state
from lpm_kg.eval.stack import QUESTIONS, StackedLPM
from lpm_kg.model.config import LPMConfig
from lpm_kg.model.distributed import world
from lpm_kg.model.lpm import LPM, CHECKPOINT_FORMAT, load_checkpoint, save_payload
from lpm_kg.model.vocab import Vocabulary

KIND = "stack"
NEURAL = ("lpm", "graph-lpm")


def _view(lpm: LPM) -> LPMModel:
    """An LPM behind the experts' interface (predict(p, r, c) and last_std)."""
    view = LPMModel(lpm.config)
    view.model_ = lpm
    return view


def _part(checkpoint: str | Path | None, name: str) -> Path | None:
    return None if checkpoint is None else Path(checkpoint).with_suffix(f".{name}.pt")


class StackedModel:
    def __init__(self, config: LPMConfig, vocab: Vocabulary, device: str | None = None, priors=None):
        self.config, self.vocab = config, vocab
        self.paper = LPM(config.model_copy(update={"priors": None, "stack": False}), vocab, device)
        self.graph = None
        if config.priors is not None and priors is not None:
            self.graph = LPM(config.model_copy(update={"stack": False}), vocab, device, priors=priors)
        self.stack: StackedLPM | None = None
        self.device = self.paper.device

    # What the rest of lpm-kg reads of a model: the graph LPM's when there is one.
    @property
    def primary(self) -> LPM:
        return self.graph if self.graph is not None else self.paper

    @property
    def is_graph(self) -> bool:
        return self.graph is not None

    @property
    def priors(self):
        return self.primary.priors

    @property
    def states(self):
        return self.primary.states

    @property
    def modules(self):
        return self.primary.modules

    def embeddings(self, kind: str, seed: int | None = None) -> np.ndarray:
        return self.primary.embeddings(kind, seed)

    # The paper's LPM carries the context-free term (the graph LPM has its own bilinear term).
    @property
    def has_shared_term(self) -> bool:
        return self.paper.has_shared_term

    def shared_effects(self, perturbations: Sequence[int]) -> np.ndarray:
        return self.paper.shared_effects(perturbations)

    def prior_sources(self, perturbations: Sequence[str]) -> list[str]:
        return self.primary.prior_sources(perturbations)

    def weights(self) -> dict[str, dict[str, float]]:
        return self.stack.weights() if self.stack is not None else {}

    # ------------------------------------------------------------------ training

    def fit(self, train: tuple, val: tuple | None = None, *, rows: tuple | None = None,
            checkpoint: str | Path | None = None, show_progress: bool = True) -> "StackedModel":
        """As :meth:`LPM.fit`; each LPM resumes its own part file beside ``checkpoint``, which
        then holds the whole stack."""
        if checkpoint is not None and Path(checkpoint).exists() and self._resume(Path(checkpoint)):
            return self
        self.paper.fit(train, val, rows=rows, checkpoint=_part(checkpoint, "paper"), show_progress=show_progress)
        if self.graph is not None:
            self.graph.fit(train, val, rows=rows, checkpoint=_part(checkpoint, "graph"), show_progress=show_progress)
        if rows is not None:
            tr = tuple(np.asarray(a)[rows[0]] for a in train)
            va = tuple(np.asarray(a)[rows[1]] for a in train) if rows[1] is not None and len(rows[1]) else None
        else:
            tr, va = train, val
        # A perturbation the paper's LPM never trained on answers as the mean trained one.
        _mean_for_untrained(self.paper, tr[0], tr[1])
        v = self.vocab
        sizes = (len(v.perturbations), len(v.readouts), len(v.contexts))
        knowledge = self.graph.priors.knowledge if self.graph is not None else None
        stack = StackedLPM(self.config, knowledge=knowledge).prepare(*tr, *sizes)
        for name in stack.expert_names():
            if name in NEURAL:
                lpm = self.paper if name == "lpm" else self.graph
                if lpm is not None:
                    stack.models_[name] = _view(lpm)
            else:
                stack.models_[name] = stack._make(name).fit(*tr, *sizes, vocab=v)
        self.stack = stack.fit_weights(va, train=tr, vocab=v)
        if checkpoint is not None and world().is_main:
            self.save(checkpoint)
            for name in ("paper", "graph"):
                _part(checkpoint, name).unlink(missing_ok=True)
        return self

    # ------------------------------------------------------------------ prediction

    def predict_ids(self, p, r, c) -> tuple[np.ndarray, np.ndarray]:
        """Stacked mean and weighted seed spread for id arrays of this model's vocabulary."""
        return self._blend(p, r, c, self.graph, self.vocab.perturbations)

    def predict(self, perturbations: Sequence[str], readouts: Sequence[str], contexts: Sequence[str]
                ) -> tuple[np.ndarray, np.ndarray]:
        """Predictions for symbol triples; perturbations and readouts known only through the graph
        as :meth:`LPM.predict` allows them (an unknown symbol otherwise raises UnknownSymbolError)."""
        graph = self.graph._extended(perturbations, readouts) if self.graph is not None else self.paper
        v = graph.vocab
        ids = (v.ids("perturbations", perturbations), v.ids("readouts", readouts), v.ids("contexts", contexts))
        return self._blend(*ids, graph if self.graph is not None else None, v.perturbations)

    def _blend(self, p, r, c, graph: LPM | None, symbols) -> tuple[np.ndarray, np.ndarray]:
        p, r, c = (np.asarray(a, dtype=np.int64) for a in (p, r, c))
        stack = self.stack
        n_p, n_r = len(stack.trained_), stack.base_.table_.shape[1]
        known_r = r < n_r
        mean, std = np.zeros(len(p)), np.zeros(len(p))
        if graph is not None and (~known_r).any():  # a readout never measured: the graph LPM alone
            mean[~known_r], std[~known_r] = graph.predict_ids(p[~known_r], r[~known_r], c[~known_r])
        k = known_r
        if not k.any():
            return mean, std
        pk, rk, ck = p[k], r[k], c[k]
        known_p = pk < n_p
        m = stack.base_.predict(pk, rk, ck)
        W = stack.weight_matrix(pk, ck)
        out, spread = m.copy(), np.zeros(len(pk))
        for j, (name, model) in enumerate(stack.models_.items()):
            w = W[:, j]
            if not np.any(w):
                continue
            if name == "graph-lpm":
                pred, sd = graph.predict_ids(pk, rk, ck)
                spread += w * sd
            elif name in ("lpm", "linear"):  # they know only the perturbations they were fitted on
                pred = m.copy()
                if known_p.any():
                    pred[known_p] = model.predict(pk[known_p], rk[known_p], ck[known_p])
                    if name == "lpm":
                        spread[known_p] += w[known_p] * model.last_std
            else:  # the closed-form experts; those with relatives find a new perturbation's among the fitted
                if not known_p.all() and hasattr(model, "extend"):
                    model = model.extend(symbols, graph.priors.priors) if name == "linear-priors" else \
                        model.extend(symbols)
                pred = model.predict(pk, rk, ck)
            out += w * (pred - m)
        mean[k], std[k] = out, spread
        return mean, std

    # ------------------------------------------------------------------ persistence

    def to_payload(self) -> dict:
        stack = self.stack
        return {"format": CHECKPOINT_FORMAT, "kind": KIND, "config": self.config.model_dump(),
                "vocab": self.vocab.to_dict(), "paper": self.paper.to_payload(),
                "graph": self.graph.to_payload() if self.graph is not None else None,
                "experts": [[name, expert_state(model)] for name, model in stack.models_.items() if name not in NEURAL],
                "order": list(stack.models_), "base": expert_state(stack.base_),
                "trained": [bool(x) for x in stack.trained_], "n_contexts": stack.n_contexts_,
                "weights": [[q, -1 if ctx is None else ctx, [float(x) for x in w]]
                            for (q, ctx), w in stack.weights_.items()]}

    def save(self, path: str | Path) -> None:
        save_payload(self.to_payload(), path)

    @classmethod
    def from_payload(cls, payload: dict, device: str | None = None, where: str = "checkpoint") -> "StackedModel":
        if payload.get("kind") != KIND or payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{where}: not a stacked-model checkpoint of format {CHECKPOINT_FORMAT}")
        paper = LPM.from_payload(payload["paper"], device, where)
        graph = LPM.from_payload(payload["graph"], device, where) if payload.get("graph") else None
        model = cls.__new__(cls)
        model.config, model.vocab = LPMConfig(**payload["config"]), Vocabulary.from_dict(payload["vocab"])
        model.paper, model.graph, model.device = paper, graph, paper.device
        knowledge = graph.priors.knowledge if graph is not None else None
        stack = StackedLPM(model.config, knowledge=knowledge)
        stack.base_ = expert_from_state(payload["base"], knowledge)
        stack.trained_ = np.asarray(payload["trained"], bool)
        stack.n_contexts_ = payload["n_contexts"]
        experts = {name: expert_from_state(state, knowledge) for name, state in payload["experts"]}
        stack.models_ = {}
        for name in payload["order"]:
            stack.models_[name] = _view(paper) if name == "lpm" else _view(graph) if name == "graph-lpm" else \
                experts[name]
        stack.weights_ = {(q, None if ctx == -1 else ctx): np.asarray(w) for q, ctx, w in payload["weights"]}
        assert set(q for q, _ in stack.weights_) <= set(QUESTIONS)
        stack.fit_seconds_ = {}
        model.stack = stack
        return model

    def _resume(self, path: Path) -> bool:
        """Load a finished stack of this config and vocabulary from ``path``; False if it is another's."""
        payload = load_checkpoint(path)
        if (payload.get("kind") != KIND or payload.get("config") != self.config.model_dump()
                or payload.get("vocab") != self.vocab.to_dict()):
            return False
        done = StackedModel.from_payload(payload, str(self.device), str(path))
        self.paper, self.graph, self.stack = done.paper, done.graph, done.stack
        return True


def load_model(path: str | Path, device: str | None = None):
    """The model a checkpoint holds: a :class:`StackedModel` or an :class:`LPM`."""
    payload = load_checkpoint(path)
    if payload.get("kind") == KIND:
        return StackedModel.from_payload(payload, device, str(path))
    return LPM.from_payload(payload, device, str(path))


def make_model(config: LPMConfig, vocab: Vocabulary, priors=None):
    """The model a config trains: the stack for ``config.stack``, else one LPM. The stack leaves its
    graph LPM out when the graph gives no gene a prior (no reference relation loaded)."""
    if not config.stack:
        return LPM(config, vocab, priors=priors)
    if priors is not None and not priors.priors.has_prior.any():
        priors = None
    return StackedModel(config, vocab, priors=priors)
