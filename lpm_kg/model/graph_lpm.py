"""The graph-informed LPM: the LPM whose perturbations and readouts embed as a learned part plus a
map of their genes' graph priors (lpm_kg.model.graph_module), so it answers for symbols it never
trained on. ``LPM(config, vocab, priors=source)`` with ``config.priors`` set builds one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lpm_kg.errors import ConfigError
from lpm_kg.model.config import LPMConfig
from lpm_kg.model.graph_module import GraphLPMModule
from lpm_kg.model.lpm import LPM
from lpm_kg.model.vocab import UnknownSymbolError, Vocabulary
from lpm_kg.priors import GenePriors, Knowledge
from lpm_kg.priors.inputs import PriorSource, build_inputs


class GraphLPM(LPM):
    """``priors``: a :class:`lpm_kg.priors.inputs.PriorSource` (the graph's knowledge and the gene
    priors fitted from it), required."""

    is_graph = True

    def __init__(self, config: LPMConfig, vocab: Vocabulary, device: str | None = None, priors=None):
        if config.priors is None or priors is None:
            raise ConfigError("a graph-informed LPM (config.priors set) needs the graph's priors "
                              "(lpm_kg.priors.PriorSource); train it with `lpm-kg sync` or train_from_graph")
        super().__init__(config, vocab, device)
        self.priors = priors
        self.moas: list[str] | None = None  # the MOA vocabulary, fixed at first build
        self._trained_masks: tuple[torch.Tensor, torch.Tensor] | None = None
        self._inputs = None

    @classmethod
    def restored_from(cls, payload: dict, config: LPMConfig, device: str | None) -> "GraphLPM":
        """The model a checkpoint's ``graph`` entry describes (knowledge, priors, MOA vocabulary as
        they were when it trained), before its seeds are restored."""
        g = payload["graph"]
        source = PriorSource(Knowledge.from_state(g["knowledge"]), GenePriors.from_state(g["priors"]))
        model = cls(config, Vocabulary.from_dict(payload["vocab"]), device, priors=source)
        model.moas = list(g["moas"])
        return model

    def _model_inputs(self):
        if self._inputs is None:
            self._inputs = build_inputs(self.priors, self.vocab.atoms, self.vocab.readouts, self.moas,
                                        edges=self.config.priors.encoder == "gcn")
            self.moas = self._inputs.moas
        return self._inputs

    def _new_module(self, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)  # the initial weights are a function of the seed alone
        c = self.config
        module = GraphLPMModule(len(self.vocab.contexts), len(self.vocab.atoms), len(self.vocab.readouts),
                                torch.as_tensor(self.vocab.atom_matrix()), self._model_inputs(),
                                embedding_dim=c.embedding_dim, hidden=c.hidden, dropout=c.dropout,
                                embedding_init_std=c.embedding_init_std, free_dropout=c.free_dropout,
                                interaction_rank=c.interaction_rank, encoder=c.priors.encoder).to(self.device)
        if self._trained_masks is not None:
            module.atom_trained.copy_(self._trained_masks[0])
            module.readout_trained.copy_(self._trained_masks[1])
        return module

    def _before_fit(self, train: tuple, rows: tuple | None) -> None:
        """The atoms and readouts of the training tuples: only they get a learned (free) part."""
        p, r = (train[0], train[1]) if rows is None else (train[0][rows[0]], train[1][rows[0]])
        atoms = np.unique(self.vocab.atom_matrix()[np.unique(np.asarray(p))])
        a = torch.zeros(len(self.vocab.atoms), dtype=torch.bool)
        a[atoms[atoms < len(self.vocab.atoms)]] = True
        rd = torch.zeros(len(self.vocab.readouts), dtype=torch.bool)
        rd[np.unique(np.asarray(r))] = True
        self._trained_masks = (a.to(self.device), rd.to(self.device))

    def _trained_atoms(self) -> set[str]:
        module = next(iter(self.modules.values()), None)
        return set() if module is None else {a for a, t in zip(self.vocab.atoms, module.atom_trained.tolist()) if t}

    def _extended(self, perturbations: Sequence[str], readouts: Sequence[str]) -> "GraphLPM":
        """This model with the unknown perturbations' atoms and readouts added, embedded from their
        priors (their free parts zero and marked untrained); itself when nothing is new."""
        v = self.vocab
        known_atoms, known_readouts = set(v.atoms), set(v.readouts)
        new_atoms: list[str] = []
        for p in dict.fromkeys(perturbations):
            for a in p.split("+"):
                if a in known_atoms or a in new_atoms:
                    continue
                described = self.priors.atom(a)
                if not described.has_prior:
                    raise UnknownSymbolError(f"the model has never seen the perturbation {a!r} and the graph "
                                             f"gives it no prior: {described.reason}")
                new_atoms.append(a)
        new_readouts = [r for r in dict.fromkeys(readouts) if r not in known_readouts]
        for r in new_readouts:
            if self.priors.readout_gene(r) is None:
                raise UnknownSymbolError(f"the model has never seen the readout {r!r} and the graph gives it no "
                                         f"prior: {self.priors.readout_reason(r)}")
        known_perts = set(v.perturbations)
        new_perts = [p for p in dict.fromkeys(perturbations) if p not in known_perts]
        if not (new_atoms or new_readouts or new_perts):
            return self
        ext = GraphLPM(self.config, Vocabulary(v.perturbations + new_perts, v.readouts + new_readouts, v.contexts,
                                               v.atoms + new_atoms), device=str(self.device), priors=self.priors)
        ext.moas, ext.states = self.moas, self.states
        for seed, module in self.modules.items():
            state = module.state_dict()
            for key, extra in (("atom_free.weight", len(new_atoms)), ("atom_trained", len(new_atoms)),
                               ("readout_free.weight", len(new_readouts)), ("readout_trained", len(new_readouts))):
                t = state[key]
                state[key] = torch.cat([t, t.new_zeros((extra, *t.shape[1:]))])
            new = ext._new_module(seed)
            new.load_state_dict(state)
            ext.modules[seed] = new
        return ext

    @torch.no_grad()
    def embeddings(self, kind: str, seed: int | None = None) -> np.ndarray:
        if kind == "readouts":  # a readout embeds from its gene's prior, not from a table
            module = self.modules[seed if seed is not None else self.config.seeds[0]]
            module.eval()
            return module.readout_embeddings().cpu().numpy()
        return super().embeddings(kind, seed)

    def _payload_extra(self) -> dict:
        # What the graph said when this model trained, so it predicts the same later.
        return {"graph": {"knowledge": self.priors.knowledge.to_state(), "priors": self.priors.priors.to_state(),
                          "moas": list(self._model_inputs().moas)}}
