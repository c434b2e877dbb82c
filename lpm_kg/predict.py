"""Predict experiments with a trained run and store them in the graph with their provenance: the
one path behind ``lpm-kg predict`` and the demo.

A perturbation the model never trained on is answered from the graph (its priors, its siblings:
:mod:`lpm_kg.stacked`), and its PredictedExperiment says so (``source = 'prior'`` with the prior
run); every prediction names its model run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from lpm_kg.graph.connection import Graph
from lpm_kg.graph.predictions import write_predictions
from lpm_kg.graph.priors import ensure_predicted_symbols, mark_prior_predictions
from lpm_kg.graph.pull import context_readouts


@dataclass
class Predicted:
    frame: pd.DataFrame  # perturbation, context, readout, value, std
    from_priors: list[str]  # perturbations answered from the graph alone
    prior_run: str | None  # the gene-prior run they came from
    run_id: str


def predict_experiments(graph: Graph, run: dict, model, context: str, perturbations: Sequence[str],
                        readouts: Sequence[str] | None = None, *, write: bool = True) -> Predicted:
    """Predictions for every (perturbation, readout) in ``context`` (default readouts: those
    measured there), stored as PredictedExperiment nodes of ``run`` unless ``write`` is False."""
    readouts = list(readouts or context_readouts(graph, context) or model.vocab.readouts)
    frame = pd.DataFrame([(p, context, r) for p in perturbations for r in readouts],
                         columns=["perturbation", "context", "readout"])
    mean, std = model.predict(frame.perturbation.tolist(), frame.readout.tolist(), frame.context.tolist())
    frame["value"], frame["std"] = mean, std
    from_priors = [p for p, s in zip(perturbations, model.prior_sources(list(perturbations))) if s == "prior"]
    prior_run = model.priors.priors.run_id if model.is_graph else None
    if write:
        if model.is_graph:
            ensure_predicted_symbols(graph, list(perturbations), readouts)
        write_predictions(graph, run["run_id"], frame)
        if from_priors:
            mark_prior_predictions(graph, run["run_id"], [(p, context) for p in from_priors], prior_run)
    return Predicted(frame, from_priors, prior_run, run["run_id"])
