"""``lpm-kg mechanisms``: same-mechanism retrieval among the measured compounds with its
significance, or one compound's likely mechanisms with their evidence
(:mod:`lpm_kg.discovery.compound_mechanisms`). ``lpm_kg.cli`` adds it with ``main.add_command``."""

from __future__ import annotations

import json

import click

from lpm_kg.commands import connect as _connect
from lpm_kg.jsonsafe import frame_records


@click.command("mechanisms")
@click.argument("compound", required=False)
@click.option("--top", "k", type=click.IntRange(min=1, max=10_000), default=10, show_default=True,
              help="With COMPOUND: how many nearest annotated compounds vote.")
@click.option("--run", "run_id", default=None, help="Model run whose embeddings are used (default: the current "
              "embeddings' run).")
@click.option("--null", "n_null", type=click.IntRange(min=0), default=1000, show_default=True,
              help="MOA shuffles for the permutation p values.")
@click.option("--no-write", is_flag=True, help="Do not record the retrieval scores on the model run's metrics.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def mechanisms(compound: str | None, k: int, run_id: str | None, n_null: int, no_write: bool, as_json: bool) -> None:
    """Without COMPOUND: for every measured compound with a mechanism of action (MOA) that another
    shares, are the compounds nearest to it in the run's perturbation space those of its MOA? Mean
    average precision and recall@k of the run's embeddings and of the raw measured signatures, each
    with its p value against shuffled MOAs, and the paired test of the run against raw; recorded on
    the run's metrics under "mechanisms". With COMPOUND: its likely MOAs, voted by its nearest
    annotated compounds (its own annotation left out of the vote and shown beside)."""
    from lpm_kg.discovery import compound_mechanisms as cm
    from lpm_kg.graph.embeddings import current_embedding_run
    from lpm_kg.graph.runs import merge_run_metrics

    with _connect() as graph:
        if compound:
            name, table, own = cm.likely_mechanisms(graph, compound, run_id, k)
            run = run_id or current_embedding_run(graph)
        else:
            result = cm.mechanism_retrieval(graph, run_id, n_null=n_null)
            if not no_write:
                merge_run_metrics(graph, result.run, {"mechanisms": result.to_json()})
    if compound:
        if as_json:
            click.echo(json.dumps({"compound": name, "run": run, "annotated": own,
                                   "mechanisms": frame_records(table)}, indent=2))
            return
        click.echo(f"likely mechanisms of {name} (run {run}), voted by its {k} nearest annotated compounds; "
                   f"annotated: {', '.join(own) or 'none'}")
        for r in table.itertuples():
            mark = "  (annotated)" if r.annotated else ""
            click.echo(f"  {r.score:6.3f}  {r.moa}{mark}: {', '.join(r.neighbours)}")
        if table.empty:
            click.echo("  (no annotated compound near it)")
        return
    if as_json:
        click.echo(json.dumps({**result.to_json(), "recorded": not no_write}, indent=2))
        return
    click.echo(f"same-mechanism retrieval, run {result.run}: {result.n_annotated} of {result.n_compounds} embedded "
               "compounds annotated")
    shown = result.table.copy()
    for col in shown.columns:
        if col not in ("map", "n_compounds", "n_queries"):
            shown[col] = shown[col].map(lambda v: "n/a" if v != v else f"{v:.3g}")
    click.echo(shown.to_string(index=False))
    for c in result.compare.itertuples():
        verdict = "better" if c.p_better < 0.05 else "worse" if c.p_worse < 0.05 else "a tie"
        click.echo(f"{c.leader} against {c.other}: AP {c.ap_leader:.3f} vs {c.ap_other:.3f} over {c.n_queries} "
                   f"queries, one-sided Wilcoxon p {c.p_better:.3g} (better) / {c.p_worse:.3g} (worse): {verdict}")
    if not no_write:
        click.echo(f"recorded on model run {result.run} (metrics key 'mechanisms')")


COMMANDS = (mechanisms,)
