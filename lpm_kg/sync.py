"""``lpm-kg sync``: load what is new or changed, retrain when the data changed, write back.

The config (TOML) declares sources and model settings::

    [[sources]]
    path = "data/ds_matrix.csv.gz"
    format = "gct-csv"
    dataset = "L1000"
    options = { cell_line = "A375" }   # loader options, optional

    [model]
    preset = "l1000"                   # `lpm-kg presets`
    overrides = { max_epochs = 20 }

    [predict]
    unperformed = true                 # predict experiments never performed
    max_experiments = 2000

Every step is idempotent: loads skip unchanged files, a training run is named by its resolved
spec (lpm_kg.training.RunSpec: the data fingerprint and the settings the preset resolved to, so an
interrupted sync resumes its checkpoint, a second sync with nothing changed finds the finished run
and stops, and a preset that changed trains anew), and write-back MERGEs on the run id. A run named
before run specs (by its preset's name) stays the up-to-date run while its stored resolved
settings are today's.
"""

from __future__ import annotations

import tomllib
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import neo4j
import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import lpm_kg
from lpm_kg.errors import ConfigError, LpmKgError, SyncStopped
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.datasets import measurement_datasets, reference_relation_count
from lpm_kg.graph.embeddings import write_embeddings
from lpm_kg.graph.locks import graph_lock
from lpm_kg.graph.predictions import write_predictions
from lpm_kg.graph.priors import link_priors, write_gene_priors
from lpm_kg.graph.runs import complete_model_run, create_model_run, get_model_run, record_checkpoint_digest
from lpm_kg.loading import load
from lpm_kg.model.distributed import barrier, world
from lpm_kg.model.train import resolve_device
from lpm_kg.registry import get_loader
from lpm_kg.training import TrainConfig, checkpoint_path, file_digest, legacy_run_for, resolve_run, train_from_graph


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Path
    format: str
    dataset: str
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    unmapped: str = "auto"
    top_k: int = 25


class PredictConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unperformed: bool = True
    max_experiments: int = Field(2000, ge=0)
    top_k: int = 25


class SyncConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sources: list[SourceConfig] = Field(default_factory=list)
    model: TrainConfig = Field(default_factory=TrainConfig)
    predict: PredictConfig = Field(default_factory=PredictConfig)

    @classmethod
    def from_toml(cls, path: Path) -> "SyncConfig":
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{path} is a folder: pass the config file (e.g. {Path(path) / 'lpm-kg.toml'})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not a text file: pass a TOML config") from None
        except OSError as exc:
            raise ConfigError(f"{path} cannot be read ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        for source in data.get("sources", []):
            if isinstance(source, dict) and "path" in source:  # relative to the config file
                source["path"] = str((Path(path).parent / source["path"]).resolve())
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            raise ConfigError(f"{path}: key '{key}': {err['msg']}") from None


@dataclass
class SyncReport:
    loaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    trained: bool = False
    run_id: str | None = None
    metrics: dict = field(default_factory=dict)
    n_predicted: int = 0

    @property
    def did_nothing(self) -> bool:
        return not self.loaded and not self.trained


def unperformed_experiments(tuples, max_experiments: int, seed: int = 0) -> pd.DataFrame:
    """(perturbation, context) pairs never measured, for perturbations measured in another
    context, with the readouts measured in that context."""
    nc = len(tuples.contexts)
    done = set(np.unique(tuples.perturbation.astype(np.int64) * nc + tuples.context).tolist())
    perts = np.unique(tuples.perturbation)
    pairs = [(p, c) for p in perts for c in range(nc) if p * nc + c not in done
             and tuples.perturbations[p] != "Control"]
    if len(pairs) > max_experiments:
        rng = np.random.default_rng(seed)
        pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), max_experiments, replace=False))]
    readouts_of = {c: np.unique(tuples.readout[tuples.context == c]) for c in range(nc)}
    rows = [(p, r, c) for p, c in pairs for r in readouts_of[c]]
    return pd.DataFrame(rows, columns=["p", "r", "c"])


def check_plan(config: SyncConfig) -> None:
    """Everything a sync can check before its first write: every source is a readable file in a known
    format, and the model settings resolve (preset and overrides, the device). A sync whose second
    source is missing must not load the first and fail after."""
    for i, src in enumerate(config.sources):
        where = f"sources[{i}] ({src.dataset})"
        if not src.path.is_file():
            what = "a folder" if src.path.is_dir() else "missing"
            raise ConfigError(f"{where}: {src.path} is {what}; point path at the source file")
        try:
            with open(src.path, "rb") as f:
                f.read(1)
        except OSError as exc:
            raise ConfigError(f"{where}: {src.path} cannot be read ({exc.strerror}); check its permissions") from None
        try:
            get_loader(src.format)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    resolve_device(config.model.lpm_config().device)


def check_graph_plan(graph: Graph, config: SyncConfig) -> None:
    """What the plan needs of the graph, checked before loading: the model will have measurements
    to train on, and every dataset it names will be there (in the graph or among the sources)."""
    coming = {s.dataset for s in config.sources if get_loader(s.format).kind == "measurements"}
    available = coming | {name for name, _ in measurement_datasets(graph)}
    named = config.model.datasets
    if named is not None:
        unknown = [d for d in named if d not in available]
        if unknown:
            raise ConfigError(f"model.datasets names {', '.join(map(repr, unknown))}, which is neither a measurement "
                              f"source of this config nor a complete dataset in the graph (there: "
                              f"{', '.join(sorted(available)) or 'none'}); fix the name or add the source")
    if not (available if named is None else set(named) & available):
        raise ConfigError("no measurement dataset to train on: add a [[sources]] entry with measurements")
    lpm = config.model.lpm_config()
    spec = lpm.priors
    # A graph-informed preset on a graph without reference relations would train with no gene prior
    # at all, silently. The stack is exempt: it leaves its graph LPM out then, by design.
    if spec is not None and not lpm.stack and not any(
            get_loader(s.format).kind in ("relations", "groups") for s in config.sources) \
            and reference_relation_count(graph, list(spec.relations)) == 0:
        raise ConfigError(f"preset {config.model.preset!r} learns gene priors from the graph's "
                          f"{', '.join(spec.relations)} relations, but the graph holds none and no source of this "
                          "config loads them: add a reference source (string, corum, dorothea, trrust, gmt; "
                          "`lpm-kg formats`) or choose a preset without priors (`lpm-kg presets`)")


