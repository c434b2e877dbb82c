"""``lpm-kg similar`` and ``lpm-kg moa``: nearest perturbations in the learned space, and how well
a compound's nearest genetic perturbations recover its annotated targets
(:mod:`lpm_kg.discovery.moa`). ``lpm_kg.cli`` adds them with ``main.add_command``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lpm_kg.commands import connect as _connect
from lpm_kg.commands import output_file
from lpm_kg.commands.options import renamed


def _k_list(text: str) -> list[int]:
    try:
        ks = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of whole numbers, e.g. 1,5,10,20") from None
    if not ks or ks[0] < 1:
        raise click.BadParameter("give k values of at least 1, e.g. 1,5,10,20")
    return ks


@click.command("similar")
@click.argument("symbol")
@click.option("--k", "k", type=click.IntRange(min=1, max=100_000), default=10, show_default=True,
              help="How many neighbours.")
@click.option("--genetic-only", is_flag=True, help="Only genetic perturbations, with their target genes "
              "(a compound's candidate targets).")
@click.option("--run", "run_id", help="Search this model run's stored embeddings exactly (default: the current "
              "embeddings, through the vector index).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def similar(symbol: str, k: int, genetic_only: bool, run_id: str | None, as_json: bool) -> None:
    """The perturbations nearest to SYMBOL in the LPM's perturbation embedding space (cosine,
    scored (1 + cos) / 2)."""
    from lpm_kg.graph.embeddings import nearest_genetic
    from lpm_kg.graph.embeddings import most_similar

    with _connect() as graph:
        if genetic_only:
            rows = [{"perturbation": s, "target": t, "score": score}
                    for s, t, score in nearest_genetic(graph, symbol, k, run=run_id)]
        else:
            found = most_similar(graph, "perturbations", symbol, k + 1, run=run_id)
            rows = [{"perturbation": s, "score": score} for s, score in found if s != symbol][:k]
    if as_json:
        click.echo(json.dumps({"symbol": symbol, "run": run_id, "genetic_only": genetic_only, "neighbours": rows}))
        return
    if not rows:
        click.echo(f"no {'genetic ' if genetic_only else ''}perturbation is embedded near {symbol}")
        return
    click.echo(f"nearest {'genetic ' if genetic_only else ''}perturbations to {symbol}"
               + (f" (run {run_id})" if run_id else "") + ":")
    for i, row in enumerate(rows, 1):
        target = f"  target {row['target']}" if genetic_only else ""
        click.echo(f"{i:>4}  {row['perturbation']:<40} {row['score']:.4f}{target}")


def plot_recall(table, path: Path) -> Path:
    """A bar chart of recall@k per method (matplotlib, Agg) written to ``path`` (PNG)."""
    import numpy as np

    from lpm_kg.plots import figure, save_figure

    ks = sorted(table["k"].unique())
    methods = list(dict.fromkeys(table["method"]))
    width = 0.8 / max(1, len(methods))
    fig = figure(max(4.5, 1.6 + 1.2 * len(ks)), 3.6)
    ax = fig.subplots()
    x = np.arange(len(ks))
    for i, method in enumerate(methods):
        part = table[table["method"] == method].set_index("k").reindex(ks)
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, part["recall"].fillna(0).to_numpy(), width, label=method)
    n = int(table["n_compounds"].max()) if len(table) else 0
    ax.set_xticks(x, [f"k={k}" for k in ks])
    ax.set_ylim(0, 1.18)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel("recall@k (>= 1 target hit)")
    ax.set_title(f"Annotated targets among a compound's k nearest\ngenetic perturbations ({n} compounds)", fontsize=9)
    ax.legend(fontsize=8, frameon=False, ncol=min(len(methods), 3), loc="upper center")
    fig.tight_layout()
    return save_figure(fig, path)


@click.command("moa")
@click.option("--k", "k_text", default="1,5,10,20", show_default=True, help="Comma-separated k values.")
@click.option("--run", "run_ids", multiple=True,
              help="A model run to score (default: the run of the current embeddings). Repeat to score several "
                   "runs side by side on the same compounds, e.g. the paper's LPM and a graph-informed one.")
@click.option("--predicted", is_flag=True,
              help="Also score the first run's predicted profiles (method lpm-predicted): the compound and the "
                   "genetic perturbation predicted in every context the model knows, so pairs never measured in one "
                   "cell line are compared too. Loads the run's checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), callback=output_file,
              help="Also write a PNG bar chart of recall@k per method.")
@click.option("--no-write", is_flag=True, help="Do not record the result on the model run's metrics.")
@renamed("--no-record", "--no-write", "no_record", is_flag=True)
def moa(k_text: str, run_ids: tuple[str, ...], predicted: bool, as_json: bool, plot_path: Path | None,
        no_write: bool, no_record: bool) -> None:
    """Mechanism of action: how often a compound's nearest genetic perturbations name its
    annotated targets, for each run's embeddings, raw measured signatures and random, on the same
    compounds. Recorded on each scored model run's metrics under "moa"."""
    from lpm_kg.commands import lpm_run_and_model
    from lpm_kg.discovery.moa import moa_recall, table_to_json, update_run_metrics
    from lpm_kg.graph.embeddings import current_embedding_run
    from lpm_kg.settings import Settings

    ks = _k_list(k_text)
    with _connect() as graph:
        model = None
        if predicted:
            run, loaded = lpm_run_and_model(graph, run_ids[0] if run_ids else current_embedding_run(graph),
                                            Settings().data_dir / "runs")
            model = (run["run_id"], loaded)
        table = moa_recall(graph, ks, run=list(run_ids) or None, predicted=model,
                           progress=lambda done, total: click.echo(f"predicted profiles: {done}/{total} contexts",
                                                                   err=True))
        result = table_to_json(table)
        recorded = [] if no_write or no_record else list(result["runs"])
        for run in recorded:
            update_run_metrics(graph, run, {"moa": result})
    if plot_path is not None:
        plot_recall(table, plot_path)
    if as_json:
        click.echo(json.dumps({**result, "recorded_on": recorded, "plot": str(plot_path) if plot_path else None}))
        return
    click.echo(f"model run{'s' if len(result['runs']) > 1 else ''}: {', '.join(result['runs']) or 'none'}; "
               f"{result['n_compounds']} compound perturbations "
               f"({result['n_distinct_compounds']} compounds) scored against {result['n_genetic']} "
               "genetic perturbations")
    if result["note"]:
        click.echo(f"note: {result['note']}")
    if result["n_compounds"]:
        shown = table.copy()
        for col in ("recall", "target_recall"):
            shown[col] = shown[col].map(lambda v: "n/a" if v != v else f"{v:.3f}")
        click.echo(shown.to_string(index=False))
        click.echo("recall: share of compounds with >= 1 annotated target in the top k; target_recall: mean share "
                   "of their targets in the top k; random: exact expectation")
        for method, sig in (result.get("significance") or {}).items():
            click.echo(f"significance {method}: best target rank at {sig['mean_rank_share']:.3f} of the candidates "
                       f"on average (shuffled genes {sig['null_mean']:.3f}), p {sig['p']:.2g} "
                       f"({sig['n_null']} shuffles)")
    if recorded:
        click.echo(f"recorded on model run{'s' if len(recorded) > 1 else ''} {', '.join(recorded)} (metrics key 'moa')")
    if plot_path is not None:
        click.echo(f"plot written to {plot_path}")


COMMANDS = (similar, moa)
