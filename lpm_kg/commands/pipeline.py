"""The commands of the model pipeline: ``sync`` (load, train, write back), ``eval`` (the benchmark on
the graph), ``predict``, ``demo``, and the runs, presets and models they name. The CLI module
(lpm_kg/cli.py) adds them; it only parses and prints."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lpm_kg.commands import connect as _connect
from lpm_kg.commands import output_file
from lpm_kg.commands.options import list_option, names, renamed
from lpm_kg.settings import Settings


@click.command()
@click.option("--seed", default=0, show_default=True, help="Simulator seed.")
def demo(seed: int) -> None:
    """Start the managed Neo4j, simulate a perturbation screen over a known network, sync it
    (load, train the LPM, write back), and show what to ask in Neo4j Browser."""
    from lpm_kg.demo import demo_facts, write_demo
    from lpm_kg.sync import SyncConfig, sync

    settings = Settings()
    folder = settings.data_dir / "demo"
    with _connect() as graph:
        click.echo(f"simulating a screen over a known gene network into {folder}")
        config = write_demo(folder, seed)
        click.echo(f"syncing {config}")
        report = sync(graph, SyncConfig.from_toml(config), checkpoint_dir=settings.data_dir / "runs", echo=click.echo)
        _print_sync(report)
        facts = demo_facts(graph)
        counts, example_p = facts.counts, facts.example
        click.echo(f"\nthe graph holds {counts['e']} demo experiments ({counts['m']:,} measurements) of "
                   f"{counts['p']} perturbations in {counts['c']} contexts")
        if facts.similar:
            click.echo(f"learned: perturbations closest to {example_p}: "
                       + ", ".join(f"{s} ({score:.2f})" for s, score in facts.similar[1:]))
        never = _demo_never_measured(graph, report.run_id, settings)
    if settings.uses_managed_server:
        from lpm_kg.server import managed_server

        st = managed_server(settings).status()
        click.echo(f"\nopen Neo4j Browser: {st.browser_url}")
        click.echo(f"  user neo4j, password in {st.home / 'password'}")
    params = f":param p => '{example_p}'" + (f"  and  :param never => '{never}'" if never else "")
    click.echo(f"\nCypher to try (first run  {params}  in Browser):\n")
    from lpm_kg.demo import DEMO_QUERIES

    for title, query in DEMO_QUERIES:
        click.echo(f"// {title}\n{query}\n")


def _demo_never_measured(graph, run_id: str | None, settings) -> str | None:
    """Predict, store and print a knockdown of a gene never perturbed and a compound never measured,
    answered from the graph, with their provenance; the knockdown's symbol (for Browser)."""
    from lpm_kg.commands import lpm_run_and_model
    from lpm_kg.demo import COMPOUND_CONTEXT, EXAMPLE_CONTEXT, never_measured
    from lpm_kg.predict import predict_experiments

    gene_p, compound_p = never_measured(graph)
    run, model = lpm_run_and_model(graph, run_id, settings.data_dir / "runs")
    for symbol, context, what in ((gene_p, EXAMPLE_CONTEXT, "a gene never perturbed"),
                                  (compound_p, COMPOUND_CONTEXT, "a compound never measured")):
        if symbol is None:
            continue
        res = predict_experiments(graph, run, model, context, [symbol])
        top = res.frame.reindex(res.frame.value.abs().sort_values(ascending=False).index).head(5)
        how = (f"from the graph (gene priors {res.prior_run})" if res.from_priors else "from its training data")
        click.echo(f"\npredicted for {what}: {symbol} in {context}, {how}; model run {res.run_id}; strongest changes:")
        for row in top.itertuples():
            click.echo(f"  {row.readout:<28} {row.value:+.3f} ± {row.std:.3f}")
    return gene_p


def _print_sync(report) -> None:
    if report.did_nothing:
        click.echo("nothing changed: every source is loaded and the model is up to date")
        return
    if report.trained:
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in report.metrics.items() if isinstance(v, float))
        click.echo(f"trained model run {report.run_id} ({metrics}); predicted {report.n_predicted} "
                   "experiments never performed")


@click.command("sync")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=Path("lpm-kg.toml"),
              show_default=True, help="Sources and model settings (TOML).")
@click.option("--break-lock", is_flag=True,
              help="Take the graph's sync lock from a sync that was killed on another machine.")
def sync_cmd(config_path: Path, break_lock: bool) -> None:
    """Load new or changed sources, retrain when the data changed, and write the model back.
    Under torchrun, the processes train data-parallel and rank 0 loads and writes."""
    from lpm_kg.model.distributed import init_from_env
    from lpm_kg.sync import SyncConfig, sync

    init_from_env()
    config = SyncConfig.from_toml(config_path)
    with _connect() as graph:
        report = sync(graph, config, checkpoint_dir=Settings().data_dir / "runs", echo=click.echo,
                      break_lock=break_lock)
    _print_sync(report)


