"""The graph-informed LPM as a torch module (``graph-*`` presets; lpm_kg.priors builds its inputs).

Beside the paper's three tables and MLP (:class:`lpm_kg.model.module.LPMModule`, unchanged):

- a perturbation atom embeds as ``free[atom] + W[method] @ mean(prior of its target genes) +
  moa_bag(its MOAs)``: the free part is learned only for atoms seen in training (and dropped
  whole with probability ``free_dropout`` while training, so that the prior map learns to stand
  alone); a CRISPRi knockdown and a knockout of one gene have different maps ``W``;
- a readout embeds as ``free[readout] + R @ prior(its gene)``;
- a pair term adds what the graph says about the (target gene, readout gene) pair: the same gene,
  TF -> target either way, a STRING interaction, a shared complex, each with a weight per method
  and per context (a knockdown lowers its own gene's readout; a TF's knockdown moves its targets);
- a low-rank bilinear term (perturbation embedding) x (readout embedding).

With ``encoder="gcn"`` the gene priors are first refined by a two-layer GCN along the gene-gene
relations, trained with the rest (``genes + GCN(genes)``, its last layer zero at the start, so it
begins as the fitted priors and learns only what the training perturbations support).

An atom or readout never seen in training therefore still gets an embedding from the graph, and
``LPM`` extends the module's vocabulary to predict it (``extend``).
"""

from __future__ import annotations

import torch
from torch import nn

from lpm_kg.model.module import make_mlp
from lpm_kg.priors.inputs import METHODS, PAIR_FEATURES, ModelInputs


