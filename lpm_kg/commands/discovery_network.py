"""``lpm-kg network``: infer gene-gene networks with the latest LPM run, score them against the
reference networks in the graph, and write the edges and scores back (lpm_kg.discovery.networks)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lpm_kg.commands import output_file
from lpm_kg.commands.options import list_option, names, renamed
from lpm_kg.jsonsafe import frame_records
from lpm_kg.settings import Settings


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def plot_table(table, path: Path, title: str = "") -> Path:
    """A PNG: one panel per reference, AUPRC per method as bars, the prior as a dashed line."""
    import matplotlib

    from lpm_kg.plots import figure, save_figure

    refs = list(dict.fromkeys(table["reference"]))
    methods = list(dict.fromkeys(table["method"]))
    fig = figure(3.2 * max(1, len(refs)) + 1, 3.6)
    axes = fig.subplots(1, max(1, len(refs)), squeeze=False)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, ref in zip(axes[0], refs):
        rows = table[table["reference"] == ref].set_index("method").reindex(methods)
        ax.bar(range(len(methods)), rows["auprc"].fillna(0).to_numpy(),
               color=[colors[k % len(colors)] for k in range(len(methods))])
        prior = rows["prior"].dropna()
        if len(prior):
            ax.axhline(float(prior.iloc[0]), color="black", ls="--", lw=1, label="prior")
            ax.legend(loc="upper right", fontsize=7)
        n = rows["n_candidates"].dropna()
        ax.set_title(f"{ref} ({int(n.iloc[0]) if len(n) else 0:,} pairs)", fontsize=9)
        ax.set_xticks(range(len(methods)), methods, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("AUPRC")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


@click.command("network")
@list_option("--method", "methods", "Inference method (default: all of embedding-similarity, imputed-correlation, "
                                    "observed-first, raw-correlation, cross-context-correlation, "
                                    "zero-filled-correlation, random, and shared-effect for a run trained with "
                                    "shared_rank; `lpm-kg list network-methods`).")
@renamed("--methods", "--method", "old_methods", multiple=True)
@click.option("--references", default=None,
              help="Comma-separated reference networks: dataset names or kinds (string, corum, dorothea, trrust); "
                   "default every one loaded.")
@click.option("--top", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Edges written per method, strongest first (they replace that run and method's earlier edges).")
@click.option("--per-gene", type=click.IntRange(min=1), default=None,
              help="Before --top, keep only each gene's N best pairs.")
@click.option("--contexts", default="genetic", show_default=True,
              help="Contexts profiled: genetic (where genetic perturbations were measured), all, or symbols.")
@click.option("--absolute", is_flag=True,
              help="Score pairs by |correlation| (signed regulatory networks) instead of the signed correlation.")
@click.option("--null", "n_null", type=click.IntRange(min=0), default=200, show_default=True,
              help="Degree-preserving rewirings of each reference for the permutation p values (0: none).")
@click.option("--run", "run_id", default=None, help="LPM run (default: the latest complete one).")
@click.option("--no-write", is_flag=True, help="Score only: write no edges and no metrics.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--plot", type=click.Path(path_type=Path), default=None, callback=output_file,
              help="Write an AUPRC bar chart (PNG) here.")
def network(methods, old_methods, references, top, per_gene, contexts, absolute, n_null, run_id, no_write, as_json,
            plot) -> None:
    """Infer gene-gene networks (LPM embedding similarity, correlation of LPM-imputed profiles, and
    the baselines raw, zero-filled and random), score them by AUPRC, precision@k and tail recall against
    STRING, CORUM, DoRothEA and TRRUST, each with its permutation p value against the reference rewired
    with its degrees kept, and store the edges as INFERRED_INTERACTION of the run."""
    from lpm_kg.discovery import networks as nw
    from lpm_kg.discovery.network_metrics import format_table
    from lpm_kg.graph import Graph
    from lpm_kg.graph.pull import average_replicate_tuples, pull_tuples
    from lpm_kg.commands import lpm_run_and_model
    from lpm_kg.training import data_fingerprint

    settings = Settings()
    method_list = names(methods, old_methods) or None  # None: every method the run's model can give
    unknown = [m for m in method_list or [] if m not in nw.METHODS]
    if unknown:
        raise click.BadParameter(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(nw.METHODS)}",
                                 param_hint="--method")
    ctx_opt = contexts if contexts in ("genetic", "all") else _csv(contexts)
    with Graph.connect(settings) as graph:
        run, model = lpm_run_and_model(graph, run_id, settings.data_dir / "runs")
        datasets = run["datasets"] or None
        fingerprint, dataset_names = data_fingerprint(graph, datasets)
        if fingerprint != run.get("data_fingerprint"):
            click.echo(f"note: the data of run {run['run_id']} changed since it trained; scoring the symbols it knows",
                       err=True)
        tuples = average_replicate_tuples(pull_tuples(graph, dataset_names))
        report = nw.discover_networks(graph, run["run_id"], model, tuples, methods=method_list,
                                      references=_csv(references), top=max(0, top),
                                      per_gene=per_gene, contexts=ctx_opt, absolute=absolute, write=not no_write,
                                      n_null=n_null)
    if plot:
        plot_table(report.table, plot, title=f"run {report.run_id}")
    if as_json:
        out = {"run_id": report.run_id, "rows": frame_records(report.table),
               "written": {m: w["n_edges"] for m, w in report.written.items()},
               "methods": {m: {k: v for k, v in n.info.items()} for m, n in report.networks.items()},
               "seconds": {k: round(v, 3) for k, v in report.seconds.items()}}
        click.echo(json.dumps(out, indent=2, default=str))
        return
    click.echo(format_table(report.table.drop(columns=["n_genes", "n_unscored"])))
    genes = len(next(iter(report.networks.values())).genes) if report.networks else 0
    click.echo(f"\nrun {report.run_id}: {genes} perturbed genes; "
               + ", ".join(f"{m} {n.info.get('seconds', 0):.1f}s" for m, n in report.networks.items()))
    if report.written:
        counts = ", ".join(f"{w['n_edges']} {m}" for m, w in report.written.items())
        click.echo(f"wrote {counts} INFERRED_INTERACTION edges and metrics.network on ModelRun {report.run_id}")
    if plot:
        click.echo(f"plot: {plot}")


if __name__ == "__main__":  # pragma: no cover
    network(sys.argv[1:])


COMMANDS = (network,)
