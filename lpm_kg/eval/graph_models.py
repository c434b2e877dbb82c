"""Models of the unseen-perturbation benchmark that read the graph's reference knowledge
(``knowledge``: a :class:`lpm_kg.priors.Knowledge`): two baselines and the graph-informed LPM.

- ``graph-neighbour-transfer``: the mean observed deviation profile, in the same context, of the
  perturbations whose targets are the held-out perturbation's graph neighbours (STRING partners,
  regulators and targets, complex mates) or its own targets;
- ``linear-priors``: the linear model of Ahlmann-Eltze et al. (2025) with the graph priors as the
  perturbation features: per context, a ridge map from the mean prior of a perturbation's targets
  to its deviation profile;
- ``graph-lpm``: :class:`lpm_kg.model.LPM` with a ``graph-*`` preset.

All predict the per-(context, readout) training mean where the graph says nothing.
"""

from __future__ import annotations

import copy

import numpy as np

from lpm_kg.eval.baselines import Baseline, ContextReadoutMean, _ids
from lpm_kg.eval.lpm_model import LPMModel
from lpm_kg.model.config import preset
from lpm_kg.priors import PriorSpec, fit_gene_priors
from lpm_kg.priors.inputs import PriorSource
from lpm_kg.symbols import parse_perturbation


def perturbation_genes(knowledge, symbol: str) -> list[int]:
    """Gene indices a perturbation targets: its gene, a compound's HAS_TARGET genes, a combination's
    parts' genes; none for Control or an unannotated compound."""
    out: list[int] = []
    for part in symbol.split("+"):
        try:
            p = parse_perturbation(part, lambda g: g)
        except ValueError:
            continue
        names = [p.gene] if p.kind == "genetic" else knowledge.compound_targets.get(p.compound, []) \
            if p.kind == "chemical" else []
        out += [knowledge.gene_index[g] for g in names if g in knowledge.gene_index]
    return sorted(set(out))