class GraphLPMModule(nn.Module):
    # A step can leave parameters without a gradient (an MOA bag with no MOA in the batch): DDP must
    # look for them (lpm_kg.model.distributed.wrap reads this).
    ddp_find_unused_parameters = True

    def __init__(self, n_contexts: int, n_atoms: int, n_readouts: int, atom_matrix: torch.Tensor,
                 inputs: ModelInputs, *, embedding_dim: int, hidden: list[int], dropout: float,
                 embedding_init_std: float = 0.1, free_dropout: float = 0.5, interaction_rank: int = 32,
                 encoder: str = "fitted"):
        super().__init__()
        d, d0 = embedding_dim, inputs.gene_vectors.shape[1]
        self.n_atoms, self.free_dropout = n_atoms, free_dropout
        self.context = nn.Embedding(n_contexts, d)
        self.atom_free = nn.Embedding(n_atoms, d)
        self.readout_free = nn.Embedding(n_readouts, d)
        for table in (self.context, self.atom_free, self.readout_free):
            nn.init.normal_(table.weight, std=embedding_init_std)
        # Maps from the prior space: one per method, one for readouts.
        self.method_map = nn.Parameter(torch.randn(len(METHODS), d0, d) / d0 ** 0.5)
        self.readout_map = nn.Parameter(torch.randn(d0, d) / d0 ** 0.5)
        self.moa = nn.EmbeddingBag(len(inputs.moas) + 1, d, mode="mean", padding_idx=len(inputs.moas))
        nn.init.normal_(self.moa.weight, std=embedding_init_std)
        with torch.no_grad():
            self.moa.weight[len(inputs.moas)].zero_()
        k = len(PAIR_FEATURES)
        self.pair_method = nn.Parameter(torch.zeros(len(METHODS), k))
        self.pair_context = nn.Parameter(torch.zeros(n_contexts, k))
        self.bilinear_p = nn.Linear(d, interaction_rank, bias=False)
        self.bilinear_r = nn.Linear(d, interaction_rank, bias=False)
        nn.init.normal_(self.bilinear_p.weight, std=0.01)
        nn.init.normal_(self.bilinear_r.weight, std=0.01)
        self.mlp = make_mlp(3 * d, hidden, dropout)
        self.gene_gcn = None
        if encoder == "gcn":
            from torch_geometric.nn import GCNConv

            # normalize=False: the normalised edge weights are computed once, in set_inputs.
            self.gene_gcn = nn.ModuleList([GCNConv(d0, d0, normalize=False), GCNConv(d0, d0, normalize=False)])
            last = self.gene_gcn[1]
            nn.init.zeros_(last.lin.weight)
            nn.init.zeros_(last.bias)
        elif encoder != "fitted":
            raise ValueError(f"unknown prior encoder {encoder!r}: fitted or gcn")
        # Which free rows were learned: persistent, so a saved model knows what it saw.
        self.register_buffer("atom_trained", torch.zeros(n_atoms, dtype=torch.bool))
        self.register_buffer("readout_trained", torch.zeros(n_readouts, dtype=torch.bool))
        # Everything derived from the vocabulary and the graph is rebuilt, never stored.
        self.set_inputs(atom_matrix, inputs)

    def set_inputs(self, atom_matrix: torch.Tensor, inputs: ModelInputs) -> None:
        device = self.context.weight.device
        vectors = torch.as_tensor(inputs.gene_vectors, device=device)
        targets = torch.as_tensor(inputs.atom_targets, device=device)
        valid = targets < inputs.n_genes
        mean_prior = vectors[targets].sum(1) / valid.sum(1, keepdim=True).clamp(min=1)
        buffers = {"atom_matrix": atom_matrix.long().to(device), "gene_vectors": vectors,
                   "atom_prior": mean_prior, "atom_targets": targets,
                   "atom_method": torch.as_tensor(inputs.atom_method, device=device),
                   "atom_moas": torch.as_tensor(inputs.atom_moas, device=device),
                   "readout_gene": torch.as_tensor(inputs.readout_gene, device=device)}
        for name, key in zip(PAIR_FEATURES[1:], ("regulates", "regulated_by", "interacts", "same_complex")):
            buffers[f"keys_{name}"] = torch.as_tensor(inputs.pair_keys[key], dtype=torch.long, device=device)
        if self.gene_gcn is not None:
            from torch_geometric.nn.conv.gcn_conv import gcn_norm

            # Only genes with a prior take part (a gene without relations has no edge and stays
            # zero), and the normalised adjacency is one sparse CSR matrix: message passing by
            # edge lists cost ~6x more per step on the CPU for the ~18,000 genes of the real graph.
            nodes = (vectors.abs().sum(1) > 0).nonzero().view(-1)
            local = torch.full((len(vectors),), -1, dtype=torch.long, device=device)
            local[nodes] = torch.arange(len(nodes), device=device)
            edges = local[torch.as_tensor(inputs.gene_edges, dtype=torch.long, device=device).view(2, -1)]
            edges = edges[:, (edges >= 0).all(0)]
            edges, weight = gcn_norm(edges, None, num_nodes=len(nodes), add_self_loops=True)
            buffers["gcn_nodes"], buffers["gcn_edges"], buffers["gcn_weight"] = nodes, edges.flip(0), weight
            buffers["atom_target_count"] = valid.sum(1, keepdim=True).clamp(min=1)
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)
        self.n_genes = inputs.n_genes

    def _gcn_adjacency(self) -> torch.Tensor:
        """The normalised adjacency (transposed, as torch-geometric takes it) as sparse CSR, built
        from the dense edge buffers on their device. Not a buffer itself: DDP broadcasts buffers,
        and it cannot broadcast a sparse one."""
        from torch_geometric.utils import to_torch_csr_tensor

        cached = getattr(self, "_adj_cache", None)
        if cached is None or cached[0] is not self.gcn_edges:
            n = len(self.gcn_nodes)
            cached = (self.gcn_edges, to_torch_csr_tensor(self.gcn_edges, self.gcn_weight, size=(n, n)))
            self._adj_cache = cached
        return cached[1]

    def gene_table(self) -> torch.Tensor:
        """[n_genes + 1, d0] the gene priors the maps read: fitted, or refined by the GCN."""
        x = self.gene_vectors
        if self.gene_gcn is None:
            return x
        adj = self._gcn_adjacency()
        h = torch.relu(self.gene_gcn[0](x[self.gcn_nodes], adj))
        h = self.gene_gcn[1](h, adj)
        return x.index_add(0, self.gcn_nodes, h)  # a gene without a prior (and the pad row) stays zero

    # ------------------------------------------------------------------ embeddings

    def atom_embeddings(self, genes: torch.Tensor | None = None) -> torch.Tensor:
        """[n_atoms + 1, d]: every atom's embedding, the padding row zero (``genes``: gene_table())."""
        free = self.atom_free.weight * self.atom_trained[:, None]
        if self.training and self.free_dropout > 0:
            keep = torch.rand(self.n_atoms, 1, device=free.device) >= self.free_dropout
            free = free * keep
        d0, d = self.readout_map.shape
        prior = self.atom_prior
        if self.gene_gcn is not None:
            genes = self.gene_table() if genes is None else genes
            prior = genes[self.atom_targets].sum(1) / self.atom_target_count
        mapped = (prior @ self.method_map.permute(1, 0, 2).reshape(d0, -1)).view(-1, len(METHODS), d)
        mapped = mapped.gather(1, self.atom_method.view(-1, 1, 1).expand(-1, 1, d)).squeeze(1)
        atoms = free + mapped + self.moa(self.atom_moas)
        return torch.cat([atoms, atoms.new_zeros(1, d)])

    def embed_perturbations(self, p: torch.Tensor, atoms: torch.Tensor | None = None) -> torch.Tensor:
        atoms = self.atom_embeddings() if atoms is None else atoms
        ids = self.atom_matrix[p]
        parts = ids < self.n_atoms
        return atoms[ids].sum(1) / parts.sum(1, keepdim=True).clamp(min=1)

    def embed_readouts(self, r: torch.Tensor, genes: torch.Tensor | None = None) -> torch.Tensor:
        free = self.readout_free(r) * self.readout_trained[r][:, None]
        if self.training and self.free_dropout > 0:
            free = free * (torch.rand(len(r), 1, device=free.device) >= self.free_dropout)
        genes = self.gene_table() if genes is None else genes
        return free + genes[self.readout_gene[r]] @ self.readout_map

    def readout_embeddings(self) -> torch.Tensor:
        return self.embed_readouts(torch.arange(len(self.readout_gene), device=self.readout_gene.device))

    # ------------------------------------------------------------------ pair term

    def pair_features(self, p: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, W, K] share of each atom's targets in each relation with the readout gene, and the atom ids."""
        atoms = self.atom_matrix[p]  # [B, W]
        pad_atom = atoms >= self.n_atoms
        safe = atoms.clamp(max=self.n_atoms - 1)
        targets = self.atom_targets[safe]  # [B, W, T]
        gene = self.readout_gene[r].view(-1, 1, 1)
        valid = (targets < self.n_genes) & (gene < self.n_genes) & ~pad_atom[..., None]
        key = targets * (self.n_genes + 1) + gene
        feats = [(targets == gene) & valid]
        for name in PAIR_FEATURES[1:]:
            keys = getattr(self, f"keys_{name}")
            if len(keys) == 0:
                feats.append(torch.zeros_like(valid))
                continue
            pos = torch.searchsorted(keys, key).clamp(max=len(keys) - 1)
            feats.append((keys[pos] == key) & valid)
        f = torch.stack(feats, -1).float()  # [B, W, T, K]
        share = f.sum(2) / valid.sum(2, keepdim=True).clamp(min=1)
        return share, safe

    def pair_term(self, p: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        share, atoms = self.pair_features(p, r)
        weights = self.pair_method[self.atom_method[atoms]] + self.pair_context[c][:, None, :]  # [B, W, K]
        n_parts = (self.atom_matrix[p] < self.n_atoms).sum(1).clamp(min=1)
        return (share * weights).sum((1, 2)) / n_parts

    def forward(self, p: torch.Tensor, r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        genes = self.gene_table()  # once per step: the GCN's pass over every gene
        zp, zr = self.embed_perturbations(p, self.atom_embeddings(genes)), self.embed_readouts(r, genes)
        z = torch.cat([self.context(c), zp, zr], dim=1)
        bilinear = (self.bilinear_p(zp) * self.bilinear_r(zr)).sum(1)
        return self.mlp(z).squeeze(1) + bilinear + self.pair_term(p, r, c)
