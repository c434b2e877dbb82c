"""`lpm-kg list`: every registry of pluggable parts (PyKEEN's `pykeen ls`), by kind.

The registries are imported when the command runs, not when the CLI starts: some of them sit
beside torch code, and every other command would pay for that import."""

from __future__ import annotations

import json

import click


def _formats() -> dict[str, str]:
    from lpm_kg.registry import loaders

    return {spec.name: f"[{spec.kind}] {spec.description}" for spec in loaders()}


def _presets() -> dict[str, str]:
    from lpm_kg.model.config import DEFAULT_PRESET, PRESETS

    return {name: ("(default) " if name == DEFAULT_PRESET else "") + f"d={cfg.embedding_dim} "
            f"mlp={'x'.join(map(str, cfg.hidden))} lr={cfg.learning_rate} seeds={len(cfg.seeds)}"
            + (" priors" if cfg.priors is not None else "") + (" stacked" if cfg.stack else "")
            for name, cfg in PRESETS.items()}


def _models() -> dict[str, str]:
    from lpm_kg.eval.models import describe_models

    return describe_models()


def _strategies() -> dict[str, str]:
    from lpm_kg.design.strategies import DEFAULT_STRATEGY, STRATEGIES

    return {name: ("(default) " if name == DEFAULT_STRATEGY else "") + text
            for name, text in STRATEGIES.describe().items()}


def _metrics() -> dict[str, str]:
    from lpm_kg.eval.metrics import METRICS

    return {m.column(): ("(lower is better) " if not m.higher_is_better else "") + m.description
            for m in METRICS.values()}


def _splits() -> dict[str, str]:
    from lpm_kg.eval.split import SPLITS

    return SPLITS.describe()


def _network_methods() -> dict[str, str]:
    from lpm_kg.discovery.inference import NETWORK_METHODS

    return NETWORK_METHODS.describe()


#: kind -> (what it is, its entries): the kinds `lpm-kg list` knows.
KINDS = {
    "formats": ("loaders, the --format of `lpm-kg load` and [[sources]]", _formats),
    "presets": ("LPM settings by name, the [model] preset of a sync", _presets),
    "models": ("the models `lpm-kg eval` compares", _models),
    "metrics": ("the columns of a benchmark's table", _metrics),
    "splits": ("the held-out sets `lpm-kg eval --split` draws", _splits),
    "network-methods": ("how `lpm-kg network` infers gene-gene networks", _network_methods),
    "strategies": ("how `lpm-kg suggest` ranks the next experiments", _strategies),
}


@click.command("list")
@click.argument("kind", required=False, type=click.Choice(list(KINDS)))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(kind: str | None, as_json: bool) -> None:
    """List the pluggable parts of one KIND (formats, presets, models, metrics, splits,
    network-methods, strategies), or of every kind."""
    kinds = [kind] if kind else list(KINDS)
    entries = {k: KINDS[k][1]() for k in kinds}
    if as_json:
        click.echo(json.dumps(entries[kind] if kind else entries, indent=2))
        return
    for k in kinds:
        if not kind:
            click.echo(f"{k}: {KINDS[k][0]}")
        width = max(map(len, entries[k]), default=0) + 2
        for name, text in entries[k].items():
            click.echo(f"  {name:<{width}}{text}")


COMMANDS = [list_cmd]
