"""Mechanism of action from the shared perturbation space (docs/lpm-model.md, "Discovery tasks").

Compounds and genetic perturbations share the LPM's perturbation (P) embedding space, so a
compound's nearest genetic perturbations name candidate targets (a statin next to the HMGCR
knockdown). This module asks that question of the graph and scores it:

* :func:`lpm_kg.graph.embeddings.nearest_genetic` (the graph layer, where its Cypher lives): a
  compound perturbation's ``k`` nearest genetic perturbations, with their target genes, in one
  Cypher call on the vector index ``perturbation_embedding`` (exact on a stored run).
* :func:`moa_recall`: over compound perturbations with annotated targets
  (``(Compound)-[:HAS_TARGET]->(Gene)``, any annotation dataset) that have a genetic perturbation
  of at least one target among the candidates, how often the annotated targets come up among the
  ``k`` nearest genetic perturbations, for these methods scored on the same compounds and the
  same candidates in the same call:

  - ``lpm-embedding``: cosine of a run's perturbation embeddings (exact, in NumPy; the same
    ranking :func:`nearest_genetic` gets from the index, up to the index's approximation). Several
    runs can be scored side by side; a graph-informed run is ``graph-lpm-embedding`` (see
    :func:`embedding_method`), and two runs of one kind are told apart by their run ids. A run whose
    compound priors were built from ``HAS_TARGET`` is *circular* (the targets it is asked to find are
    an input of the compound's embedding): it is scored, and the note says so;
  - ``raw-signature``: cosine of the measured profiles over shared readouts, per cell line both
    were measured in (experiments of one perturbation in one cell line averaged), averaged over
    those cell lines; a pair with no shared cell line (or fewer than ``min_shared_readouts``
    readouts measured in both) cannot be compared and ranks last;
  - ``lpm-predicted`` (asked for with a loaded model): cosine of the profiles the model predicts
    for the compound and the genetic perturbation in every context it knows, each kind centred
    per context, averaged (:func:`predicted_cosine`). Unlike raw signatures it compares pairs
    never measured in one cell line;
  - ``random``: the exact expectation of a uniformly random ranking of the candidates.

  Two numbers per (method, k): ``recall``, the fraction of compounds with at least one annotated
  target among their k nearest genetic perturbations (a hit), and ``target_recall``, the mean over
  compounds of the fraction of their (evaluable) targets found in the top k. Ties rank
  pessimistically (a target tied with others takes the worst of their places).

The candidates are the genetic perturbations measured in the runs' datasets that every run embeds
(without a run: every measured genetic perturbation, and no embedding is scored). A compound is
evaluated when it is measured in those datasets, embedded by every run, and at least one of its
targets is the gene of a candidate; the targets counted are those that are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lpm_kg.discovery.inference import cosine_matrix, shared_cosine
from lpm_kg.discovery.predicted_profiles import N_NULL, predicted_similarity, target_rank_test, target_ranks
from lpm_kg.errors import LpmKgError, MoaError
from lpm_kg.graph.compounds import measured_perturbations
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.embeddings import current_embedding_run, read_embeddings
from lpm_kg.graph.pull import context_readouts, measured_profiles
from lpm_kg.graph.runs import WritebackError, get_model_run, json_default, merge_run_metrics
from lpm_kg.jsonsafe import json_safe
from lpm_kg.model.config import LPMConfig
from lpm_kg.training import TrainConfig

METHODS = ("lpm-embedding", "raw-signature", "random")
DEFAULT_K = (1, 5, 10, 20)

# --------------------------------------------------------------------------- the evaluation set

@dataclass
class _EvalSet:
    runs: list[str]
    datasets: list[str] | None
    compounds: list[str]  # chemical perturbation symbols evaluated
    compound_names: list[str]
    targets: list[list[str]]  # each compound's evaluable targets
    annotated: list[list[str]]  # each compound's annotated targets (all)
    genetic: list[str]  # candidate genetic perturbations
    genetic_gene: list[str]
    note: str | None


def _evaluation_set(graph: Graph, runs: list[str]) -> _EvalSet:
    datasets = None
    embedded: set[str] | None = None
    for run in runs:
        info = get_model_run(graph, run)
        if info is None:
            raise MoaError(f"there is no model run {run!r}; `lpm-kg status` lists the runs")
        names = list(info.get("datasets") or [])
        if names:
            datasets = sorted(set(datasets or []) | set(names))
        symbols, _ = read_embeddings(graph, run, "perturbations")
        if not symbols:
            raise MoaError(f"model run {run!r} holds no perturbation embeddings; write them back first")
        embedded = set(symbols) if embedded is None else embedded & set(symbols)
    measured = measured_perturbations(graph, datasets)
    genetic = [(r["symbol"], r["gene"]) for r in measured if r["kind"] == "genetic" and r["gene"]
               and (embedded is None or r["symbol"] in embedded)]
    genes = {g for _, g in genetic}
    chemical = [r for r in measured if r["kind"] == "chemical"]
    annotated = [r for r in chemical if r["targets"]]
    kept = [r for r in annotated if (embedded is None or r["symbol"] in embedded)
            and any(t in genes for t in r["targets"])]
    note = None
    where = (f"model run{'s' if len(runs) > 1 else ''} {', '.join(map(repr, runs))}'s datasets "
             f"({', '.join(datasets)})") if datasets else "the graph"
    if not kept:
        if not chemical:
            why = f"{where} hold no measured compound perturbations"
        elif not annotated:
            why = (f"none of the {len(chemical)} measured compound perturbations in {where} has an annotated target; "
                   "load compound annotations (repurposing-hub, lincs-compounds)")
        elif not genetic:
            why = f"{where} hold no measured genetic perturbation{'' if embedded is None else ' the runs embed'}"
        else:
            why = (f"no annotated target of the {len(annotated)} annotated compound perturbations in {where} is "
                   f"the target of one of the {len(genetic)} genetic perturbations measured there")
        note = f"no compound can be evaluated: {why}"
    return _EvalSet(list(runs), datasets, [r["symbol"] for r in kept], [r["compound"] for r in kept],
                    [sorted(t for t in r["targets"] if t in genes) for r in kept],
                    [sorted(r["targets"]) for r in kept], [s for s, _ in genetic], [g for _, g in genetic], note)


# --------------------------------------------------------------------------- similarities

def compound_embedding_cosine(graph: Graph, run: str, compounds: list[str], genetic: list[str]) -> np.ndarray:
    """Cosine [n_compounds, n_genetic] of a run's perturbation embeddings (NaN for a zero vector)."""
    symbols, vectors = read_embeddings(graph, run, "perturbations")
    index = {s: i for i, s in enumerate(symbols)}
    if not compounds or not genetic:
        return np.zeros((len(compounds), len(genetic)))
    return cosine_matrix(vectors[[index[s] for s in compounds]], vectors[[index[s] for s in genetic]])


