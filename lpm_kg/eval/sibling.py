"""Transfer from a perturbation's relatives in the same context. Sibling transfer: what the same
compound did at its other doses, or the same gene under another genetic method. Annotation transfer:
what other compounds sharing a mechanism of action or a target did.

A perturbation symbol names a dose (``vemurafenib-1uM``) or a method (``CRISPRi_STAT1``), so an
unmeasured dose of a measured compound, or the knockout of a gene measured by CRISPRi, is a new
perturbation to the split but an old one to a pharmacologist. The prediction is the
per-(context, readout) training mean plus the siblings' mean deviation from it in that context,
each sibling weighted by ``exp(-|log10 dose ratio|)`` (a tenfold dose step weighs 0.37; without
doses, all equal). No sibling measured there: the mean alone.
"""

from __future__ import annotations

import copy

import numpy as np

from lpm_kg.eval.baselines import Baseline, ContextReadoutMean, _ids, _SparseMeans
from lpm_kg.symbols import parse_perturbation

_MOLAR = {"pM": 1e-12, "nM": 1e-9, "uM": 1e-6, "mM": 1e-3, "M": 1.0}


def sibling_key(symbol: str) -> tuple[str | None, float | None]:
    """(family, molar dose): the compound (``cmp:<name>``) or gene (``gene:<symbol>``) a
    perturbation shares with its siblings, and its dose; (None, None) for Control, combinations
    and symbols that do not parse."""
    try:
        p = parse_perturbation(symbol, lambda g: g)
    except ValueError:
        return None, None
    if p.kind == "chemical":
        dose = p.dose * _MOLAR[p.dose_unit] if p.dose is not None and p.dose_unit in _MOLAR else None
        return f"cmp:{p.compound}", dose
    if p.kind == "genetic":
        return f"gene:{p.gene}", None
    return None, None


def sibling_table(perturbations) -> tuple[np.ndarray, np.ndarray]:
    """[n_perturbations, max siblings] sibling ids (-1 padding) and their weights."""
    keys = [sibling_key(s) for s in perturbations]
    family: dict[str, list[int]] = {}
    for i, (k, _dose) in enumerate(keys):
        if k is not None:
            family.setdefault(k, []).append(i)
    width = max([len(v) - 1 for v in family.values()] + [0])
    ids = np.full((len(keys), max(width, 1)), -1, np.int64)
    weights = np.zeros(ids.shape)
    for members in family.values():
        for i in members:
            others = [j for j in members if j != i]
            for slot, j in enumerate(others):
                di, dj = keys[i][1], keys[j][1]
                ids[i, slot] = j
                weights[i, slot] = np.exp(-abs(np.log10(di / dj))) if di and dj else 1.0
    return ids, weights


class RelativeTransfer(Baseline):
    """The per-(context, readout) training mean plus the weighted mean deviation, in the same
    context, of a perturbation's relatives measured there; subclasses say who the relatives are
    (:meth:`relatives`: [n, width] ids with -1 padding, and weights)."""

    def relatives(self, symbols: list[str]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def fit(self, p, r, c, y, n_perturbations, n_readouts, n_contexts, vocab=None, val=None):
        p, r, c = _ids(p, r, c)
        y = np.asarray(y, dtype=np.float64)
        self.n_r, self.n_c = n_readouts, n_contexts
        self.base_ = ContextReadoutMean().fit(p, r, c, y, n_perturbations, n_readouts, n_contexts)
        symbols = list(getattr(vocab, "perturbations", vocab)) if vocab is not None else \
            [f"P{i}" for i in range(n_perturbations)]
        self.sib_ids_, self.sib_w_ = self.relatives(symbols)
        self.prc_ = _SparseMeans((p * n_contexts + c) * n_readouts + r, y - self.base_.raw_[c, r])
        return self

    def extend(self, symbols) -> "RelativeTransfer":
        """A copy that also answers for perturbation symbols appended after the fitted ones: their
        relatives among the measured perturbations (``symbols``: the whole extended list)."""
        out = copy.copy(self)
        out.sib_ids_, out.sib_w_ = self.relatives(list(symbols))
        return out

    def deviation(self, p, r, c) -> tuple[np.ndarray, np.ndarray]:
        """(weighted sibling deviation, whether any sibling was measured) per tuple."""
        p, r, c = _ids(p, r, c)
        total, weight = np.zeros(len(p)), np.zeros(len(p))
        for slot in range(self.sib_ids_.shape[1]):
            s, w = self.sib_ids_[p, slot], self.sib_w_[p, slot]
            has = s >= 0
            if not has.any():
                continue
            sums, counts = self.prc_.lookup((np.where(has, s, 0) * self.n_c + c) * self.n_r + r)
            found = has & (counts > 0)
            total[found] += w[found] * sums[found] / counts[found]
            weight[found] += w[found]
        measured = weight > 0
        total[measured] /= weight[measured]
        return total, measured

    def predict(self, p, r, c):
        p, r, c = _ids(p, r, c)
        deviation, _ = self.deviation(p, r, c)
        return self.base_.predict(p, r, c) + deviation


class SiblingTransfer(RelativeTransfer):
    name = "sibling-transfer"
    description = ("per (context, readout) mean + the mean deviation of the same compound at other doses (or the "
                   "same gene by other methods) in that context, weighted by dose proximity")

    def relatives(self, symbols):
        return sibling_table(symbols)


def annotation_table(symbols, knowledge) -> tuple[np.ndarray, np.ndarray]:
    """[n, width] ids of the *other* compounds that share a mechanism of action or a target with
    each perturbation's compound (-1 padding), weighted by the Jaccard index of their annotations."""
    notes: list[frozenset] = []
    names: list[str | None] = []
    for s in symbols:
        family, _dose = sibling_key(s)
        name = family[4:] if family and family.startswith("cmp:") else None
        names.append(name)
        notes.append(frozenset([f"moa:{m}" for m in knowledge.compound_moas.get(name, [])] +
                               [f"target:{t}" for t in knowledge.compound_targets.get(name, [])]) if name else
                     frozenset())
    holders: dict[str, list[int]] = {}
    for i, ann in enumerate(notes):
        for a in ann:
            holders.setdefault(a, []).append(i)
    rows = []
    for i, ann in enumerate(notes):
        near = {j for a in ann for j in holders[a] if names[j] != names[i]}
        rows.append(sorted(near))
    width = max([len(x) for x in rows] + [1])
    ids = np.full((len(symbols), width), -1, np.int64)
    weights = np.zeros(ids.shape)
    for i, near in enumerate(rows):
        for slot, j in enumerate(near):
            ids[i, slot] = j
            weights[i, slot] = len(notes[i] & notes[j]) / len(notes[i] | notes[j])
    return ids, weights


class AnnotationTransfer(RelativeTransfer):
    """For compounds: what the other compounds sharing a mechanism of action or a target (the
    graph's HAS_MOA / HAS_TARGET) did in the same context. Not their doses of the same compound
    (sibling transfer), and nothing for genetic perturbations."""

    name = "annotation-transfer"
    description = ("per (context, readout) mean + the mean deviation of the other compounds sharing a mechanism or a "
                   "target in that context, weighted by annotation overlap")
    needs_knowledge = True

    def __init__(self, knowledge=None):
        if knowledge is None:
            raise ValueError(f"{self.name} needs the graph's reference knowledge (knowledge=...)")
        self.knowledge = knowledge

    def relatives(self, symbols):
        return annotation_table(symbols, self.knowledge)
