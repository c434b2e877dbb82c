"""The paper's LPM behind the baselines' interface, for the benchmark (its registry is
lpm_kg.eval.models; the graph LPM and the stack build on this class)."""

from __future__ import annotations

import numpy as np

from lpm_kg.eval.baselines import Baseline
from lpm_kg.model import LPM, Vocabulary
from lpm_kg.model.config import LPMConfig, preset


class LPMModel(Baseline):
    """The LPM (:class:`lpm_kg.model.LPM`) behind the baselines' interface: trained on the
    training tuples, early-stopped on ``val``; ``predict`` is the seed mean (the seed standard
    deviation of the last call is kept in ``last_std``).

    ``config``: an :class:`lpm_kg.model.LPMConfig`, a preset name, or None for the "small" preset.
    ``vocab`` at fit: a :class:`lpm_kg.model.Vocabulary` (or anything with perturbations, readouts
    and contexts lists, such as a TupleSet), so combinations ``A+B`` embed as the mean of their
    parts; without one, placeholder symbols are used and no perturbation is a combination.
    """

    name = "lpm"
    description = "the Large Perturbation Model (lpm_kg.model.LPM), early-stopped on validation"

    def __init__(self, config=None, show_progress: bool = False, device: str | None = None):
        self.config, self.show_progress, self.device = config, show_progress, device

    def __repr__(self) -> str:
        return f"LPMModel({self._config()!r})"

    def _config(self):
        if self.config is None:
            return preset("small")
        if isinstance(self.config, str):
            return preset(self.config)
        if isinstance(self.config, dict):
            return LPMConfig(**self.config)
        return self.config

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        if vocab is None:
            vocab = Vocabulary([f"P{i}" for i in range(n_perturbations)], [f"R{i}" for i in range(n_readouts)],
                               [f"C{i}" for i in range(n_contexts)])
        elif not isinstance(vocab, Vocabulary):
            vocab = Vocabulary(list(vocab.perturbations), list(vocab.readouts), list(vocab.contexts))
        if (len(vocab.perturbations), len(vocab.readouts), len(vocab.contexts)) != (
                n_perturbations, n_readouts, n_contexts):
            raise ValueError("the vocabulary's sizes differ from n_perturbations, n_readouts, n_contexts")
        as32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
        train = (np.asarray(p), np.asarray(r), np.asarray(c), as32(y))
        val_t = None
        if val is not None and len(val[3]):
            val_t = (np.asarray(val[0]), np.asarray(val[1]), np.asarray(val[2]), as32(val[3]))
        config = self._config()
        self.model_ = LPM(config, vocab, device=self.device, priors=self._prior_source(config)).fit(
            train, val_t, show_progress=self.show_progress)
        if not self.model_.is_graph:
            _mean_for_untrained(self.model_, train[0], train[1])
        return self

    def _prior_source(self, config):
        return None

    def predict(self, p, r, c):
        mean, std = self.model_.predict_ids(p, r, c)
        self.last_std = np.asarray(std, dtype=np.float64)
        return np.asarray(mean, dtype=np.float64)


def _mean_for_untrained(model, p, r) -> None:
    """The paper's LPM has nothing to say about a perturbation or readout it never trained on: give
    it the mean of the trained embeddings (so it predicts like an average known one), not its
    random initial vector."""
    import torch

    v = model.vocab
    atoms = np.unique(v.atom_matrix()[np.unique(p)])
    trained_atoms = np.zeros(len(v.atoms) + 1, bool)
    trained_atoms[atoms] = True
    trained_atoms[len(v.atoms)] = True  # the padding row stays as it is
    trained_readouts = np.zeros(len(v.readouts), bool)
    trained_readouts[np.unique(r)] = True
    with torch.no_grad():
        for module in model.modules.values():
            for table, trained in ((module.perturbation.weight, trained_atoms), (module.readout.weight, trained_readouts)):
                mask = torch.as_tensor(trained, device=table.device)
                rows = mask.clone()  # the rows the mean is over
                if table is module.perturbation.weight:
                    rows[len(v.atoms)] = False  # the padding row is zero: not in the mean
                if (~mask).any() and rows.any():
                    table[~mask] = table[rows].mean(0)
