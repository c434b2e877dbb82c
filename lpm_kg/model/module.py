"""The LPM as a torch module: three lookup tables and an MLP on their concatenation."""

from __future__ import annotations

import torch
from torch import nn


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
                 embedding_dim: int, hidden: list[int], dropout: float, embedding_init_std: float = 1.0):
        super().__init__()
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
        z = torch.cat([self.context(c), self.embed_perturbations(p), self.readout(r)], dim=1)
        return self.mlp(z).squeeze(1)