class _GraphBaseline(Baseline):
    needs_knowledge = True

    def __init__(self, knowledge=None):
        if knowledge is None:
            raise ValueError(f"{self.name} needs the graph's reference knowledge (knowledge=...)")
        self.knowledge = knowledge

    def _fit_deviations(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab):
        if vocab is None:
            raise ValueError(f"{self.name} needs the vocabulary (perturbation symbols) to find targets")
        p, r, c = _ids(p, r, c)
        self.n_r, self.n_c = n_readouts, n_contexts
        self.base_ = ContextReadoutMean().fit(p, r, c, y, n_perturbations, n_readouts, n_contexts)
        self.dev_ = np.asarray(y, np.float64) - self.base_.predict(p, r, c)
        self.symbols_ = list(vocab.perturbations if hasattr(vocab, "perturbations") else vocab)
        self.genes_ = [perturbation_genes(self.knowledge, s) for s in self.symbols_]
        self.train_ = (p, r, c)

    def _profiles(self, c: int, perts: np.ndarray) -> np.ndarray:
        """[len(perts), n_readouts] mean training deviation of these perturbations in context c (0 where unseen)."""
        p, r, cc = self.train_
        index = {int(x): i for i, x in enumerate(perts)}
        rows = np.flatnonzero((cc == c) & np.isin(p, perts))
        sums = np.zeros((len(perts), self.n_r))
        counts = np.zeros((len(perts), self.n_r))
        ip = np.array([index[int(x)] for x in p[rows]], dtype=np.int64)
        np.add.at(sums, (ip, r[rows]), self.dev_[rows])
        np.add.at(counts, (ip, r[rows]), 1)
        return sums / np.maximum(counts, 1)

    def predict(self, p, r, c):
        p, r, c = _ids(p, r, c)
        out = self.base_.predict(p, r, c)
        pairs, inverse = np.unique(p * self.n_c + c, return_inverse=True)
        inverse = inverse.ravel()
        for ctx in np.unique(pairs % self.n_c):
            sel = np.flatnonzero(pairs % self.n_c == ctx)
            profiles = self._predict_profiles(int(ctx), pairs[sel] // self.n_c)
            for j, k in enumerate(sel):
                rows = np.flatnonzero(inverse == k)
                out[rows] += profiles[j, r[rows]]
        return out


class GraphNeighbourTransfer(_GraphBaseline):
    name = "graph-neighbour-transfer"
    description = "mean observed profile of the held-out perturbation's graph neighbours perturbed in the same context"

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        self._fit_deviations(p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab)
        self.neighbours_ = self.knowledge.neighbours()
        return self

    def _predict_profiles(self, ctx: int, perts: np.ndarray) -> np.ndarray:
        p, _r, c = self.train_
        trained = np.unique(p[c == ctx])
        by_gene: dict[int, list[int]] = {}
        for q in trained:
            for g in self.genes_[q]:
                by_gene.setdefault(g, []).append(int(q))
        out = np.zeros((len(perts), self.n_r))
        wanted = {}
        for i, q in enumerate(perts):
            near = set(self.genes_[q])
            for g in self.genes_[q]:
                near |= self.neighbours_[g]
            wanted[i] = sorted({x for g in near for x in by_gene.get(g, []) if x != q})
        every = np.unique([x for v in wanted.values() for x in v]).astype(np.int64)
        if len(every):
            profiles = self._profiles(ctx, every)
            pos = {int(x): k for k, x in enumerate(every)}
            for i, v in wanted.items():
                if v:
                    out[i] = profiles[[pos[x] for x in v]].mean(0)
        return out


class LinearPriors(_GraphBaseline):
    name = "linear-priors"
    description = "Ahlmann-Eltze et al. 2025 linear model with the graph priors as perturbation features"

    def __init__(self, knowledge=None, ridge: float = 1.0, spec=None, priors=None):
        super().__init__(knowledge)
        self.ridge, self.spec = ridge, spec
        self.priors = priors  # the fitted gene priors, when the caller has them (they depend on the knowledge alone)

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        self._fit_deviations(p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab)
        priors = self.priors if self.priors is not None else fit_gene_priors(self.knowledge, self.spec)
        vec = priors.vectors * priors.has_prior[:, None]
        self.features_ = np.stack([vec[g].mean(0) if g else np.zeros(vec.shape[1]) for g in self.genes_])
        pp, _r, cc = self.train_
        self.maps_ = {}
        for ctx in np.unique(cc):
            perts = np.unique(pp[cc == ctx])
            F = self.features_[perts]
            D = self._profiles(int(ctx), perts)
            self.maps_[int(ctx)] = np.linalg.solve(F.T @ F + self.ridge * np.eye(F.shape[1]), F.T @ D)
        return self

    def _predict_profiles(self, ctx: int, perts: np.ndarray) -> np.ndarray:
        if ctx not in self.maps_:
            return np.zeros((len(perts), self.n_r))
        return self.features_[perts] @ self.maps_[ctx]

    def extend(self, symbols, priors) -> "LinearPriors":
        """A copy that also answers for the perturbation symbols appended after the fitted ones
        (``symbols``: the whole extended list; ``priors``: the gene priors it was fitted with)."""
        out = copy.copy(self)
        new = list(symbols)[len(self.features_):]
        genes = [perturbation_genes(self.knowledge, s) for s in new]
        vec = priors.vectors * priors.has_prior[:, None]
        extra = np.stack([vec[g].mean(0) if g else np.zeros(vec.shape[1]) for g in genes]) if new else \
            np.zeros((0, self.features_.shape[1]))
        out.features_ = np.concatenate([self.features_, extra])
        out.genes_ = list(self.genes_) + genes
        return out


class GraphLPMModel(LPMModel):
    """The graph-informed LPM: ``config`` a preset name or LPMConfig (priors added when it has
    none; default "graph-small"), ``knowledge`` the graph's reference knowledge."""

    name = "graph-lpm"
    description = "the graph-informed LPM (graph-* presets): embeddings from learned parts and graph priors"
    needs_knowledge = True

    def __init__(self, config=None, knowledge=None, show_progress: bool = False, device: str | None = None):
        super().__init__(config, show_progress, device)
        if knowledge is None:
            raise ValueError("graph-lpm needs the graph's reference knowledge (knowledge=...)")
        self.knowledge = knowledge

    def _config(self):
        cfg = preset("graph-small") if self.config is None else super()._config()
        return cfg if cfg.priors is not None else cfg.model_copy(update={"priors": PriorSpec()})

    def _prior_source(self, config):
        return PriorSource(self.knowledge, fit_gene_priors(self.knowledge, config.priors))
