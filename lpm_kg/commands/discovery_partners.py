"""``lpm-kg partners``: which genes act with a gene, learned against known
(:mod:`lpm_kg.discovery.partners`). ``lpm_kg.cli`` adds it with ``main.add_command``."""

from __future__ import annotations

import json

import click

from lpm_kg.commands import connect as _connect
from lpm_kg.jsonsafe import frame_records


@click.command("partners")
@click.argument("gene")
@click.option("--top", "k", type=click.IntRange(min=1, max=10_000), default=20, show_default=True,
              help="How many partners.")
@click.option("--run", "run_id", default=None, help="Model run whose embeddings rank them (default: the current "
              "embeddings' run).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def partners(gene: str, k: int, run_id: str | None, as_json: bool) -> None:
    """The genes whose knock-down the LPM places nearest to GENE's (cosine of the run's perturbation
    embeddings), each with how unusual that similarity is among all pairs and what the references
    already know of the pair; and whether the list finds known partners more often than chance."""
    from lpm_kg.discovery.partners import gene_partners

    with _connect() as graph:
        found = gene_partners(graph, gene, k, run=run_id)
    if as_json:
        click.echo(json.dumps({"gene": found.gene, "run": found.run, "n_genes": found.n_genes,
                               "known_total": found.known_total, "known_in_top": found.known_in_top,
                               "expected_in_top": found.expected_in_top, "enrichment_p": found.enrichment_p,
                               "partners": frame_records(found.table)}, indent=2))
        return
    click.echo(f"partners of {found.gene} in run {found.run} ({found.n_genes} perturbed genes); "
               "pair p: share of all gene pairs at least as similar")
    for r in found.table.itertuples():
        known = "; ".join(r.known[:3]) + (f" (+{len(r.known) - 3})" if len(r.known) > 3 else "") if r.known else "new"
        click.echo(f"{r.rank:>4}  {r.partner:<14} cosine {r.cosine:+.3f}  pair p {r.pair_p:.1e}  {known}")
    click.echo(f"\n{found.known_in_top} of these {len(found.table)} are known partners of {found.gene} "
               f"({found.expected_in_top:.1f} expected from the {found.known_total} known among the perturbed genes; "
               f"hypergeometric p = {found.enrichment_p:.2g})")


COMMANDS = (partners,)
