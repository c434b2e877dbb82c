"""The LPM as a torch module: three lookup tables and an MLP on their concatenation.

``factorized`` (the default) computes the first layer once per table row for the tables no
larger than the batch (:mod:`lpm_kg.model.fast`): the same function and parameters, fewer FLOPs. ``factorized=False``
is the paper's loop, kept as the reference that benchmarks/bench_train.py measures against.

``shared_rank`` > 0 adds a low-rank (perturbation embedding) x (readout embedding) term that no
context enters: what a perturbation does to a readout everywhere. The paper's MLP sees the context
in every tuple, so where no perturbation was measured in two contexts nothing ties its effect in one
to its effect in another (benchmarks/bench_discovery.py --part masked measures the transfer).
``shared_dropout`` hides the perturbation from the MLP for that share of training tuples, so the
shared term learns to carry a perturbation's effect alone (as the graph LPM drops its free
embeddings). ``shared_rank`` = 0 is the paper's model."""

from __future__ import annotations

import torch
from torch import nn

from lpm_kg.model.fast import first_layer_by_symbol, run_head


def make_mlp(width: int, hidden: list[int], dropout: float) -> nn.Sequential:
    """The paper's head: (Linear, ReLU, Dropout) per hidden layer, then Linear to one scalar;
    Xavier-uniform weights with the ReLU gain, zero biases."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, 1))
    mlp = nn.Sequential(*layers)
    gain = nn.init.calculate_gain("relu")
    for m in mlp:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight, gain=gain)
            nn.init.zeros_(m.bias)
    return mlp


class LPMModule(nn.Module):
    def __init__(self, n_contexts: int, n_atoms: int, n_readouts: int, atom_matrix: torch.Tensor, *,
                 embedding_dim: int, hidden: list[int], dropout: float, embedding_init_std: float = 1.0,
                 factorized: bool = True, shared_rank: int = 0, shared_dropout: float = 0.0):
        super().__init__()
        self.shared_dropout = shared_dropout if shared_rank > 0 else 0.0
        self.factorized = factorized
        self.context = nn.Embedding(n_contexts, embedding_dim)
        # Mean over a perturbation's atoms; the padding row (index n_atoms) is left out of the mean.
        self.perturbation = nn.EmbeddingBag(n_atoms + 1, embedding_dim, mode="mean", padding_idx=n_atoms)
        self.readout = nn.Embedding(n_readouts, embedding_dim)
        for table in (self.context, self.perturbation, self.readout):
            nn.init.normal_(table.weight, std=embedding_init_std)
        with torch.no_grad():
            self.perturbation.weight[n_atoms].zero_()
        self.register_buffer("atom_matrix", atom_matrix.long(), persistent=True)
        self.mlp = make_mlp(3 * embedding_dim, hidden, dropout)
        self.shared_p = self.shared_r = None
        if shared_rank > 0:
            # Small at the start, as the graph LPM's bilinear term: the model begins as the paper's.
            self.shared_p = nn.Linear(embedding_dim, shared_rank, bias=False)
            self.shared_r = nn.Linear(embedding_dim, shared_rank, bias=False)
            nn.init.normal_(self.shared_p.weight, std=0.01)
            nn.init.normal_(self.shared_r.weight, std=0.01)

    def embed_perturbations(self, p: torch.Tensor) -> torch.Tensor:
        return self.perturbation(self.atom_matrix[p])

    def shared(self, p: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """The context-free term per tuple (zero without ``shared_rank``)."""
        if self.shared_p is None:
            return 0.0
        return (self.shared_p(self.embed_perturbations(p)) * self.shared_r(self.readout(r))).sum(1)

    def shared_effects(self, p: torch.Tensor) -> torch.Tensor:
        """[len(p), readouts]: the context-free term of perturbations ``p`` on every readout."""
        return self.shared_p(self.embed_perturbations(p)) @ self.shared_r(self.readout.weight).T

    def forward(self, p: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        seen = None
        if self.training and self.shared_dropout > 0:
            seen = (torch.rand(len(p), device=p.device) >= self.shared_dropout).float()
        if self.factorized:
            h = first_layer_by_symbol(self.mlp[0], [(c, self.context, self.context.num_embeddings),
                                                    (p, self.embed_perturbations, len(self.atom_matrix)),
                                                    (r, self.readout, self.readout.num_embeddings)],
                                      keep=None if seen is None else [None, seen, None])
            return run_head(self.mlp, h) + self.shared(p, r)
        zp = self.embed_perturbations(p)
        z = torch.cat([self.context(c), zp if seen is None else zp * seen[:, None], self.readout(r)], dim=1)
        return self.mlp(z).squeeze(1) + self.shared(p, r)
