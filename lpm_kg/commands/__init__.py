"""Click commands that live beside the features they drive; ``lpm_kg.cli`` adds them to ``lpm-kg``."""


def connect():
    """The graph every command talks to: NEO4J_URI if set, else the managed server (started)."""
    from lpm_kg.graph import Graph

    return Graph.connect()


def output_file(ctx, param, value):
    """A click callback for an output file option or argument: its folder must exist and be writable,
    checked before any work (or any write to the graph)."""
    import os
    from pathlib import Path

    import click

    if value is None:
        return value
    path = Path(value)
    if path.is_dir():
        raise click.BadParameter(f"{path} is a folder; name a file in it", ctx=ctx, param=param)
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise click.BadParameter(f"cannot write {path}: its folder does not exist or is not writable",
                                 ctx=ctx, param=param)
    return path


def lpm_run_and_model(graph, run_id: str | None, runs_dir):
    """(run, model) of the run a command names (default: the newest complete LPM run), its model
    loaded from its checkpoint under ``runs_dir``; a click error naming what is missing."""
    from lpm_kg.graph.runs import find_lpm_run
    from lpm_kg.errors import ConfigError, InputError
    from lpm_kg.stacked import load_model
    from lpm_kg.training import checkpoint_path, file_digest

    run = find_lpm_run(graph, run_id)
    if run is None:
        raise ConfigError(f"there is no LPM run {run_id!r} in the graph (`lpm-kg runs` lists them)" if run_id
                          else "no complete LPM run in the graph; run `lpm-kg sync` first")
    checkpoint = checkpoint_path(runs_dir, run["run_id"])
    if not checkpoint.exists():
        raise ConfigError(f"the checkpoint of run {run['run_id']} is not at {checkpoint}: it was pruned or moved; "
                          "retrain the run (`lpm-kg sync`)")
    expected = run.get("checkpoint_sha256")
    if expected and file_digest(checkpoint) != expected:
        # Another run's file (or a damaged one) under this run's name: its predictions would be
        # stored as this run's.
        raise InputError(str(checkpoint), f"it is not the checkpoint run {run['run_id']} wrote (its SHA-256 differs "
                         "from the one recorded on the ModelRun)", "restore the run's own file, or delete the run "
                         "(`lpm-kg prune`) and retrain it (`lpm-kg sync`)")
    try:
        return run, load_model(checkpoint)
    except (OSError, RuntimeError, EOFError, ValueError, KeyError) as exc:  # truncated or not a checkpoint
        raise InputError(str(checkpoint), f"it cannot be read as run {run['run_id']}'s model "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'empty'})",
                         "delete the file and retrain the run (`lpm-kg sync`)") from None
