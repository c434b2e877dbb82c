"""The LPM as a torch module: three lookup tables and an MLP on their concatenation.

``factorized`` (the default) computes the first layer once per table row for the tables no
larger than the batch (:mod:`lpm_kg.model.fast`): the same function and parameters, fewer FLOPs. ``factorized=False``
is the paper's loop, kept as the reference that benchmarks/bench_train.py measures against."""

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
                 factorized: bool = True):
        super().__init__()
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

    def embed_perturbations(self, p: torch.Tensor) -> torch.Tensor:
        return self.perturbation(self.atom_matrix[p])

    def forward(self, p: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if self.factorized:
            h = first_layer_by_symbol(self.mlp[0], [(c, self.context, self.context.num_embeddings),
                                                    (p, self.embed_perturbations, len(self.atom_matrix)),
                                                    (r, self.readout, self.readout.num_embeddings)])
            return run_head(self.mlp, h)
        z = torch.cat([self.context(c), self.embed_perturbations(p), self.readout(r)], dim=1)
        return self.mlp(z).squeeze(1)
