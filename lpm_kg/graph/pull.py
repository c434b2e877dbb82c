"""Reading in bulk out of the graph: every (perturbation, readout, context, value) tuple into NumPy,
and any match as a frame of columns (:func:`pull_columns`).

Tuples are held as compact arrays (int32 symbol ids and a float32 value, 16 bytes a tuple),
never as Python objects or string frames. The total size is counted first and the arrays are
allocated once, then filled while the experiments stream from the server, so nothing is held
twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lpm_kg.graph.connection import Graph


@dataclass
class TupleSet:
    perturbation: np.ndarray  # int32 ids into perturbations
    readout: np.ndarray  # int32 ids into readouts
    context: np.ndarray  # int32 ids into contexts
    value: np.ndarray  # float32
    perturbations: list[str]
    readouts: list[str]
    contexts: list[str]
    datasets: list[str]

    def __len__(self) -> int:
        return len(self.value)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.perturbation, self.readout, self.context, self.value))

    def rows(self, keep: np.ndarray) -> "TupleSet":
        """The tuples ``keep`` selects (a mask or indices), with the same vocabularies."""
        return TupleSet(self.perturbation[keep], self.readout[keep], self.context[keep], self.value[keep],
                        self.perturbations, self.readouts, self.contexts, self.datasets)

    def to_torch(self, device=None):
        import torch

        return tuple(torch.from_numpy(a).to(device) for a in (self.perturbation, self.readout, self.context, self.value))


def pull_columns(graph: Graph, match: str, columns: dict[str, str], params: dict | None = None) -> pd.DataFrame:
    """What ``match`` binds, as a frame with one column per ``columns`` entry (name -> a Cypher
    expression that is never null: ``collect`` drops nulls, so wrap nullable ones in ``coalesce``).
    One record of parallel lists: several times faster to decode than one record per row."""
    returns = ", ".join(f"collect({expr}) AS {name}" for name, expr in columns.items())
    row = graph.read(f"{match} RETURN {returns}", params)[0]
    lengths = {len(row[name]) for name in columns}
    if len(lengths) > 1:  # a column expression was null somewhere
        raise RuntimeError(f"pull_columns: columns of unequal length {sorted(lengths)}; coalesce nullable expressions")
    return pd.DataFrame({name: row[name] for name in columns})


def _complete_datasets(graph: Graph, datasets: list[str] | None) -> list[str]:
    rows = graph.read("MATCH (d:Dataset) WHERE d.status = 'complete' AND ($names IS NULL OR d.name IN $names) "
                      "AND EXISTS { (:Experiment)-[:IN_DATASET]->(d) } RETURN d.name AS name ORDER BY name",
                      {"names": datasets})
    found = [r["name"] for r in rows]
    if datasets is not None:
        missing = sorted(set(datasets) - set(found))
        if missing:
            raise ValueError(f"dataset(s) {', '.join(missing)} are not loaded completely with measurements; "
                             "check `lpm-kg status` and rerun their load")
    return found


def context_readouts(graph: Graph, context: str) -> list[str]:
    """The readouts measured in ``context`` by any experiment."""
    rows = graph.read("MATCH (e:Experiment {context: $c})-[:MEASURED_WITH]->(p:ReadoutPanel) "
                      "UNWIND p.readouts AS r RETURN DISTINCT r", {"c": context})
    return [r["r"] for r in rows]


def pull_tuples(graph: Graph, datasets: list[str] | None = None, *, fetch_size: int = 2_000,
                progress: Callable[[int], None] | None = None) -> TupleSet:
    """All measured tuples of the given (default: every complete) dataset(s)."""
    names = _complete_datasets(graph, datasets)
    meta = graph.read("MATCH (e:Experiment) WHERE e.dataset IN $names "
                      "RETURN collect(DISTINCT e.perturbation) AS p, collect(DISTINCT e.context) AS c, "
                      "collect(DISTINCT e.panel) AS panels, sum(e.n_measured) AS n", {"names": names})[0]
    # Panels by id: reading them through the experiments would fetch each panel once per experiment.
    panels = {r["id"]: r["readouts"] for r in graph.read(
        "MATCH (p:ReadoutPanel) WHERE p.id IN $ids RETURN p.id AS id, p.readouts AS readouts", {"ids": meta["panels"]})}
    readouts = sorted({r for rs in panels.values() for r in rs})
    r_index = {r: i for i, r in enumerate(readouts)}
    panel_ids = {pid: np.array([r_index[r] for r in rs], dtype=np.int32) for pid, rs in panels.items()}
    perturbations, contexts = sorted(meta["p"]), sorted(meta["c"])
    p_index = {p: i for i, p in enumerate(perturbations)}
    c_index = {c: i for i, c in enumerate(contexts)}
    total = int(meta["n"] or 0)

    pert = np.empty(total, np.int32)
    read = np.empty(total, np.int32)
    ctx = np.empty(total, np.int32)
    val = np.empty(total, np.float32)

    def fill(result) -> int:  # from the first slot: a retried read starts over
        at = 0
        for p, c, panel, v in result:
            arr = np.asarray(v, dtype=np.float32)
            keep = np.isfinite(arr)
            n = int(keep.sum())
            if at + n > total:
                raise RuntimeError("the graph changed during the pull (more values than counted); pull again")
            val[at:at + n] = arr[keep]
            read[at:at + n] = panel_ids[panel][keep]
            pert[at:at + n] = p_index[p]
            ctx[at:at + n] = c_index[c]
            at += n
            if progress:
                progress(n)
        return at

    at = graph.stream("MATCH (e:Experiment) WHERE e.dataset IN $names "
                      "RETURN e.perturbation AS p, e.context AS c, e.panel AS panel, e.values AS v",
                      {"names": names}, fill, fetch_size=fetch_size)
    if at != total:
        raise RuntimeError(f"expected {total} values but read {at}: the graph changed during the pull; pull again")
    return TupleSet(pert, read, ctx, val, perturbations, readouts, contexts, names)


def average_replicate_tuples(tuples: TupleSet) -> TupleSet:
    """Average tuples that share (perturbation, readout, context), as the LPM trains on them."""
    nr, nc = len(tuples.readouts), len(tuples.contexts)
    key = (tuples.perturbation.astype(np.int64) * nc + tuples.context) * nr + tuples.readout
    uniq, inverse = np.unique(key, return_inverse=True)
    if len(uniq) == len(key):
        return tuples
    sums = np.bincount(inverse, weights=tuples.value, minlength=len(uniq))
    counts = np.bincount(inverse, minlength=len(uniq))
    r = (uniq % nr).astype(np.int32)
    c = ((uniq // nr) % nc).astype(np.int32)
    p = (uniq // nr // nc).astype(np.int32)
    return TupleSet(p, r, c, (sums / counts).astype(np.float32), tuples.perturbations, tuples.readouts,
                    tuples.contexts, tuples.datasets)


def top_list_contexts(graph: Graph, datasets: list[str]) -> list[str]:
    """The contexts of ``datasets`` measured by top-list experiments (``value_kind`` top_*: only a
    perturbation's top genes carry a value)."""
    rows = graph.read("MATCH (e:Experiment) WHERE e.dataset IN $names AND e.value_kind STARTS WITH 'top_' "
                      "RETURN DISTINCT e.context AS c ORDER BY c", {"names": list(datasets)})
    return [r["c"] for r in rows]


def implicit_zeros(tuples: TupleSet, contexts: Sequence[str], ratio: float = 1.0, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The zeros a top list implies, as (perturbation, readout, context, value) arrays to add to
    ``tuples``: in each of ``contexts``, ``ratio`` times as many as the context's listed values (at
    most every unlisted pair), drawn uniformly among the (perturbation measured there, readout
    measured there) pairs not listed."""
    rng = np.random.default_rng(seed)
    n_r = len(tuples.readouts)
    parts = []
    for c in [tuples.contexts.index(x) for x in contexts if x in tuples.contexts]:
        m = tuples.context == c
        readouts, perts = np.unique(tuples.readout[m]), np.unique(tuples.perturbation[m])
        listed = np.unique(tuples.perturbation[m].astype(np.int64) * n_r + tuples.readout[m])
        want = min(int(ratio * m.sum()), len(readouts) * len(perts) - len(listed))
        keys = np.zeros(0, np.int64)
        while len(keys) < want:
            draw = rng.choice(perts, 2 * want).astype(np.int64) * n_r + rng.choice(readouts, 2 * want)
            keys = np.unique(np.concatenate([keys, draw[~np.isin(draw, listed)]]))
        keys = rng.permutation(keys)[:want]
        parts.append(((keys // n_r).astype(np.int32), (keys % n_r).astype(np.int32), np.full(len(keys), c, np.int32),
                      np.zeros(len(keys), np.float32)))
    if not parts:
        return tuple(np.zeros(0, t) for t in (np.int32, np.int32, np.int32, np.float32))
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(4))


def measured_profiles(graph: Graph, perturbations: list[str], datasets: list[str] | None, fetch_size: int = 500):
    """Per cell line: (readouts, {perturbation: mean measured profile with NaN where unmeasured})."""
    cell_of = {r["c"]: r["cell"] for r in graph.read(
        "MATCH (c:Context) RETURN c.symbol AS c, coalesce(c.cell_line, c.symbol) AS cell")}
    panels: dict[str, list[str]] = {}

    def accumulate(result):  # from scratch: a retried read starts over
        sums: dict[str, dict[str, dict[str, np.ndarray]]] = defaultdict(dict)
        counts: dict[str, dict[str, dict[str, np.ndarray]]] = defaultdict(dict)
        by_cell_panel: dict[str, set] = defaultdict(set)
        for p, c, panel, v in result:
            cell = cell_of.get(c, c)
            arr = np.asarray(v, dtype=np.float64)
            ok = np.isfinite(arr)
            key = (p, panel)
            slot = sums[cell].get(key)
            if slot is None:
                sums[cell][key] = np.where(ok, arr, 0.0)
                counts[cell][key] = ok.astype(np.float64)
            else:
                slot += np.where(ok, arr, 0.0)
                counts[cell][key] += ok
            by_cell_panel[cell].add(panel)
        return sums, counts, by_cell_panel

    sums, counts, by_cell_panel = graph.stream(
        "MATCH (e:Experiment) WHERE e.perturbation IN $perts AND ($datasets IS NULL OR e.dataset IN $datasets) "
        "RETURN e.perturbation AS p, e.context AS c, e.panel AS panel, e.values AS v",
        {"perts": perturbations, "datasets": datasets}, accumulate, fetch_size=fetch_size)
    if by_cell_panel:
        needed = sorted({p for ps in by_cell_panel.values() for p in ps})
        panels = {r["id"]: r["readouts"] for r in graph.read(
            "MATCH (p:ReadoutPanel) WHERE p.id IN $ids RETURN p.id AS id, p.readouts AS readouts", {"ids": needed})}
    out = {}
    for cell, entries in sums.items():
        readouts = sorted({r for pid in by_cell_panel[cell] for r in panels[pid]})
        r_index = {r: i for i, r in enumerate(readouts)}
        pos = {pid: np.array([r_index[r] for r in panels[pid]], dtype=np.int64) for pid in by_cell_panel[cell]}
        total: dict[str, np.ndarray] = {}
        n: dict[str, np.ndarray] = {}
        for (p, pid), s in entries.items():
            if p not in total:
                total[p], n[p] = np.zeros(len(readouts)), np.zeros(len(readouts))
            np.add.at(total[p], pos[pid], s)
            np.add.at(n[p], pos[pid], counts[cell][(p, pid)])
        with np.errstate(invalid="ignore", divide="ignore"):
            out[cell] = (readouts, {p: np.where(n[p] > 0, total[p] / np.maximum(n[p], 1), np.nan) for p in total})
    return out
