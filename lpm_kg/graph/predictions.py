"""A model run's predictions in the graph.

Predictions are stored like measurements: ``(:PredictedExperiment {id: '<run>:<perturbation>@<context>',
run, perturbation, context, panel, values, std, n_readouts})``, with ``values`` and ``std`` float arrays
aligned with the ``readouts`` of a ReadoutPanel, ``-[:PREDICTED_BY]->(ModelRun)``,
``-[:OF_PERTURBATION]->(Perturbation)``, ``-[:IN_CONTEXT]->(Context)``,
``-[:MEASURED_WITH]->(ReadoutPanel)`` and ``-[:PREDICTS {value, std, rank}]->(Readout)`` for the
``top_k`` largest predicted |values|, rank 1 strongest. The measured ``CHANGES`` and the predicted
``PREDICTS`` never share a relationship type.

Writing is idempotent: a PredictedExperiment is MERGEd on its id and its relationships replaced.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from lpm_kg.graph.connection import Graph
from lpm_kg.graph.embeddings import missing_symbols
from lpm_kg.graph.runs import WritebackError, check_run_id, require_run
from lpm_kg.graph.write import VALUES_PER_TX, _Values, panel_id
from lpm_kg.jsonsafe import json_safe

PREDICTION_COLUMNS = ("perturbation", "context", "readout", "value", "std")


def _validate_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise WritebackError(f"the predictions lack column(s) {', '.join(missing)}; "
                             f"they need {', '.join(PREDICTION_COLUMNS)}")
    frame = predictions[list(PREDICTION_COLUMNS)].copy()
    for col in ("perturbation", "context", "readout"):
        if frame[col].isna().any():
            raise WritebackError(f"the predictions' {col} column has empty entries")
        frame[col] = frame[col].astype(str)
    for col in ("value", "std"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(np.float64)
    if not np.isfinite(frame["value"].to_numpy()).all():
        raise WritebackError("the predictions hold missing, NaN or infinite values; predict them again or drop them")
    std = frame["std"].to_numpy()
    if (np.isinf(std) | (std < 0)).any():
        raise WritebackError("the predictions hold negative or infinite std (NaN is allowed: unknown)")
    dup = frame.duplicated(["perturbation", "context", "readout"])
    if dup.any():
        first = frame[dup].iloc[0]
        raise WritebackError(f"the predictions hold {int(dup.sum())} repeated (perturbation, context, readout) "
                             f"rows, e.g. ({first.perturbation}, {first.context}, {first.readout}); keep one each")
    return frame


def write_predictions(graph: Graph, run_id: str, predictions: pd.DataFrame, top_k: int = 25) -> dict:
    """Store a run's predictions, one PredictedExperiment per (perturbation, context) (see the
    module docstring). Its readouts, in the order they first appear in ``predictions``, are its
    ReadoutPanel: predictions made in a measured panel's order share that panel.

    Every perturbation, context and readout must be a node of the graph. Writing a
    (perturbation, context) again replaces its prediction; the run's other predictions stay, so
    large prediction sets can be written in parts. Returns counts and ``seconds``.
    """
    check_run_id(run_id)
    require_run(graph, run_id)
    frame = _validate_predictions(predictions)
    for col, label in (("perturbation", "Perturbation"), ("context", "Context"), ("readout", "Readout")):
        absent = missing_symbols(graph, label, frame[col].unique().tolist())
        if absent:
            raise WritebackError(f"{len(absent)} {col}(s) of the predictions are not in the graph, e.g. "
                                 f"{', '.join(map(repr, absent[:3]))}; predictions must name loaded {label} nodes")

    started = time.perf_counter()
    pair_codes, pairs = pd.MultiIndex.from_frame(frame[["perturbation", "context"]]).factorize()
    order = np.argsort(pair_codes, kind="stable")  # keeps each group's readouts in input order
    bounds = np.flatnonzero(np.diff(pair_codes[order])) + 1
    readouts = frame["readout"].to_numpy()[order]
    values = frame["value"].to_numpy()[order]
    stds = frame["std"].to_numpy()[order]
    starts = np.concatenate([[0], bounds]) if len(order) else np.array([], int)
    stops = np.concatenate([bounds, [len(order)]]) if len(order) else np.array([], int)

    panels: dict[tuple[str, ...], str] = {}
    rows: list[dict] = []
    for g, (a, b) in enumerate(zip(starts, stops)):
        pert, ctx = pairs[pair_codes[order[a]]]
        panel = tuple(readouts[a:b])
        pid = panels.setdefault(panel, panel_id(list(panel)))
        v, s = values[a:b], stds[a:b]
        top = np.argsort(-np.abs(v), kind="stable")[:max(0, top_k)]
        rows.append({"id": f"{run_id}:{pert}@{ctx}", "p": pert, "c": ctx, "panel": pid,
                     "values": _Values(v.tolist()), "std": _Values(s.tolist()),
                     "top": [{"r": panel[j], "v": float(v[j]), "s": json_safe(s[j]), "k": n + 1}
                             for n, j in enumerate(top)]})
    for readout_list, pid in panels.items():
        graph.query("MERGE (p:ReadoutPanel {id: $id}) SET p.readouts = $readouts, p.size = size($readouts)",
                    {"id": pid, "readouts": list(readout_list)})

    done = 0
    while done < len(rows):
        # About VALUES_PER_TX floats (values and std) per transaction, as the measurement writes.
        budget, stop = 0, done
        while stop < len(rows) and (stop == done or budget + 2 * len(rows[stop]["values"]) <= VALUES_PER_TX):
            budget += 2 * len(rows[stop]["values"])
            stop += 1
        graph.write_tx(_write_prediction_batch, rows[done:stop], run_id)
        done = stop
    return {"n_predicted_experiments": len(rows), "n_predictions": len(frame), "n_panels": len(panels),
            "seconds": time.perf_counter() - started}


def _write_prediction_batch(tx, rows, run_id):
    tx.run("MATCH (run:ModelRun {run_id: $run}) "
           "UNWIND $rows AS row "
           "MERGE (e:PredictedExperiment {id: row.id}) "
           "SET e.run = $run, e.perturbation = row.p, e.context = row.c, e.panel = row.panel, "
           "    e.values = row.values, e.std = row.std, e.n_readouts = size(row.values) "
           "WITH run, e, row "
           "MATCH (p:Perturbation {symbol: row.p}), (c:Context {symbol: row.c}), (panel:ReadoutPanel {id: row.panel}) "
           "MERGE (e)-[:PREDICTED_BY]->(run) MERGE (e)-[:OF_PERTURBATION]->(p) MERGE (e)-[:IN_CONTEXT]->(c) "
           "MERGE (e)-[:MEASURED_WITH]->(panel)",
           run=run_id, rows=[{k: r[k] for k in ("id", "p", "c", "panel", "values", "std")} for r in rows]).consume()
    light = [{"id": r["id"], "panel": r["panel"], "top": r["top"]} for r in rows]
    # A prediction written again may have another panel and another top set: replace, never add.
    tx.run("UNWIND $rows AS row MATCH (e:PredictedExperiment {id: row.id})-[m:MEASURED_WITH]->(x) "
           "WHERE x.id <> row.panel DELETE m", rows=light).consume()
    tx.run("UNWIND $rows AS row MATCH (e:PredictedExperiment {id: row.id})-[c:PREDICTS]->() DELETE c",
           rows=light).consume()
    tx.run("UNWIND $rows AS row MATCH (e:PredictedExperiment {id: row.id}) "
           "UNWIND row.top AS t MATCH (r:Readout {symbol: t.r}) "
           "CREATE (e)-[:PREDICTS {value: t.v, std: t.s, rank: t.k}]->(r)", rows=light).consume()


def read_predictions(graph: Graph, run_id: str, *, perturbation: str | None = None,
                     context: str | None = None) -> pd.DataFrame:
    """A run's stored predictions as a frame of ``perturbation, context, readout, value, std``."""
    rows = graph.read("MATCH (e:PredictedExperiment {run: $run}) "
                      "WHERE ($p IS NULL OR e.perturbation = $p) AND ($c IS NULL OR e.context = $c) "
                      "MATCH (e)-[:MEASURED_WITH]->(panel:ReadoutPanel) "
                      "RETURN e.perturbation AS p, e.context AS c, panel.readouts AS r, e.values AS v, e.std AS s "
                      "ORDER BY p, c", {"run": run_id, "p": perturbation, "c": context})
    parts = [pd.DataFrame({"perturbation": r["p"], "context": r["c"], "readout": r["r"],
                           "value": np.asarray(r["v"], dtype=np.float64), "std": np.asarray(r["s"], dtype=np.float64)})
             for r in rows]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("perturbation", "context", "readout") else np.float64)
                             for c in PREDICTION_COLUMNS})
    return pd.concat(parts, ignore_index=True)
