"""``lpm-kg analytics``, ``lpm-kg export-pyg`` and ``lpm-kg plot``: network analytics, the PyG export
and pictures. ``lpm_kg.cli`` adds :data:`COMMANDS` to ``lpm-kg`` (``main.add_command``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lpm_kg.analytics import ENGINES
from lpm_kg.graph.analyses import NETWORKS


from lpm_kg.commands import connect as _connect  # noqa: E402
from lpm_kg.commands import output_file  # noqa: E402
from lpm_kg.commands.options import list_option, names, renamed  # noqa: E402


@click.command("analytics")
@click.option("--network", "network_name", type=click.Choice(list(NETWORKS)), default="inferred", show_default=True,
              help="inferred: a model run's INFERRED_INTERACTION edges; string: INTERACTS_WITH; regulates: REGULATES.")
@click.option("--run", default=None, help="Model run of the inferred network (default: the newest with such edges).")
@click.option("--method", default=None, help="Inference method (default: the run's only one).")
@list_option("--dataset", "datasets", "Reference networks: only edges of this dataset.")
@click.option("--min-score", type=float, default=None, help="Drop edges whose score is below this.")
@click.option("--engine", type=click.Choice(list(ENGINES)), default="auto", show_default=True,
              help="auto: Graph Data Science when the server has it, else networkx.")
@click.option("--no-write", is_flag=True, help="Compute and print only; leave the Gene properties as they are.")
@click.option("--top", default=10, show_default=True, help="Most central genes to list.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def analytics(network_name, run, method, datasets, min_score, engine, no_write, top, as_json) -> None:
    """Louvain communities, PageRank and degree of a gene network, written to its Gene properties
    (community_<network>, pagerank_<network>, degree_<network>)."""
    from lpm_kg.analytics import run_analytics

    with _connect() as graph:
        result = run_analytics(graph, network_name, run=run, method=method, datasets=names(datasets),
                               min_score=min_score, engine=engine, write=not no_write)
    summary = result.summary(top)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(f"{result.spec.describe()}: {result.n_nodes:,} genes, {result.n_edges:,} edges")
    click.echo(f"engine {result.engine} {result.engine_version or ''}".rstrip() + f", {result.seconds:.2f} s")
    click.echo(f"{result.n_communities} communities (largest: {', '.join(map(str, summary['community_sizes']))}), "
               f"modularity {result.modularity:.3f}")
    click.echo("most central (PageRank):")
    for row in summary["top_pagerank"]:
        click.echo(f"  {row['symbol']:<12} {row['pagerank']:.4f}  community {row['community']}, degree {row['degree']}")
    if result.written:
        props = result.properties
        click.echo(f"written to Gene.{props['community']}, Gene.{props['pagerank']}, Gene.{props['degree']}; "
                   f"provenance on (:NetworkAnalysis {{network: '{result.spec.network.name}'}})")


@click.command("export-pyg")
@click.argument("path", type=click.Path(path_type=Path), callback=output_file)
@click.option("--measurements", is_flag=True, help="Add (perturbation, changes, readout) edges from CHANGES.")
@list_option("--dataset", "datasets", "With --measurements: only this dataset.")
@click.option("--inferred-run", default="latest", show_default=True,
              help="Run whose inferred edges to export; 'none' for none.")
@click.option("--inferred-method", default=None, help="Only this inference method (default: all of the run's).")
@click.option("--embeddings-run", default=None, help="Node features from this run's embeddings (default: current).")
def export_pyg(path, measurements, datasets, inferred_run, inferred_method, embeddings_run) -> None:
    """Save the graph as a PyTorch Geometric HeteroData (torch.save) at PATH."""
    from lpm_kg.export import save_hetero_data

    with _connect() as graph:
        counts = save_hetero_data(graph, path, measurements=measurements, datasets=names(datasets),
                                  inferred=None if inferred_run.lower() == "none" else inferred_run,
                                  inferred_method=inferred_method, embeddings_run=embeddings_run)
    click.echo(f"saved {path}: " + ", ".join(f"{n:,} {t}" for t, n in counts["nodes"].items()))
    for t, n in counts["edges"].items():
        click.echo(f"  {t.replace('__', ' ')}: {n:,} edges")
    click.echo("load with lpm_kg.export.load_hetero_data(path) (torch.load with weights_only=True)")


@click.group("plot")
def plot() -> None:
    """Pictures (PNG) of the embeddings and the inferred gene network."""


@plot.command("embeddings")
@click.argument("path", type=click.Path(path_type=Path), callback=output_file)
@click.option("--run", default=None, help="A run's stored embeddings (default: the current ones).")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="Classes (mechanisms of action, kinds) in colour.")
def plot_embeddings(path, run, top) -> None:
    """Perturbation embeddings in 2D (PCA), coloured by mechanism of action."""
    from lpm_kg.plots import embedding_map

    with _connect() as graph:
        out = embedding_map(graph, path, run=run, top=top)
    click.echo(f"wrote {out['path']}: {out['n_points']} perturbations of run {out['run']}, "
               f"{len(out['classes'])} classes in colour")


@plot.command("neighbourhood")
@click.argument("gene")
@click.argument("path", type=click.Path(path_type=Path), callback=output_file)
@click.option("--run", default=None, help="Model run (default: the newest with inferred edges).")
@click.option("--method", default=None, help="Inference method (default: the run's only one).")
@click.option("--k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Strongest partners to draw.")
@renamed("-k", "--k", "old_k", type=click.IntRange(min=1), default=None)
def plot_neighbourhood(gene, path, run, method, k, old_k) -> None:
    """GENE and its strongest inferred partners; edges a reference confirms in red."""
    from lpm_kg.plots import gene_neighbourhood

    k = old_k if old_k is not None else k
    with _connect() as graph:
        out = gene_neighbourhood(graph, gene, path, run=run, method=method, k=k)
    click.echo(f"wrote {out['path']}: {gene} and {len(out['partners'])} partners (run {out['run']}, method "
               f"{out['method']}), {out['n_confirmed']} in a reference")


#: What ``lpm_kg.cli`` adds to ``lpm-kg``.
COMMANDS = [analytics, export_pyg, plot]