@click.command()
@click.argument("run_id")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="Largest difference of validation RMSE and Pearson that still counts as reproduced.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def replay(run_id: str, tolerance: float, as_json: bool) -> None:
    """Train model run RUN_ID again from the settings the graph stored for it, on the same data
    (refused if the data changed), writing nothing, and report whether its metrics reproduce
    (exit status 1 when they do not)."""
    from lpm_kg.replay import replay_run

    with _connect() as graph:
        report = replay_run(graph, run_id, tolerance=tolerance, show_progress=not as_json)
    if as_json:
        click.echo(json.dumps({"run_id": report.run_id, "reproduced": report.reproduced, "stored": report.stored,
                               "replayed": report.replayed, "mismatches": report.mismatches,
                               "setting_changes": {k: list(v) for k, v in report.setting_changes.items()},
                               "resolved_stored": report.resolved_stored, "tolerance": report.tolerance,
                               "seconds": round(report.seconds, 1)}, indent=2, default=str))
    else:
        click.echo(f"replayed run {report.run_id} in {report.seconds:.0f} s: "
                   + ("reproduced" if report.reproduced else f"NOT reproduced ({', '.join(report.mismatches)})"))
        for key in report.stored:
            click.echo(f"  {key:<12} stored {report.stored[key]!s:<24} replayed {report.replayed[key]!s}")
        if not report.resolved_stored:
            click.echo("note: this run predates stored resolved settings; replayed with its preset as it resolves today")
        for key, (then, now) in report.setting_changes.items():
            click.echo(f"note: setting {key} was {then!r} for this run and resolves to {now!r} today "
                       "(the replay used the run's)")
    if not report.reproduced:
        raise SystemExit(1)