def sync(graph: Graph, config: SyncConfig, *, checkpoint_dir: Path, show_progress: bool = True,
         echo=print, break_lock: bool = False) -> SyncReport:
    """Plan, then load, train and write back, holding the graph's sync lock (lpm_kg.graph.locks):
    a second sync on the same graph is refused while the first runs, instead of racing it to the
    vector index and the run's nodes. ``break_lock`` takes the lock from a holder that cannot be
    checked (killed on another machine)."""
    check_plan(config)
    check_graph_plan(graph, config)
    # Under torchrun only rank 0 writes, so only rank 0 holds the lock.
    report = SyncReport()
    with graph_lock(graph, "sync", force=break_lock) if world().is_main else nullcontext():
        try:
            return _sync(graph, config, report, checkpoint_dir=checkpoint_dir, show_progress=show_progress, echo=echo)
        except LpmKgError as exc:
            completed = ([f"loaded {', '.join(report.loaded)}"] if report.loaded else []) + (
                [f"trained {report.run_id} (its checkpoint is kept, so the rerun only writes it back)"]
                if report.trained else [])
            if completed:
                raise SyncStopped(str(exc), completed) from exc
            raise


def _sync(graph: Graph, config: SyncConfig, report: SyncReport, *, checkpoint_dir: Path, show_progress: bool,
          echo) -> SyncReport:
    # Under torchrun every process trains; only rank 0 loads and writes (lpm_kg.model.distributed).
    main_rank = world().is_main
    for src in config.sources if main_rank else ():
        result = load(graph, src.path, src.format, src.dataset, options={k: str(v) for k, v in src.options.items()},
                      unmapped=src.unmapped, top_k=src.top_k, show_progress=show_progress)
        (report.unchanged if result.skipped else report.loaded).append(src.dataset)
        echo(f"  {src.dataset}: {'unchanged' if result.skipped else 'loaded'}")
    barrier()  # the other processes read the graph only once rank 0 has loaded it

    identity = resolve_run(graph, config.model)
    run_id, datasets = identity.run_id, identity.spec.datasets
    if not datasets:
        raise ConfigError("no measurement dataset to train on: add a [[sources]] entry with measurements")
    existing = get_model_run(graph, run_id)
    if existing and existing.get("status") == "complete":
        report.run_id = run_id
        echo(f"  model run {run_id} is up to date with the data: nothing to train")
        return report
    legacy, why = legacy_run_for(graph, config.model, identity)
    if legacy is not None:
        report.run_id = legacy
        echo(f"  model run {legacy} (named before run specs) is up to date with the data and its settings: "
             "nothing to train")
        return report
    if why:
        echo(f"  {why}")

    echo(f"  training {run_id} on {', '.join(datasets)}")
    result = train_from_graph(graph, config.model, checkpoint_dir=checkpoint_dir, show_progress=show_progress,
                              identity=identity)
    report.trained, report.run_id, report.metrics = True, result.run_id, result.metrics
    if not main_rank:
        return report
    model = result.model


    create_model_run(graph, run_id=result.run_id, config=config.model.model_dump(),
                     resolved=result.spec.model.model_dump(), spec=result.spec.model_dump(),
                     data_fingerprint=result.fingerprint, datasets=result.datasets, metrics=result.metrics,
                     versions={"lpm_kg": lpm_kg.__version__, "torch": torch.__version__,
                               "neo4j_driver": neo4j.__version__})
    checkpoint = checkpoint_path(checkpoint_dir, result.run_id)
    if checkpoint.exists():
        record_checkpoint_digest(graph, result.run_id, file_digest(checkpoint))
    if result.priors is not None:
        written = write_gene_priors(graph, result.priors, result.knowledge)
        link_priors(graph, result.run_id, result.priors.run_id)
        echo(f"  gene priors {result.priors.run_id}: {int(result.priors.has_prior.sum())} genes"
             + (" (already in the graph)" if written["up_to_date"] else " written to Gene.prior"))
    write_embeddings(graph, result.run_id, model)
    if config.predict.unperformed and config.predict.max_experiments > 0:
        todo = unperformed_experiments(result.tuples, config.predict.max_experiments)
        if len(todo):
            mean, std = model.predict_ids(todo.p.to_numpy(), todo.r.to_numpy(), todo.c.to_numpy())
            v = model.vocab
            frame = pd.DataFrame({"perturbation": np.asarray(v.perturbations, dtype=object)[todo.p],
                                  "context": np.asarray(v.contexts, dtype=object)[todo.c],
                                  "readout": np.asarray(v.readouts, dtype=object)[todo.r], "value": mean, "std": std})
            write_predictions(graph, result.run_id, frame, top_k=config.predict.top_k)
            report.n_predicted = int(todo[["p", "c"]].drop_duplicates().shape[0])
    complete_model_run(graph, result.run_id)
    return report