def predicted_cosine(graph: Graph, model, compounds: list[str], genetic: list[str], progress=None) -> np.ndarray:
    """Cosine [n_compounds, n_genetic] of the profiles ``model`` predicts for both kinds in every
    context it knows, over the readouts measured there (lpm_kg.discovery.predicted_profiles): the
    pair is compared where neither or only one was measured. A perturbation the model never saw
    gets NaN (it ranks last)."""
    v = model.vocab
    known = set(v.perturbations)
    ci = [i for i, s in enumerate(compounds) if s in known]
    gi = [j for j, s in enumerate(genetic) if s in known]
    out = np.full((len(compounds), len(genetic)), np.nan)
    readouts = set(v.readouts)
    contexts = [(v.ids("contexts", [c])[0], v.ids("readouts", [r for r in context_readouts(graph, c) if r in readouts]))
                for c in v.contexts]
    contexts = [(c, r) for c, r in contexts if len(r)]
    if ci and gi and contexts:
        sim, _ = predicted_similarity(model.predict_ids, v.ids("perturbations", [compounds[i] for i in ci]),
                                      v.ids("perturbations", [genetic[j] for j in gi]), contexts, progress=progress)
        out[np.ix_(ci, gi)] = sim
    return out


def signature_similarity(graph: Graph, compounds: list[str], genetic: list[str], datasets: list[str] | None = None,
                         min_shared_readouts: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Cosine [n_compounds, n_genetic] of measured profiles over the readouts measured in both,
    per shared cell line, averaged over the cell lines where both were measured (with at least
    ``min_shared_readouts`` readouts in common); NaN where there is none. Also returns the number
    of cell lines averaged per pair."""
    sim_sum = np.zeros((len(compounds), len(genetic)))
    n_cells = np.zeros((len(compounds), len(genetic)), dtype=np.int64)
    if not compounds or not genetic:
        return sim_sum, n_cells
    profiles = measured_profiles(graph, sorted(set(compounds) | set(genetic)), datasets)
    for _, (readouts, prof) in profiles.items():
        ci = [i for i, s in enumerate(compounds) if s in prof]
        gi = [j for j, s in enumerate(genetic) if s in prof]
        if not ci or not gi:
            continue
        a = np.array([prof[compounds[i]] for i in ci])
        b = np.array([prof[genetic[j]] for j in gi])
        used = np.isfinite(a).any(axis=0) & np.isfinite(b).any(axis=0)  # readouts both sides measured
        cos = shared_cosine(a[:, used], b[:, used], min_shared_readouts)
        valid = np.isfinite(cos)
        rows, cols = np.ix_(ci, gi)
        sim_sum[rows, cols] += np.where(valid, cos, 0.0)
        n_cells[rows, cols] += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(n_cells > 0, sim_sum / np.maximum(n_cells, 1), np.nan)
    return sim, n_cells


# --------------------------------------------------------------------------- ranks and recall

def _p_none_in_top(n: int, m: int, k: int) -> float:
    """P(none of m given candidates among the top k of n in a uniformly random order)."""
    if k >= n or m <= 0:
        return 0.0 if m > 0 else 1.0
    if m > n - k:
        return 0.0
    p = 1.0  # C(n - m, k) / C(n, k) = prod_{i < m} (n - k - i) / (n - i)
    for i in range(m):
        p *= (n - k - i) / (n - i)
    return p


def embedding_method(graph: Graph, run: str) -> tuple[str, bool]:
    """The method name a run's embeddings are scored under (``lpm-embedding`` for the paper's LPM,
    ``graph-lpm-embedding`` for the graph-informed one) and whether they are circular for this
    evaluation (its compound priors use ``HAS_TARGET``, the very annotation scored)."""
    info = get_model_run(graph, run) or {}
    try:  # the settings the run resolved to; a run from before they were stored: its preset today
        resolved = info.get("resolved_config")
        priors = (LPMConfig(**resolved) if resolved else TrainConfig(**(info.get("config") or {})).lpm_config()).priors
    except (ValueError, TypeError, LpmKgError):  # not a sync's config: scored as the paper's LPM
        priors = None
    if priors is None:
        return "lpm-embedding", False
    return "graph-lpm-embedding", "HAS_TARGET" in priors.annotations


def _run_methods(graph: Graph, runs: list[str]) -> tuple[list[str], list[str]]:
    """Per run its method name (made unique with the run id where two runs are of one kind), and
    the circular ones."""
    named = [embedding_method(graph, run) for run in runs]
    counts = pd.Series([m for m, _ in named]).value_counts() if named else pd.Series(dtype=int)
    methods = [f"{m}:{run}" if counts[m] > 1 else m for (m, _), run in zip(named, runs)]
    return methods, [m for m, (_, circular) in zip(methods, named) if circular]


def moa_ranks(graph: Graph, run: str | list[str] | None = None, *, min_shared_readouts: int = 10,
              predicted=None, n_null: int = N_NULL, progress=None) -> pd.DataFrame:
    """Per evaluated compound perturbation: its compound, evaluable and annotated targets, the
    number of candidate genetic perturbations of its targets, and per scored method its best
    target rank (``rank:<method>``; 1 = nearest) and per-target ranks (``target_ranks:<method>``:
    gene -> rank). ``run``: one run or several, scored on the same compounds and candidates
    (default: the run of the current embeddings). ``attrs`` hold ``run`` (the first), ``runs``,
    ``methods`` (scored, in order, random last), ``circular`` (methods whose compound embeddings
    were built from the annotated targets), ``n_genetic``, ``genetic`` and ``note`` (why nothing
    could be evaluated, or None). ``predicted``: (run id, its loaded model) to score also as
    ``lpm-predicted`` (:func:`predicted_cosine`). ``attrs["significance"]``: per scored method the
    mean best-target-rank share and its p against ``n_null`` shuffles of the candidates' genes
    (:func:`lpm_kg.discovery.predicted_profiles.target_rank_test`)."""
    if run is None:
        runs = [r for r in [current_embedding_run(graph)] if r is not None]
    else:
        runs = [run] if isinstance(run, str) else list(dict.fromkeys(run))
    ev = _evaluation_set(graph, runs)
    n = len(ev.genetic)
    methods, circular = _run_methods(graph, runs)
    scores = {m: compound_embedding_cosine(graph, r, ev.compounds, ev.genetic) for m, r in zip(methods, runs)}
    raw, n_cells = signature_similarity(graph, ev.compounds, ev.genetic, ev.datasets, min_shared_readouts)
    scores["raw-signature"] = raw
    if predicted is not None:
        scores["lpm-predicted"] = predicted_cosine(graph, predicted[1], ev.compounds, ev.genetic, progress)
    genes = np.asarray(ev.genetic_gene, dtype=object)
    rows = []
    for i, symbol in enumerate(ev.compounds):
        targets = ev.targets[i]
        m_per = {t: int((genes == t).sum()) for t in targets}
        row = {"perturbation": symbol, "compound": ev.compound_names[i], "targets": targets,
               "annotated_targets": ev.annotated[i], "n_target_perturbations": sum(m_per.values()),
               "target_perturbations": m_per}
        for method, sim in scores.items():
            ranks = target_ranks(sim[i], ev.genetic_gene, targets)
            row[f"rank:{method}"] = min(ranks.values())
            row[f"target_ranks:{method}"] = ranks
        rows.append({**row, "n_comparable_raw": int(np.isfinite(raw[i]).sum()),
                     "n_shared_cell_lines": int(n_cells[i].max()) if n else 0})
    columns = ["perturbation", "compound", "targets", "annotated_targets", "n_target_perturbations",
               "target_perturbations", *[f"{c}:{m}" for m in scores for c in ("rank", "target_ranks")],
               "n_comparable_raw", "n_shared_cell_lines"]
    frame = pd.DataFrame(rows, columns=columns)
    significance = {}
    for method, sim in (scores.items() if len(ev.compounds) else ()):
        test = target_rank_test(method, sim, ev.genetic_gene, ev.targets, n_null=n_null)
        significance[method] = {"mean_rank_share": test.mean_share, "null_mean": test.null_mean, "p": test.p,
                                "n_null": n_null}
    notes = [ev.note] if ev.note else []
    if not runs:
        notes.append("no model run holds perturbation embeddings: no embedding is scored (train and write back "
                     "one with `lpm-kg sync`)")
    if circular:
        notes.append(f"{', '.join(circular)}: circular, the run's compound priors come from the HAS_TARGET "
                     "annotations scored here; train with priors.annotations = [\"HAS_MOA\"] to score discovery")
    frame.attrs.update({"run": runs[0] if runs else None, "runs": runs, "methods": [*scores, "random"],
                        "circular": circular, "datasets": ev.datasets, "n_genetic": n, "genetic": list(ev.genetic),
                        "predicted_run": predicted[0] if predicted is not None else None,
                        "significance": significance,
                        "note": "; ".join(notes) or None})
    return frame


def recall_table(ranks: pd.DataFrame, k_values=DEFAULT_K) -> pd.DataFrame:
    """The tidy recall table of :func:`moa_ranks`' output: method, k, recall, target_recall,
    n_compounds, n_genetic."""
    n = int(ranks.attrs.get("n_genetic", 0))
    methods = ranks.attrs.get("methods") or ["raw-signature", "random"]
    nc = len(ranks)
    out = []
    for k in sorted({int(k) for k in k_values}):
        if k < 1:
            raise MoaError(f"k must be at least 1, not {k}")
        for method in methods:
            if nc == 0:
                hit = per_target = float("nan")
            elif method == "random":
                hit = float(np.mean([1 - _p_none_in_top(n, r.n_target_perturbations, k) for r in ranks.itertuples()]))
                per_target = float(np.mean([np.mean([1 - _p_none_in_top(n, m, k)
                                                     for m in r.target_perturbations.values()])
                                            for r in ranks.itertuples()]))
            else:
                col = ranks[f"target_ranks:{method}"]
                hit = float(np.mean([min(tr.values()) <= k for tr in col]))
                per_target = float(np.mean([np.mean([v <= k for v in tr.values()]) for tr in col]))
            out.append({"method": method, "k": k, "recall": hit, "target_recall": per_target, "n_compounds": nc,
                        "n_genetic": n})
    table = pd.DataFrame(out, columns=["method", "k", "recall", "target_recall", "n_compounds", "n_genetic"])
    keys = ("run", "runs", "predicted_run", "methods", "circular", "datasets", "n_genetic", "note", "significance")
    table.attrs.update({key: ranks.attrs.get(key) for key in keys})
    table.attrs["n_compounds"] = nc
    table.attrs["n_distinct_compounds"] = int(ranks["compound"].nunique()) if nc else 0
    table.attrs["metrics"] = {
        "recall": "fraction of compound perturbations with at least one annotated target among the k nearest "
                  "genetic perturbations",
        "target_recall": "mean over compound perturbations of the fraction of their targets (those with a genetic "
                         "perturbation among the candidates) found among the k nearest",
        "random": "exact expectation under a uniformly random ranking of the same candidates (k / n_genetic "
                  "for one target with one perturbation)",
        "significance": "per method: the mean over compounds of the best target rank as a share of the candidates "
                        "(lower is better), the mean of the same over shuffles of the candidates' genes, and the "
                        "one-sided p of the shuffles doing at least as well"}
    return table


def moa_recall(graph: Graph, k_values=DEFAULT_K, run: str | list[str] | None = None, *,
               min_shared_readouts: int = 10, predicted=None, progress=None) -> pd.DataFrame:
    """Recall of annotated targets among the k nearest genetic perturbations, for the embeddings
    of one or several runs, the raw measured signatures and a random ranking, on the same compounds
    and candidates (see the module docstring). ``run`` defaults to the run of the current embeddings.

    Returns the tidy table ``method, k, recall, target_recall, n_compounds, n_genetic``; its
    ``attrs`` hold ``run``, ``runs``, ``methods``, ``circular``, ``n_compounds``,
    ``n_distinct_compounds``, ``n_genetic``, ``metrics`` (what each column means) and ``note``: None,
    or why nothing (or no embedding) could be scored, and which methods are circular. With no
    compound to evaluate, every recall is NaN, ``n_compounds`` is 0 and ``note`` says why.
    """
    ranks = moa_ranks(graph, run, min_shared_readouts=min_shared_readouts, predicted=predicted, progress=progress)
    return recall_table(ranks, k_values)


def table_to_json(table: pd.DataFrame) -> dict:
    """The recall table and its attrs as JSON-safe data (NaN as None)."""
    rows = json_safe(table.to_dict(orient="records"))
    meta = {k: table.attrs.get(k) for k in ("run", "runs", "predicted_run", "methods", "circular", "datasets",
                                             "n_compounds", "n_distinct_compounds", "n_genetic", "note", "metrics",
                                             "significance")}
    return {**json_safe(meta), "rows": rows}


# --------------------------------------------------------------------------- model-run metrics

def update_run_metrics(graph: Graph, run_id: str, updates: dict) -> dict:
    """Merge ``updates`` into a ModelRun's ``metrics`` (top-level keys replaced, the others kept);
    see :func:`lpm_kg.graph.runs.merge_run_metrics`. Returns the merged metrics."""
    payload = json.loads(json.dumps(updates, default=json_default, allow_nan=True))
    try:
        return merge_run_metrics(graph, run_id, payload)
    except WritebackError as exc:
        raise MoaError(str(exc)) from None