@click.command()
def presets() -> None:
    """List the model presets."""
    from lpm_kg.model import PRESETS

    width = max(map(len, PRESETS)) + 1
    for name, cfg in PRESETS.items():
        priors = f" priors={'+'.join(cfg.priors.relations)}" if cfg.priors is not None else ""
        click.echo(f"{name:<{width}} d={cfg.embedding_dim} mlp={'x'.join(map(str, cfg.hidden))} dropout={cfg.dropout} "
                   f"batch={cfg.batch_size} lr={cfg.learning_rate} decay={cfg.lr_decay} seeds={len(cfg.seeds)}{priors}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def runs(as_json: bool) -> None:
    """List the model runs in the graph, newest first."""
    from lpm_kg.graph.runs import list_model_runs

    with _connect() as graph:
        rows = list_model_runs(graph)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        spec = (r.get("spec") or {}).get("spec_version")
        named = f"spec=v{spec}" if spec else ("spec=none" if r["kind"] == "lpm" else "")
        click.echo(f"{r['run_id']:<20} {r['kind']:<5} {r['status']:<9} {str(r['created_at'])[:19]:<20} "
                   f"embeddings={r['n_embeddings']} predicted={r['n_predictions']} datasets={','.join(r['datasets'])}"
                   + (f" {named}" if named else ""))


@click.command()
@click.option("--keep", default=1, show_default=True, help="Complete runs to keep, newest first.")
@click.option("--kind", type=click.Choice(["lpm", "eval"]), default="lpm", show_default=True,
              help="Trained models (lpm) or evaluation records (eval).")
def prune(keep: int, kind: str) -> None:
    """Delete older model runs and everything they wrote (embedding history, predictions, inferred edges)."""
    from lpm_kg.graph.prune import delete_runs, prune_model_runs, unused_prior_runs

    runs_dir = Settings().data_dir / "runs"
    with _connect() as graph:
        deleted = prune_model_runs(graph, keep=keep, kind=kind)
        priors = unused_prior_runs(graph) if kind == "lpm" else []
        delete_runs(graph, priors)  # gene priors no remaining model used
    files = []
    for run_id in deleted:  # a pruned model's checkpoint (and the parts a stacked one trains in)
        for name in (f"{run_id}.pt", f"{run_id}.paper.pt", f"{run_id}.graph.pt", f"{run_id}.pt.tmp"):
            path = runs_dir / name
            if path.exists():
                path.unlink()
                files.append(path.name)
    click.echo(f"deleted {len(deleted)} run(s)" + (f": {', '.join(deleted)}" if deleted else ""))
    if priors:
        click.echo(f"deleted {len(priors)} gene-prior run(s) no remaining model used: {', '.join(priors)}")
    if files:
        click.echo(f"deleted {len(files)} checkpoint file(s) from {runs_dir}: {', '.join(files)}")


@click.command()
def models() -> None:
    """List the models `lpm-kg eval` compares (the LPM and the baselines)."""
    from lpm_kg.eval.models import describe_models

    for name, text in describe_models().items():
        click.echo(f"{name:<34} {text}")


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@click.command("eval")
@list_option("--dataset", "datasets", "Measurement dataset (default: every complete one).")
@renamed("--datasets", "--dataset", "old_datasets", multiple=True)
@list_option("--target", "targets", "Target context (default: every eligible one).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Split seeds.")
@list_option("--model", "model_names", "Model (default: all; `lpm-kg models`).")
@renamed("--models", "--model", "old_models", multiple=True)
@click.option("--preset", default="l1000", show_default=True, help="LPM preset (`lpm-kg presets`).")
@click.option("--max-epochs", type=click.IntRange(min=1), default=None, help="Override the preset's epochs.")
@click.option("--split", default="context", show_default=True,
              help="context: the paper's unseen experiments; perturbation: perturbations held out of every context; "
                   "readout: readouts held out in the target context (`lpm-kg list splits`).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def eval_cmd(datasets, old_datasets, targets, seeds, model_names, old_models, preset, max_epochs, split,
             as_json) -> None:
    """Benchmark the LPM against the baselines on a split, per target context, and record the run
    in the graph. The graph models (graph-lpm, graph-neighbour-transfer, linear-priors) run when
    named, and by default on the perturbation and readout splits."""
    from lpm_kg.eval.benchmark import summary
    from lpm_kg.evaluate import evaluate
    from lpm_kg.model.config import preset as get_preset

    datasets, targets, model_names = names(datasets, old_datasets), names(targets), names(model_names, old_models)
    overrides = {"max_epochs": max_epochs} if max_epochs else {}
    lpm_config = get_preset(preset, **overrides)
    try:
        split_seeds = [int(s) for s in _csv(seeds) or []]
    except ValueError:
        raise click.BadParameter(f"{seeds!r} is not a comma-separated list of integers", param_hint="--seeds") from None
    if not split_seeds:
        raise click.BadParameter("name at least one split seed, e.g. --seeds 0,1,2", param_hint="--seeds")
    if len(set(split_seeds)) != len(split_seeds):
        raise click.BadParameter(f"{seeds!r} repeats a seed", param_hint="--seeds")
    with _connect() as graph:
        result = evaluate(graph, datasets=datasets, targets=targets, seeds=split_seeds, model_names=model_names,
                          lpm_config=lpm_config, split=split, show_progress=not as_json)
    run_id, table, tests, metrics = result.run_id, result.table, result.tests, result.metrics
    if as_json:
        click.echo(json.dumps({"run_id": run_id, **metrics}, indent=2, default=str))
        return
    click.echo(summary(table, as_text=True))
    if len(tests):
        click.echo(f"\n{tests['leader'].iloc[0]} against each model, paired by test experiment (one-sided Wilcoxon; "
                   "a tie unless p < 0.05):")
        shown = tests[["metric", "other", "n_pairs", "leader_mean", "other_mean", "p_value", "verdict"]]
        click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    click.echo(f"\nrecorded as ModelRun {run_id}")


@click.command()
@click.option("--context", required=True, help="Context symbol to predict in.")
@click.option("--perturbation", "perturbations", multiple=True, required=True, help="Perturbation symbol (repeatable).")
@click.option("--readout", "readouts", multiple=True, help="Readout symbol (default: every readout measured in the context).")
@click.option("--run", "run_id", default=None, help="Model run (default: the latest complete one).")
@click.option("--out", type=click.Path(path_type=Path), default=None, callback=output_file,
              help="Write the predictions to this CSV.")
@click.option("--no-write", is_flag=True, help="Do not store the predictions in the graph.")
def predict(context, perturbations, readouts, run_id, out, no_write) -> None:
    """Predict experiments (never performed or not) with the seed spread as uncertainty, and store
    them as PredictedExperiment nodes of the run."""
    from lpm_kg.commands import lpm_run_and_model
    from lpm_kg.predict import predict_experiments

    settings = Settings()
    with _connect() as graph:
        run, model = lpm_run_and_model(graph, run_id, settings.data_dir / "runs")
        result = predict_experiments(graph, run, model, context, perturbations, readouts, write=not no_write)
    frame = result.frame
    for p in result.from_priors:
        click.echo(f"{p}: never measured in training; predicted from the graph (prior run {result.prior_run})")
    if out:
        frame.to_csv(out, index=False)
        click.echo(f"wrote {len(frame)} predictions to {out}")
    else:
        top = frame.reindex(frame.value.abs().sort_values(ascending=False).index).groupby("perturbation").head(10)
        click.echo(top.to_string(index=False))
    click.echo(f"run {run['run_id']}" + ("" if no_write else ": stored as PredictedExperiment nodes"))


COMMANDS = [demo, sync_cmd, replay, presets, runs, prune, models, eval_cmd, predict]
