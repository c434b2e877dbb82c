"""What the graph-informed LPM knows about each of its symbols before training: per perturbation
atom its method, target genes and MOAs; per readout its gene; and the gene-pair relations between
a perturbation's targets and a readout. Also why a symbol has no prior, in words a user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from lpm_kg.priors.encoder import GenePriors
from lpm_kg.priors.knowledge import Knowledge
from lpm_kg.symbols import CHEMICAL_MODALITY, GENETIC_METHODS, parse_perturbation, split_readout

# One prior map per method: a CRISPRi knockdown and a knockout of one gene stay different.
METHODS = ("Control", CHEMICAL_MODALITY, *GENETIC_METHODS)
# Pair features of (perturbation target, readout gene), in the order of the module's weights.
PAIR_FEATURES = ("same_gene", "regulates", "regulated_by", "interacts", "same_complex")
COMPLEX_PAIR_MAX = 60  # complexes larger than this add no same_complex pairs (their count grows as size^2)


@dataclass
class AtomPrior:
    symbol: str
    method: str
    targets: list[str] = field(default_factory=list)  # target genes with a prior vector
    moas: list[str] = field(default_factory=list)
    reason: str | None = None  # why there is no prior, when there is none

    @property
    def has_prior(self) -> bool:
        return bool(self.targets or self.moas)


class PriorSource:
    """Knowledge and gene priors, asked about symbols."""

    def __init__(self, knowledge: Knowledge, priors: GenePriors):
        self.knowledge, self.priors = knowledge, priors

    # What the knowledge says about gene pairs, computed once per source: a model and every
    # extension of it for new symbols (LPM._extended) share the source.
    @cached_property
    def pair_keys(self) -> dict[str, np.ndarray]:
        return relation_pair_keys(self.knowledge)

    @cached_property
    def gene_edges(self) -> np.ndarray:
        return relation_edges(self.knowledge)

    def atom(self, symbol: str) -> AtomPrior:
        try:
            p = parse_perturbation(symbol, lambda g: g)
        except ValueError as e:
            return AtomPrior(symbol, "Control", reason=f"{symbol!r} is not a perturbation symbol ({e})")
        if p.kind == "control":
            return AtomPrior(symbol, "Control")
        if p.kind == "genetic":
            if p.gene not in self.priors.index:
                return AtomPrior(symbol, p.method, reason=f"{p.gene} is not a gene in the graph (load the HGNC table)")
            if self.priors.vector(p.gene) is None:
                return AtomPrior(symbol, p.method, reason=f"gene {p.gene} has no reference relation in the graph "
                                                          f"({', '.join(self.knowledge.relations)}); load STRING, "
                                                          "CORUM, gene sets or regulons")
            return AtomPrior(symbol, p.method, [p.gene])
        if p.kind == "chemical":
            named = self.knowledge.compound_targets.get(p.compound, [])
            targets = [g for g in named if self.priors.vector(g) is not None]
            moas = self.knowledge.compound_moas.get(p.compound, [])
            reason = None
            if not targets and not moas:
                if "HAS_TARGET" not in self.knowledge.annotations:
                    reason = (f"compound {p.compound!r}: this model's priors leave HAS_TARGET out "
                              f"(priors.annotations = {list(self.knowledge.annotations)})")
                elif not named:
                    reason = (f"compound {p.compound!r}: no HAS_TARGET in the graph; load an annotation table "
                              "(e.g. --format repurposing-hub)")
                else:
                    reason = f"compound {p.compound!r}: none of its targets ({', '.join(named)}) has a reference relation"
            return AtomPrior(symbol, CHEMICAL_MODALITY, targets, moas, reason)
        return AtomPrior(symbol, "Control", reason=f"{symbol!r} is a combination; its parts carry the priors")

    def readout_gene(self, symbol: str) -> str | None:
        gene = split_readout(symbol)[1]
        return gene if self.priors.vector(gene) is not None else None

    def readout_reason(self, symbol: str) -> str:
        gene = split_readout(symbol)[1]
        if gene not in self.priors.index:
            return f"{gene} is not a gene in the graph"
        return f"gene {gene} has no reference relation in the graph"


@dataclass
class ModelInputs:
    """Index arrays over the model's vocabulary (pads: ``n_genes`` for genes, ``len(moas)`` for MOAs)."""

    gene_vectors: np.ndarray  # [n_genes + 1, dim], the last row zero
    atom_method: np.ndarray  # [n_atoms] index into METHODS
    atom_targets: np.ndarray  # [n_atoms, T]
    atom_moas: np.ndarray  # [n_atoms, M]
    moas: list[str]
    readout_gene: np.ndarray  # [n_readouts]
    pair_keys: dict[str, np.ndarray]  # sorted int64 keys target * (n_genes + 1) + readout gene
    gene_edges: np.ndarray | None = None  # [2, E] INTERACTS_WITH and REGULATES both ways; the gcn encoder's only

    @property
    def n_genes(self) -> int:
        return len(self.gene_vectors) - 1


