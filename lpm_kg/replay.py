"""Replaying a model run: rebuild it from what the graph stored and say whether it reproduces.

A run made by ``lpm-kg sync`` stores its config (datasets, preset, overrides, validation share,
split seed), the model settings those resolved to (``resolved_config``), the fingerprint of the
data it trained on and its metrics. :func:`replay_run` checks that the data is still the data the
run saw (a replay on other data proves nothing: refused), trains the model again from the stored
resolved settings (so a preset or a default that changed since does not change the replay; the
differences are reported), writes nothing to the graph, and compares the metrics: the number of
tuples, training and validation rows and epochs exactly, validation RMSE and Pearson within
``tolerance``. A run that stores its spec (lpm_kg.training.RunSpec) must also resolve to its own run
id again: a spec edited in the graph, or reference knowledge that changed, is refused. A run from
before resolved settings were stored is replayed with its preset as it resolves today, and the
report says so.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from lpm_kg.errors import ConfigError
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.runs import get_model_run
from lpm_kg.model.config import LPMConfig
from lpm_kg.training import RunSpec, TrainConfig, resolve_run, train_from_graph

EXACT = ("n_tuples", "n_train", "n_val", "epochs")
CLOSE = ("val_rmse", "val_pearson")


@dataclass
class ReplayReport:
    run_id: str
    reproduced: bool
    stored: dict  # the run's metrics, as stored
    replayed: dict  # the same metrics from the replay
    mismatches: list[str]  # metric names that differ beyond the tolerance
    setting_changes: dict = field(default_factory=dict)  # setting -> (stored, resolves to today)
    resolved_stored: bool = True  # False: a run from before resolved settings were stored
    tolerance: float = 1e-4
    seconds: float = 0.0


def _resolved(run: dict, config: TrainConfig) -> tuple[LPMConfig, bool]:
    if run.get("spec") is not None:
        try:
            return RunSpec(**run["spec"]).model, True
        except ValidationError as exc:
            raise ConfigError(f"run {run['run_id']}'s stored spec is not one this lpm-kg reads "
                              f"({str(exc).splitlines()[0]}): replay it with the lpm-kg that made it "
                              f"(versions: {run.get('versions')})") from None
    stored = run.get("resolved_config")
    if stored is None:
        return config.lpm_config(), False
    return LPMConfig(**stored), True


def replay_run(graph: Graph, run_id: str, *, tolerance: float = 1e-4, checkpoint_dir: Path | None = None,
               show_progress: bool = False) -> ReplayReport:
    """Train run ``run_id`` again from its stored settings on the same data and compare its metrics
    (see the module docstring). Raises :class:`ConfigError` when the run cannot be replayed."""
    run = get_model_run(graph, run_id)
    if run is None:
        raise ConfigError(f"there is no model run {run_id!r}; `lpm-kg runs` lists the runs")
    if run.get("kind") != "lpm":
        raise ConfigError(f"run {run_id!r} is a {run.get('kind')} run, not a trained model: nothing to replay")
    try:
        config = TrainConfig(**(run.get("config") or {}))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"run {run_id!r} was not recorded by `lpm-kg sync` (its config is not a training "
                          f"config: {str(exc).splitlines()[0]}), so it cannot be replayed") from None
    resolved, was_stored = _resolved(run, config)
    today = config.lpm_config().model_dump()
    then = resolved.model_dump()
    changes = {k: (then.get(k), today.get(k)) for k in sorted(set(then) | set(today)) if then.get(k) != today.get(k)}
    # The stored settings in full as overrides: the preset's current values cannot leak in.
    replay_config = config.model_copy(update={"overrides": then})
    if run.get("spec") is not None:  # the spec, not the config that named it, says what the run trained on
        spec = run["spec"]
        replay_config = replay_config.model_copy(update={k: spec[k] for k in ("datasets", "validation_fraction",
                                                                                "split_seed")})
    identity = resolve_run(graph, replay_config)  # the data's fingerprint as it is today, among the rest
    if identity.spec.data_fingerprint != run.get("data_fingerprint"):
        raise ConfigError(f"the data of run {run_id} changed since it trained (datasets "
                          f"{', '.join(run.get('datasets') or []) or 'all'}): a replay would train on other data. "
                          "Replay it on the graph it trained on, or sync to train a run on the data as it is")
    if run.get("spec") is not None and identity.run_id != run_id:
        raise ConfigError(f"run {run_id}'s settings resolve to run {identity.run_id} on this graph: its stored spec "
                          "was edited or the reference knowledge its priors came from changed since, so a replay "
                          "would train another run")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lpm-kg-replay-") as tmp:
        result = train_from_graph(graph, replay_config, checkpoint_dir=checkpoint_dir or Path(tmp),
                                  show_progress=show_progress, identity=identity)
    stored = {k: (run.get("metrics") or {}).get(k) for k in EXACT + CLOSE}
    replayed = {k: result.metrics.get(k) for k in EXACT + CLOSE}
    mismatches = [k for k in EXACT if stored[k] is not None and stored[k] != replayed[k]]
    mismatches += [k for k in CLOSE if stored[k] is not None and replayed[k] is not None
                   and abs(float(stored[k]) - float(replayed[k])) > tolerance]
    return ReplayReport(run_id, not mismatches, stored, replayed, mismatches, changes, was_stored, tolerance,
                        time.perf_counter() - started)
