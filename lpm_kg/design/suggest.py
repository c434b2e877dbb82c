"""``lpm-kg suggest``: rank the (perturbation, context) pairs no experiment has measured by what
measuring them is expected to teach the run's model, and store the batch as a SuggestionPlan.

Candidates are every perturbation the run can predict (those it trained on, and with a graph run
those it knows only through the graph's priors, when the user lists them as available) in every
context it knows, less the pairs measured in the graph. Each is predicted over its context's
readouts; the seeds' spread is its uncertainty and the predicted profiles say which candidates are
related (:mod:`lpm_kg.design.strategies`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from lpm_kg.design.learner import disagreement
from lpm_kg.design.strategies import DEFAULT_STRATEGY, Candidates, get_strategy, relatedness
from lpm_kg.errors import ConfigError
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.pull import context_readouts
from lpm_kg.graph.suggestions import measured_pairs, perturbation_info, perturbations_of, write_plan
from lpm_kg.model.vocab import UnknownSymbolError
from lpm_kg.run_ids import derived_run_id

N_REASONS = 5  # uncertain readouts and related pairs kept per suggestion
N_REFERENCE = 64  # trained perturbations in each context's baseline of the seeds' disagreement


def _reference(lpm, perturbations: list[str], readouts: list[str], context: str) -> np.ndarray | None:
    if not perturbations:
        return None
    triples = (np.repeat(perturbations, len(readouts)).tolist(), readouts * len(perturbations),
               [context] * (len(perturbations) * len(readouts)))
    return lpm.seed_predictions(*triples).reshape(-1, len(perturbations), len(readouts))


class SuggestSettings(BaseModel):
    """What one ``lpm-kg suggest`` call asks for; stored on its plan (and part of its id)."""

    strategy: str = DEFAULT_STRATEGY
    batch: int = Field(12, ge=1, description="experiments in the batch")
    budget: int | None = Field(None, ge=1, description="at most this many experiments in one context")
    contexts: list[str] | None = Field(None, description="only these contexts (default: every one the run knows)")
    kinds: list[str] = Field(default_factory=lambda: ["genetic", "chemical"])
    available: list[str] | None = Field(None, description="only these perturbations (symbols, genes or compounds)")
    k: int = Field(10, ge=1)
    cross_context: float = Field(0.5, ge=0, le=1)
    seed: int = 0


@dataclass
class Plan:
    plan_id: str
    run_id: str
    settings: SuggestSettings
    table: pd.DataFrame  # the batch: rank, perturbation, context, score, uncertainty, reasons
    candidates: pd.DataFrame  # every candidate: perturbation, context, uncertainty, related_uncertainty, rank (0: not proposed)
    skipped: dict[str, str] = field(default_factory=dict)  # perturbation -> why it is not a candidate


def _available(graph: Graph, names: Sequence[str], methods: Sequence[str]) -> list[str]:
    """The perturbation symbols a user's list designates. A gene no perturbation of the graph
    targets becomes its knock-down by each genetic ``method`` the run trained on (the graph LPM
    predicts it from the gene's priors); any other unknown name is kept as written, and reported
    if the model cannot predict it."""
    found = perturbations_of(graph, names)
    out: list[str] = []
    for name in names:
        out += found.get(name) or ([f"{m}_{name}" for m in methods] if "_" not in name and methods else [name])
    return list(dict.fromkeys(out))


def _predictable(model, symbols: list[str], context: str, readout: str) -> tuple[list[str], dict[str, str]]:
    ok, skipped = [], {}
    for s in symbols:
        try:
            model.predict([s], [readout], [context])
            ok.append(s)
        except (UnknownSymbolError, KeyError, ValueError) as exc:
            skipped[s] = str(exc).splitlines()[0]
    return ok, skipped


def suggest(graph: Graph, run: dict, model, settings: SuggestSettings, *, write: bool = True) -> Plan:
    strategy = get_strategy(settings.strategy)
    vocab = model.vocab
    lpm = getattr(model, "primary", model)  # the stacked default's LPM (its graph LPM when it has one)
    contexts = settings.contexts or list(vocab.contexts)
    unknown = [c for c in contexts if c not in vocab.contexts]
    if unknown:
        raise ConfigError(f"the run {run['run_id']} never trained in context(s) {', '.join(unknown)}; it knows "
                          f"{', '.join(vocab.contexts)}")
    known_readouts = set(vocab.readouts)
    readouts = {c: [r for r in context_readouts(graph, c) if r in known_readouts] or list(vocab.readouts)
                for c in contexts}
    trained = [p for p in vocab.perturbations if "+" not in p]
    skipped: dict[str, str] = {}
    if settings.available:
        methods = sorted({p.split("_", 1)[0] for p in trained if "_" in p})
        pool = _available(graph, settings.available, methods)
        known = set(vocab.perturbations)
        new = [p for p in pool if p not in known]
        some = next(((c, rs[0]) for c, rs in readouts.items() if rs), None)
        if new and some:
            ok, skipped = _predictable(model, new, *some)
            pool = [p for p in pool if p in known or p in ok]
        trained = pool
    measured = measured_pairs(graph)
    info = perturbation_info(graph, set(trained) | {p for p, _ in measured})
    kind = lambda p: info.get(p, {}).get("kind") or ("genetic" if "_" in p else "chemical")  # noqa: E731
    # A context is a screen of one kind (its symbol names the modality): a compound is no candidate
    # in a CRISPRi screen of the same cells.
    screens: dict[str, set[str]] = {}
    for p, c in measured:
        screens.setdefault(c, set()).add(kind(p))
    perts = [p for p in trained if kind(p) in settings.kinds]
    pairs = [(p, c) for p in perts for c in contexts
             if (p, c) not in measured and kind(p) in screens.get(c, {kind(p)})]
    if not pairs:
        raise ConfigError("every candidate (perturbation, context) is measured already: widen --context, --kind "
                          "or --available")
    # Perturbations measured in a context, whose predictions there join the candidates' in each
    # seed's baseline (a seeded sample: a baseline estimate, not an evaluation).
    rng = np.random.default_rng(settings.seed)
    learned = set(vocab.perturbations)
    reference = {c: [str(p) for p in rng.permutation(sorted(p for p, c2 in measured if c2 == c and p in learned))
                     [:N_REFERENCE]] for c in contexts}
    p_codes = {p: i for i, p in enumerate(dict.fromkeys(p for p, _ in pairs))}
    c_codes = {c: i for i, c in enumerate(contexts)}
    pair_p = np.array([p_codes[p] for p, _ in pairs])
    pair_c = np.array([c_codes[c] for _, c in pairs])
    uncertainty = np.zeros(len(pairs))
    profiles, top_readouts = {}, {}
    for c, ci in c_codes.items():
        idx = np.flatnonzero(pair_c == ci)
        if not len(idx):
            continue
        reads = readouts[c]
        ps = [pairs[i][0] for i in idx]
        triples = (np.repeat(ps, len(reads)).tolist(), reads * len(ps), [c] * (len(ps) * len(reads)))
        mean = model.predict(*triples)[0].reshape(len(idx), len(reads))
        # The seeds' disagreement on each candidate's effect, as the acquisition benchmark measured it
        # (the stack's weighted spread has no seeds to centre; its LPM's seeds do).
        std = disagreement(lpm.seed_predictions(*triples).reshape(-1, len(idx), len(reads)),
                           _reference(lpm, reference[c], reads, c))
        uncertainty[idx] = std.mean(axis=1)
        profiles[ci] = (idx, mean)
        for j, i in enumerate(idx):
            top = np.argsort(-std[j], kind="stable")[:N_REASONS]
            top_readouts[int(i)] = [f"{reads[t]} (std {std[j, t]:.3g})" for t in top]
    if strategy.needs_disagreement and not np.any(uncertainty > 0):
        raise ConfigError(f"run {run['run_id']} has one seed: its seeds cannot disagree, so strategy "
                          f"{settings.strategy} cannot rank the candidates; retrain with several (model overrides "
                          "seeds = [13, 14, 15]) or pass --strategy coverage or random")
    related = relatedness(pair_p, pair_c, profiles, k=settings.k, cross_context=settings.cross_context)
    n_measured = Counter(pert for pert, _ in measured)  # in how many contexts each perturbation is measured
    cands = Candidates(pair_p, pair_c, uncertainty, related,
                       measured=np.array([n_measured[pert] for pert, _ in pairs], np.int64))
    picks = strategy.select(cands, settings.batch, budget=settings.budget, seed=settings.seed)

    rows = []
    for pick in picks:
        row = related.getrow(pick.index)
        order = np.argsort(-row.data, kind="stable")[:N_REASONS]
        rows.append({"rank": pick.rank, "perturbation": pairs[pick.index][0], "context": pairs[pick.index][1],
                     "score": pick.score, "uncertainty": float(uncertainty[pick.index]),
                     "uncertain_readouts": top_readouts.get(pick.index, []),
                     "related": [f"{pairs[row.indices[o]][0]} @ {pairs[row.indices[o]][1]} "
                                 f"(weight {row.data[o]:.2f})" for o in order]})
    table = pd.DataFrame(rows, columns=["rank", "perturbation", "context", "score", "uncertainty",
                                        "uncertain_readouts", "related"])
    rank = np.zeros(len(pairs), int)
    for pick in picks:
        rank[pick.index] = pick.rank
    every = pd.DataFrame({"perturbation": [p for p, _ in pairs], "context": [c for _, c in pairs],
                          "uncertainty": uncertainty, "related_uncertainty": related @ uncertainty, "rank": rank})
    plan_id = derived_run_id("plan", run["run_id"], settings.model_dump_json())
    if write:
        write_plan(graph, {"id": plan_id, "run_id": run["run_id"], "strategy": settings.strategy,
                           "settings": settings.model_dump(), "n_candidates": len(pairs)},
                   table.to_dict(orient="records"))
    return Plan(plan_id, run["run_id"], settings, table, every, skipped)
