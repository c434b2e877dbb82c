"""The model an acquisition loop trains round after round: an LPM seed ensemble on one set's
tuples, warm-started from the previous round's weights, whose seeds' spread is the uncertainty
the strategies rank by (:mod:`lpm_kg.design.strategies`)."""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from lpm_kg.design.strategies import Candidates, relatedness
from lpm_kg.eval.lpm_model import _mean_for_untrained
from lpm_kg.model import LPM, LPMConfig, Vocabulary


class EnsembleLearner:
    """``cold_epochs`` from scratch in the first round; later rounds continue every seed's weights
    for ``warm_epochs`` (``warm_start`` False retrains from scratch each round)."""

    def __init__(self, config: LPMConfig, vocab: Vocabulary, *, cold_epochs: int = 15, warm_epochs: int = 4,
                 warm_start: bool = True):
        # No validation in the loop: each round trains a fixed number of epochs.
        self.config = config.model_copy(update={"patience": None})
        self.vocab, self.cold_epochs, self.warm_epochs, self.warm_start = vocab, cold_epochs, warm_epochs, warm_start
        self.model: LPM | None = None
        self.trained = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self.seconds = 0.0

    def fit(self, p, r, c, y) -> "EnsembleLearner":
        started = time.perf_counter()
        warm = self.warm_start and self.model is not None
        cfg = self.config.model_copy(update={"max_epochs": self.warm_epochs if warm else self.cold_epochs})
        if not warm:
            self.model = LPM(cfg, self.vocab)
        else:
            self.model.config, self.model.states = cfg, {}  # the same modules, a fresh schedule
        self.model.fit((p, r, c, np.asarray(y, np.float32)), None, show_progress=False)
        self.trained = (np.asarray(p), np.asarray(r))
        self.seconds = time.perf_counter() - started
        return self

    @torch.no_grad()
    def seed_predictions(self, p, r, c, chunk: int = 1 << 16) -> np.ndarray:
        """(n_seeds, n) predictions, one row per seed. A perturbation never trained takes, in each
        seed, the embedding of a trained perturbation drawn at random (another in each seed): the
        seeds then disagree on it as much as the known perturbations differ, which is what the model
        knows of it. Its own initial vector would say nothing (small, so the seeds agree on it: the
        artefact would steer acquisition away from everything new)."""
        v = self.model.vocab
        atoms = np.unique(v.atom_matrix()[np.unique(self.trained[0])])
        untrained = np.setdiff1d(np.arange(len(v.atoms)), atoms)
        if not len(untrained) or not len(atoms):
            return self.model.seed_predictions_ids(p, r, c, chunk)
        saved = {s: m.perturbation.weight.detach().clone() for s, m in self.model.modules.items()}
        try:
            for s, m in self.model.modules.items():
                rng = np.random.default_rng(s)
                draw = torch.as_tensor(rng.choice(atoms, len(untrained)), device=m.perturbation.weight.device)
                m.perturbation.weight[torch.as_tensor(untrained, device=draw.device)] = m.perturbation.weight[draw]
            return self.model.seed_predictions_ids(p, r, c, chunk)
        finally:
            for s, m in self.model.modules.items():
                m.perturbation.weight.copy_(saved[s])

    @torch.no_grad()
    def predict(self, p, r, c) -> np.ndarray:
        """The ensemble's prediction, a never-trained perturbation predicted as the mean of the
        trained ones (as the benchmark's LPM does), leaving the seeds' weights as they were."""
        saved = {s: copy.deepcopy(m.state_dict()) for s, m in self.model.modules.items()}
        try:
            _mean_for_untrained(self.model, *self.trained)
            return self.model.predict_ids(p, r, c)[0]
        finally:
            for s, m in self.model.modules.items():
                m.load_state_dict(saved[s])


def disagreement(seed_preds: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """(n_seeds, n_candidates, n_readouts) predictions of one context -> per candidate and readout,
    the seeds' std of its *effect*: each seed's prediction minus that seed's mean over the
    candidates (and the ``reference`` rows, (n_seeds, m, n_readouts), when given: a short list
    still has a baseline). What every candidate shares (the context's baseline, on which seeds
    also disagree) says nothing about which to measure, and would drown what is specific."""
    rows = seed_preds if reference is None else np.concatenate([seed_preds, reference], axis=1)
    return (seed_preds - rows.mean(axis=1, keepdims=True)).std(axis=0)


def candidates(learner: EnsembleLearner, pair_p: np.ndarray, pair_c: np.ndarray,
               context_readouts: dict[int, np.ndarray], *,
               eligible: np.ndarray | None = None, measured: np.ndarray | None = None, k: int = 10,
               cross_context: float = 0.5) -> Candidates:
    """Candidates for the pairs (``pair_p[i]``, ``pair_c[i]``), each predicted over its context's
    readouts. ``measured``: per pair, in how many contexts its perturbation is measured."""
    uncertainty = np.zeros(len(pair_p))
    profiles = {}
    for c in np.unique(pair_c):
        idx = np.flatnonzero(pair_c == c)
        reads = context_readouts[int(c)]
        pp = np.repeat(pair_p[idx], len(reads))
        rr = np.tile(reads, len(idx))
        preds = learner.seed_predictions(pp, rr, np.full(len(pp), c)).reshape(-1, len(idx), len(reads))
        uncertainty[idx] = disagreement(preds).mean(axis=1)
        profiles[int(c)] = (idx, preds.mean(axis=0))
    related = relatedness(pair_p, pair_c, profiles, k=k, cross_context=cross_context)
    return Candidates(np.asarray(pair_p), np.asarray(pair_c), uncertainty, related, eligible, measured)
