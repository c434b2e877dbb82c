"""The reference knowledge the priors are built from, as plain arrays over one sorted gene list.

Only reference relations and annotations are read: never a measurement. That is what makes a
prior safe for a perturbation held out of training (tests/priors/test_knowledge.py checks it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from lpm_kg.errors import ConfigError
from lpm_kg.graph.priors import knowledge_tables

# Relation type -> what it contributes. MEMBER_OF joins a gene to a Complex (CORUM) or a GeneSet (GMT).
RELATIONS = ("INTERACTS_WITH", "MEMBER_OF", "REGULATES")
# Compound annotations that feed a compound's prior. A run scored on mechanism of action leaves
# HAS_TARGET out: otherwise the targets it is asked to find are an input of the compound's embedding.
ANNOTATIONS = ("HAS_TARGET", "HAS_MOA")


@dataclass
class Knowledge:
    """Gene-gene relations and compound annotations.

    ``interacts``, ``regulates``: [n, 2] gene index pairs (regulates is TF -> target);
    ``members``: [n, 2] (gene index, group index) with ``groups`` names and ``group_is_complex``;
    ``compound_targets`` / ``compound_moas``: compound name -> gene symbols / MOA names.
    """

    genes: list[str]
    interacts: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    regulates: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    members: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    groups: list[str] = field(default_factory=list)
    group_is_complex: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    compound_targets: dict[str, list[str]] = field(default_factory=dict)
    compound_moas: dict[str, list[str]] = field(default_factory=dict)
    relations: tuple[str, ...] = RELATIONS
    annotations: tuple[str, ...] = ANNOTATIONS

    def __post_init__(self):
        self.gene_index = {g: i for i, g in enumerate(self.genes)}

    @classmethod
    def from_tables(cls, genes: Iterable[str], *, interacts=(), regulates=(), members=(), complexes=(),
                    compound_targets=None, compound_moas=None, relations=RELATIONS,
                    annotations=ANNOTATIONS) -> "Knowledge":
        """From symbol pairs: ``interacts``/``regulates`` (a, b), ``members`` (gene, group);
        ``complexes``: the group names that are complexes. Pairs naming an unknown gene are dropped;
        compound targets and MOAs are kept only when ``annotations`` names them."""
        genes = sorted(set(genes))
        index = {g: i for i, g in enumerate(genes)}

        def pairs(rows):
            out = [(index[a], index[b]) for a, b in rows if a in index and b in index and a != b]
            return np.unique(np.asarray(out, np.int64).reshape(-1, 2), axis=0)

        member_rows = [(g, s) for g, s in members if g in index]
        groups = sorted({s for _, s in member_rows})
        g_index = {s: i for i, s in enumerate(groups)}
        mem = np.unique(np.asarray([(index[g], g_index[s]) for g, s in member_rows], np.int64).reshape(-1, 2), axis=0)
        complexes = set(complexes)
        return cls(genes, pairs(interacts) if "INTERACTS_WITH" in relations else pairs(()),
                   pairs(regulates) if "REGULATES" in relations else pairs(()),
                   mem if "MEMBER_OF" in relations else np.zeros((0, 2), np.int64),
                   groups if "MEMBER_OF" in relations else [],
                   np.array([s in complexes for s in groups], bool) if "MEMBER_OF" in relations else np.zeros(0, bool),
                   {k: sorted(set(v)) for k, v in (compound_targets or {}).items() if v}
                   if "HAS_TARGET" in annotations else {},
                   {k: sorted(set(v)) for k, v in (compound_moas or {}).items() if v}
                   if "HAS_MOA" in annotations else {}, tuple(relations), tuple(annotations))

    def relations_fingerprint(self) -> str:
        """Equal exactly when the gene-gene knowledge is: gene priors are fitted from that alone, so
        their run id builds on this (runs that differ only in compound annotations share priors)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.genes, list(self.relations), self.groups]).encode())
        for a in (self.interacts, self.regulates, self.members, self.group_is_complex):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def fingerprint(self) -> str:
        """Equal exactly when the knowledge is, compound annotations included: a model run's id builds on this."""
        h = hashlib.sha256(self.relations_fingerprint().encode())
        h.update(json.dumps([sorted(self.compound_targets.items()), sorted(self.compound_moas.items())]).encode())
        if tuple(self.annotations) != ANNOTATIONS:
            h.update(json.dumps(list(self.annotations)).encode())
        return h.hexdigest()[:16]

    def sizes(self) -> dict[str, int]:
        return {"genes": len(self.genes), "interacts": len(self.interacts), "regulates": len(self.regulates),
                "memberships": len(self.members), "groups": len(self.groups),
                "annotated_compounds": len(self.compound_targets)}

    def neighbours(self, max_group_size: int = 60) -> list[set[int]]:
        """Per gene, the genes it interacts with, regulates, is regulated by or shares a complex
        (of at most ``max_group_size`` members) with."""
        out: list[set[int]] = [set() for _ in self.genes]
        for a, b in np.concatenate([self.interacts, self.regulates]):
            out[a].add(int(b))
            out[b].add(int(a))
        for members in self.complex_members(max_group_size):
            for a in members:
                out[a].update(int(b) for b in members if b != a)
        return out

    def complex_members(self, max_group_size: int = 60) -> list[np.ndarray]:
        if not len(self.members):
            return []
        order = np.argsort(self.members[:, 1], kind="stable")
        m = self.members[order]
        cuts = np.flatnonzero(np.diff(m[:, 1])) + 1
        out = []
        for part in np.split(m, cuts):
            if self.group_is_complex[part[0, 1]] and 2 <= len(part) <= max_group_size:
                out.append(part[:, 0])
        return out

    def to_state(self) -> dict:
        """Plain containers and arrays, for a checkpoint that loads with ``weights_only=True``."""
        import torch

        return {"genes": list(self.genes), "groups": list(self.groups), "relations": list(self.relations),
                "interacts": torch.as_tensor(self.interacts), "regulates": torch.as_tensor(self.regulates),
                "members": torch.as_tensor(self.members), "group_is_complex": torch.as_tensor(self.group_is_complex),
                "compound_targets": dict(self.compound_targets), "compound_moas": dict(self.compound_moas),
                "annotations": list(self.annotations)}

    @classmethod
    def from_state(cls, s: dict) -> "Knowledge":
        arr = lambda t: np.asarray(t.numpy() if hasattr(t, "numpy") else t)  # noqa: E731
        return cls(list(s["genes"]), arr(s["interacts"]).reshape(-1, 2), arr(s["regulates"]).reshape(-1, 2),
                   arr(s["members"]).reshape(-1, 2), list(s["groups"]), arr(s["group_is_complex"]).astype(bool),
                   dict(s["compound_targets"]), dict(s["compound_moas"]), tuple(s["relations"]),
                   tuple(s.get("annotations", ANNOTATIONS)))


def read_knowledge(graph, relations: Iterable[str] = RELATIONS, annotations: Iterable[str] = ANNOTATIONS) -> Knowledge:
    """The reference relations named in ``relations`` and the compound annotations named in
    ``annotations``, from the graph."""
    relations, annotations = tuple(relations), tuple(annotations)
    unknown = set(relations) - set(RELATIONS)
    if unknown:
        raise ConfigError(f"unknown prior relation(s) {', '.join(sorted(unknown))}; choose from {', '.join(RELATIONS)}")
    unknown = set(annotations) - set(ANNOTATIONS)
    if unknown:
        raise ConfigError(f"unknown compound annotation(s) {', '.join(sorted(unknown))}; "
                          f"choose from {', '.join(ANNOTATIONS)}")
    # Imported here: lpm_kg.priors is imported with every LPMConfig (PriorSpec), and the graph
    # layer would load the Neo4j driver with it.

    t = knowledge_tables(graph, relations, annotations)
    return Knowledge.from_tables(t["genes"], interacts=t["interacts"], regulates=t["regulates"],
                                 members=t["members"], complexes=t["complexes"], compound_targets=t["targets"],
                                 compound_moas=t["moas"], relations=relations, annotations=annotations)
