"""Compound mechanisms from a model run: same-mechanism retrieval among the measured compounds,
scored against shuffled labels, and a compound's likely mechanisms with their evidence.

A compound's vector is the mean of its perturbations' stored embeddings (a compound at several
doses is one compound), centred over the compounds. Two maps are scored
(:func:`lpm_kg.discovery.mechanisms.score_retrieval`): the run's embeddings and the raw measured
signatures (per shared cell line cosine over the readouts both measured, averaged;
:func:`lpm_kg.discovery.moa.signature_similarity`), on the same compounds, with the permutation p
value of each and the paired test of the run against raw.

:func:`likely_mechanisms` answers "what does compound X do": the MOAs of its nearest annotated
compounds in the run's space, each scored by the summed similarity of the neighbours that carry it,
its own annotation left out of the vote (so an annotated compound can be checked against it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lpm_kg.discovery.inference import cosine_matrix
from lpm_kg.discovery.mechanisms import N_NULL, compare, score_retrieval
from lpm_kg.discovery.moa import signature_similarity
from lpm_kg.errors import MoaError
from lpm_kg.graph.compounds import compound_mechanisms, find_compound
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.embeddings import current_embedding_run, read_embeddings
from lpm_kg.graph.runs import get_model_run
from lpm_kg.jsonsafe import frame_records


@dataclass
class CompoundSpace:
    run: str
    compounds: list[str]  # compound names, sorted
    vectors: np.ndarray  # [compounds, dim] centred
    perturbations: dict[str, list[str]]  # compound -> its embedded perturbations
    moas: dict[str, list[str]]  # compound -> MOA names (empty: unannotated)


def compound_space(graph: Graph, run: str | None = None) -> CompoundSpace:
    """The run's (default: the current embeddings') compounds as centred mean vectors."""
    run = run or current_embedding_run(graph)
    if run is None:
        raise MoaError("no model run has stored perturbation embeddings: run `lpm-kg sync` first")
    if get_model_run(graph, run) is None:
        raise MoaError(f"there is no model run {run!r}; `lpm-kg runs` lists the runs")
    symbols, vectors = read_embeddings(graph, run, "perturbations")
    of = compound_mechanisms(graph, symbols)
    by_compound: dict[str, list[int]] = {}
    for k, s in enumerate(symbols):
        if s in of:
            by_compound.setdefault(of[s][0], []).append(k)
    compounds = sorted(by_compound)
    if not compounds:
        raise MoaError(f"run {run} embeds no compound perturbation (chemical perturbations of a Compound)")
    v = np.stack([vectors[by_compound[c]].mean(axis=0) for c in compounds]).astype(np.float64)
    moas = {}
    for s, (c, m) in of.items():
        moas.setdefault(c, m)
    return CompoundSpace(run, compounds, v - v.mean(axis=0),
                         {c: [symbols[k] for k in by_compound[c]] for c in compounds}, moas)


def raw_compound_similarity(graph: Graph, space: CompoundSpace, datasets: list[str] | None = None) -> np.ndarray:
    """[compounds, compounds] mean measured-signature cosine over the pairs of their perturbations
    (NaN where two compounds share no measured cell line)."""
    symbols = [s for c in space.compounds for s in space.perturbations[c]]
    owner = np.array([n for n, c in enumerate(space.compounds) for _ in space.perturbations[c]])
    sim, _ = signature_similarity(graph, symbols, symbols, datasets)
    member = np.zeros((len(space.compounds), len(symbols)))  # compound x its perturbations
    member[owner, np.arange(len(symbols))] = 1.0
    ok = np.isfinite(sim)
    total = member @ np.where(ok, sim, 0.0) @ member.T
    count = member @ ok @ member.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@dataclass
class RetrievalResult:
    run: str
    table: pd.DataFrame  # one row per map: mAP, null mAP, p, recall@k
    compare: pd.DataFrame  # the run against raw, paired over queries
    n_compounds: int
    n_annotated: int

    def to_json(self) -> dict:
        return {"run": self.run, "n_compounds": self.n_compounds, "n_annotated": self.n_annotated,
                "table": frame_records(self.table),
                "compare": frame_records(self.compare)}


def mechanism_retrieval(graph: Graph, run: str | None = None, *, n_null: int = N_NULL, seed: int = 0,
                        raw: bool = True) -> RetrievalResult:
    """Leave-one-out same-MOA retrieval among the run's annotated compounds: the run's embeddings
    and (``raw``) the measured signatures, each against ``n_null`` MOA shuffles."""
    space = compound_space(graph, run)
    annotated = [c for c in space.compounds if space.moas.get(c)]
    if len(annotated) < 2:
        raise MoaError(f"{len(annotated)} of the {len(space.compounds)} compounds run {space.run} embeds carry a "
                       "mechanism of action: nothing to retrieve (load annotations: repurposing-hub, lincs-compounds)")
    maps = {f"embedding ({space.run})": (space.compounds, cosine_matrix(space.vectors))}
    if raw:
        maps["raw signatures"] = (space.compounds, raw_compound_similarity(graph, space))
    report = score_retrieval(maps, {c: space.moas[c] for c in annotated}, n_null=n_null, seed=seed,
                             compounds=annotated)
    if not report.table["n_queries"].max():
        raise MoaError(f"no MOA is shared by two of the {len(annotated)} annotated compounds run {space.run} "
                       "embeds: nothing to retrieve (load annotations: repurposing-hub, lincs-compounds)")
    leader = next(iter(maps))
    return RetrievalResult(space.run, report.table, compare(report, leader) if raw else pd.DataFrame(),
                           len(space.compounds), len(annotated))


def likely_mechanisms(graph: Graph, compound: str, run: str | None = None, k: int = 10) -> tuple[str, pd.DataFrame,
                                                                                                    list[str]]:
    """(compound name, MOA table, its own annotated MOAs): the MOAs of the ``k`` nearest annotated
    compounds, each with a score (summed cosine of the neighbours carrying it, negative cosines
    counting nothing) and those neighbours; sorted best first."""
    space = compound_space(graph, run)
    name = find_compound(graph, compound) or compound.lower()
    if name not in space.compounds:
        raise MoaError(f"compound {compound!r} has no perturbation embedded by run {space.run}; "
                       f"embedded compounds: {', '.join(space.compounds[:8])}{' ...' if len(space.compounds) > 8 else ''}")
    q = space.compounds.index(name)
    sim = cosine_matrix(space.vectors[[q]], space.vectors)[0]
    others = [n for n, c in enumerate(space.compounds) if n != q and space.moas.get(c)]
    order = sorted(others, key=lambda n: -np.nan_to_num(sim[n], nan=-2))[:k]
    votes: dict[str, list[tuple[str, float]]] = {}
    for n in order:
        for m in space.moas[space.compounds[n]]:
            votes.setdefault(m, []).append((space.compounds[n], float(sim[n])))
    own = space.moas.get(name, [])
    rows = [{"moa": m, "score": sum(max(s, 0.0) for _, s in nb), "neighbours": [f"{c} ({s:+.2f})" for c, s in nb],
             "annotated": m in own} for m, nb in votes.items()]
    table = pd.DataFrame(rows, columns=["moa", "score", "neighbours", "annotated"])
    return name, table.sort_values(["score", "moa"], ascending=[False, True]).reset_index(drop=True), own
