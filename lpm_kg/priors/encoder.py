"""Gene prior vectors from the reference relations, fitted before the LPM trains.

A fitted embedding rather than a GNN trained jointly with the LPM: it is computed once per graph
(seconds for the ~18,000 genes of the real references), written to the graph as ``Gene.prior``
where Cypher and the vector index can use it with no model run, reused by every LPM run on the
same knowledge, and it cannot overfit the training perturbations, because it never sees a
measurement. The LPM learns the map from this space into its own (lpm_kg.model.graph_module).

The fit: a truncated SVD of the normalised [adjacency | membership] matrix (genes that interact,
regulate or share complexes and gene sets get close vectors), then personalised-PageRank
propagation along the relations (torch-geometric's APPNP) so that a sparsely annotated gene takes
its partners' position, then one global scale so that the mean vector norm is 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from lpm_kg.run_ids import derived_run_id
from lpm_kg.priors.knowledge import ANNOTATIONS, RELATIONS, Knowledge


class PriorSpec(BaseModel):
    """How gene priors are fitted: part of the model config, saved with the run."""

    model_config = ConfigDict(extra="forbid")

    relations: list[str] = Field(default_factory=lambda: list(RELATIONS),
                                 description="reference relation types that feed the priors")
    annotations: list[str] = Field(default_factory=lambda: list(ANNOTATIONS),
                                   description="compound annotations that feed a compound's prior (leave "
                                               "HAS_TARGET out for a run scored on mechanism of action)")
    dim: int = Field(64, ge=2, description="width of a gene prior vector")
    hops: int = Field(1, ge=0, description="APPNP propagation steps along the relations")
    alpha: float = Field(0.5, gt=0, le=1, description="APPNP teleport: the share each gene keeps of its own vector")
    max_group_size: int = Field(500, ge=2, description="complexes and gene sets larger than this are left out")
    seed: int = 0
    encoder: Literal["fitted", "gcn"] = Field(
        "fitted", description="fitted: the LPM maps the fitted prior vectors as they are; gcn: a two-layer GCN "
                              "along the gene-gene relations (torch-geometric), trained with the LPM, refines "
                              "them first (it starts as the identity)")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        # A setting added after runs were named: left out while at its default, so that the run id
        # (a digest of the dumped config) of every run made before it existed stays the same.
        out = handler(self)
        if out.get("encoder") == "fitted":
            del out["encoder"]
        return out

    def fit_settings(self) -> dict:
        """The settings the gene vectors depend on: not the compound annotations or the encoder,
        which act in the model, not in the fit (runs differing only there share one prior run)."""
        return self.model_dump(exclude={"annotations", "encoder"})


@dataclass
class GenePriors:
    genes: list[str]
    vectors: np.ndarray  # [n_genes, dim] float32; zero where the gene has no relation
    has_prior: np.ndarray  # bool
    run_id: str
    spec: PriorSpec

    def __post_init__(self):
        self.index = {g: i for i, g in enumerate(self.genes)}

    def vector(self, gene: str) -> np.ndarray | None:
        i = self.index.get(gene)
        return self.vectors[i] if i is not None and self.has_prior[i] else None

    def to_state(self) -> dict:
        return {"genes": list(self.genes), "vectors": torch.as_tensor(self.vectors),
                "has_prior": torch.as_tensor(self.has_prior), "run_id": self.run_id, "spec": self.spec.model_dump()}

    @classmethod
    def from_state(cls, s: dict) -> "GenePriors":
        return cls(list(s["genes"]), np.asarray(s["vectors"].numpy(), np.float32),
                   np.asarray(s["has_prior"].numpy(), bool), s["run_id"], PriorSpec(**s["spec"]))


def prior_run_id(knowledge: Knowledge, spec: PriorSpec) -> str:
    """Built on what the gene vectors depend on: the gene-gene knowledge and the fit's settings
    (not the compound annotations or the encoder, which act in the model, not in the fit)."""
    return derived_run_id("prior", knowledge.relations_fingerprint(), json.dumps(spec.fit_settings(), sort_keys=True))


def _sym_normalise(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int, n_cols: int):
    import scipy.sparse as sp

    m = sp.coo_matrix((vals, (rows, cols)), shape=(n_rows, n_cols)).tocsr()
    m.sum_duplicates()
    dr = np.asarray(m.sum(axis=1)).ravel()
    dc = np.asarray(m.sum(axis=0)).ravel()
    with np.errstate(divide="ignore"):
        ir = np.where(dr > 0, 1 / np.sqrt(dr), 0.0)
        ic = np.where(dc > 0, 1 / np.sqrt(dc), 0.0)
    return sp.diags(ir) @ m @ sp.diags(ic)


def fit_gene_priors(knowledge: Knowledge, spec: PriorSpec | None = None) -> GenePriors:
    import scipy.sparse as sp
    from torch_geometric.nn import APPNP

    spec = spec or PriorSpec()
    n = len(knowledge.genes)
    pairs = np.concatenate([knowledge.interacts, knowledge.regulates]).reshape(-1, 2)
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    blocks = []
    if len(src):
        blocks.append(_sym_normalise(src, dst, np.ones(len(src)), n, n))
    mem = knowledge.members
    if len(mem):
        sizes = np.bincount(mem[:, 1], minlength=len(knowledge.groups))
        keep = (sizes[mem[:, 1]] >= 2) & (sizes[mem[:, 1]] <= spec.max_group_size)
        mem = mem[keep]
        if len(mem):
            blocks.append(_sym_normalise(mem[:, 0], mem[:, 1], np.ones(len(mem)), n, len(knowledge.groups)))
    has = np.zeros(n, bool)
    vectors = np.zeros((n, spec.dim), np.float32)
    if blocks and n:
        m = sp.hstack(blocks).tocsr()
        has = np.asarray(abs(m).sum(axis=1)).ravel() > 0
        k = min(spec.dim, min(m.shape) - 1)
        if k >= 1:
            coo = m.tocoo()
            t = torch.sparse_coo_tensor(np.vstack([coo.row, coo.col]), coo.data, m.shape, dtype=torch.float64,
                                        check_invariants=False)
            # Randomised SVD with a fixed seed (ARPACK's start vector made degenerate subspaces
            # differ between runs); the sign of each axis is fixed by its largest entry.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(spec.seed)
                u, s, _ = torch.svd_lowrank(t, q=min(k + 10, min(m.shape)), niter=6)
            u, s = u[:, :k].numpy(), s[:k].numpy()
            signs = np.sign(u[np.abs(u).argmax(axis=0), np.arange(k)])
            signs[signs == 0] = 1
            vectors[:, :k] = (u * signs * np.sqrt(s)).astype(np.float32)
        if spec.hops and len(src):
            edge_index = torch.as_tensor(np.vstack([src, dst]), dtype=torch.long)
            with torch.no_grad():
                x = APPNP(K=spec.hops, alpha=spec.alpha)(torch.as_tensor(vectors), edge_index)
            vectors = x.numpy().astype(np.float32)
        vectors[~has] = 0
        norms = np.linalg.norm(vectors[has], axis=1)
        if len(norms) and norms.mean() > 0:
            vectors /= norms.mean()
    return GenePriors(list(knowledge.genes), vectors, has, prior_run_id(knowledge, spec), spec)
