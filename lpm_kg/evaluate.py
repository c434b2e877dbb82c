"""``lpm-kg eval``'s pipeline: benchmark models on a split of the graph's measurements and record
the evaluation as a ModelRun (kind ``eval``) whose id is a digest of its data and resolved config.
The CLI only parses the options and prints (:mod:`lpm_kg.commands.pipeline`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

import lpm_kg
from lpm_kg.errors import ConfigError
from lpm_kg.eval.benchmark import run_benchmark, summary
from lpm_kg.eval.models import DEFAULT_MODEL, MODELS
from lpm_kg.eval.split import SPLITS
from lpm_kg.eval.stats import paired_tests
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.pull import pull_tuples
from lpm_kg.graph.runs import complete_model_run, create_model_run
from lpm_kg.jsonsafe import frame_records
from lpm_kg.model.config import LPMConfig
from lpm_kg.priors import read_knowledge
from lpm_kg.run_ids import derived_run_id
from lpm_kg.training import data_fingerprint


@dataclass
class Evaluation:
    run_id: str
    table: pd.DataFrame  # one row per (target context, seed, model)
    tests: pd.DataFrame  # the default model against each other model, paired by test experiment
    metrics: dict  # what the ModelRun stores


def default_model_tests(experiments: pd.DataFrame) -> pd.DataFrame:
    """The default model (when it was run) against every other model, on the centered Pearson and the
    discrimination score: :func:`lpm_kg.eval.stats.paired_tests`."""
    if experiments.empty or DEFAULT_MODEL not in set(experiments["model"]):
        return pd.DataFrame()
    return pd.concat([paired_tests(experiments, DEFAULT_MODEL, metric=m) for m in ("pearson_centered", "discrimination")],
                     ignore_index=True)


def _knowledge(graph: Graph, split: str, model_names: Sequence[str] | None):
    """The graph's reference knowledge when a model or the split reads it, else None."""
    named = list(model_names or MODELS)
    if split == "context" and not any(getattr(MODELS.get(n), "needs_knowledge", False)
                                      or getattr(MODELS.get(n), "uses_knowledge", False) for n in named):
        return None
    knowledge = read_knowledge(graph)
    sizes = knowledge.sizes()
    if not any(sizes[k] for k in ("interacts", "regulates", "memberships", "annotated_compounds")) and \
            not any(getattr(MODELS.get(n), "needs_knowledge", False) for n in model_names or []):
        return None  # no reference relation loaded: the models that read none
    return knowledge


def evaluate(graph: Graph, *, datasets: Sequence[str] | None, targets: Sequence[str] | None, seeds: Sequence[int],
             model_names: Sequence[str] | None, lpm_config: LPMConfig, split: str = "context",
             show_progress: bool = True) -> Evaluation:
    SPLITS[split]  # an unknown split is refused (with the known ones) before the graph is read
    fingerprint, dataset_names = data_fingerprint(graph, list(datasets) if datasets else None)
    if not dataset_names:
        raise ConfigError("no complete measurement dataset to evaluate on" +
                          (f" among {list(datasets)!r}" if datasets else "") + "; load one first (`lpm-kg load`, "
                          "`lpm-kg status` lists the datasets)")
    tuples = pull_tuples(graph, dataset_names)
    knowledge = _knowledge(graph, split, model_names)
    try:
        table = run_benchmark(tuples, targets, list(seeds), model_names, lpm_config=lpm_config,
                              show_progress=show_progress, split=split, knowledge=knowledge)
    except (ValueError, KeyError) as exc:  # a split the data cannot make, an unknown model or context
        raise ConfigError(f"cannot evaluate: {str(exc).strip(chr(39))}") from None
    if table.empty:
        raise ConfigError("no target context has enough perturbations shared with another context for the "
                          f"{split} split; try --split perturbation, or load a set measured in several contexts")
    config = {"datasets": dataset_names, "targets": targets, "seeds": list(seeds), "models": model_names,
              "lpm": lpm_config.model_dump(), "split": split,
              "knowledge": knowledge.fingerprint() if knowledge is not None else None}
    run_id = derived_run_id("eval", fingerprint, json.dumps(config, sort_keys=True))
    tests = default_model_tests(table.attrs.pop("experiments"))
    metrics = {"summary": frame_records(summary(table).reset_index()),
               "rows": frame_records(table),
               "tests": frame_records(tests)}
    create_model_run(graph, run_id=run_id, config=config, data_fingerprint=fingerprint, datasets=dataset_names,
                     metrics=metrics, kind="eval", versions={"lpm_kg": lpm_kg.__version__})
    complete_model_run(graph, run_id)
    return Evaluation(run_id, table, tests, metrics)