def relation_pair_keys(knowledge: Knowledge) -> dict[str, np.ndarray]:
    """The (target gene, readout gene) pairs of every pair feature but same_gene (computed directly)."""
    n = len(knowledge.genes) + 1
    key = lambda a, b: np.unique(np.asarray(a, np.int64) * n + np.asarray(b, np.int64))  # noqa: E731
    reg, inter = knowledge.regulates, knowledge.interacts
    comp = [np.stack(np.meshgrid(m, m), -1).reshape(-1, 2) for m in knowledge.complex_members(COMPLEX_PAIR_MAX)]
    comp = np.concatenate(comp) if comp else np.zeros((0, 2), np.int64)
    comp = comp[comp[:, 0] != comp[:, 1]]
    return {"regulates": key(reg[:, 0], reg[:, 1]), "regulated_by": key(reg[:, 1], reg[:, 0]),
            "interacts": key(np.concatenate([inter[:, 0], inter[:, 1]]), np.concatenate([inter[:, 1], inter[:, 0]])),
            "same_complex": key(comp[:, 0], comp[:, 1])}


def relation_edges(knowledge: Knowledge) -> np.ndarray:
    """[2, E] the gene-gene relations as an undirected edge list, each pair once per direction."""
    pairs = np.concatenate([knowledge.interacts, knowledge.regulates]).reshape(-1, 2).astype(np.int64)
    both = np.concatenate([pairs, pairs[:, ::-1]])
    both = np.unique(both[both[:, 0] != both[:, 1]], axis=0)
    return np.ascontiguousarray(both.T)


def build_inputs(source: PriorSource, atoms: list[str], readouts: list[str], moas: list[str] | None = None,
                 edges: bool = False) -> ModelInputs:
    """``moas``: the MOA vocabulary (default: every MOA of these atoms; later extensions keep the
    trained one, and an MOA outside it is left out). ``edges``: include the gene edge list (the
    gcn encoder)."""
    pri = source.priors
    g = len(pri.genes)
    described = [source.atom(a) for a in atoms]
    if moas is None:
        moas = sorted({m for d in described for m in d.moas})
    m_index = {m: i for i, m in enumerate(moas)}
    width_t = max([len(d.targets) for d in described] + [1])
    width_m = max([len([m for m in d.moas if m in m_index]) for d in described] + [1])
    targets = np.full((len(atoms), width_t), g, np.int64)
    moa_ids = np.full((len(atoms), width_m), len(moas), np.int64)
    for i, d in enumerate(described):
        targets[i, :len(d.targets)] = [pri.index[t] for t in d.targets]
        ids = [m_index[m] for m in d.moas if m in m_index]
        moa_ids[i, :len(ids)] = ids
    method = np.array([METHODS.index(d.method) if d.method in METHODS else 0 for d in described], np.int64)
    rg = [source.readout_gene(r) for r in readouts]
    readout_gene = np.array([pri.index[x] if x is not None else g for x in rg], np.int64)
    vectors = np.vstack([pri.vectors * pri.has_prior[:, None], np.zeros((1, pri.vectors.shape[1]), np.float32)])
    return ModelInputs(vectors.astype(np.float32), method, targets, moa_ids, list(moas), readout_gene,
                       source.pair_keys, source.gene_edges if edges else None)
