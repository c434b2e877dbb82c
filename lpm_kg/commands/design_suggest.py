"""``lpm-kg suggest``: the next experiments to run (:mod:`lpm_kg.design.suggest`). ``lpm_kg.cli``
adds it with ``main.add_command``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lpm_kg.commands import connect as _connect
from lpm_kg.commands import lpm_run_and_model, output_file
from lpm_kg.design.strategies import DEFAULT_STRATEGY, STRATEGIES
from lpm_kg.jsonsafe import frame_records
from lpm_kg.settings import Settings


def _read_available(path: Path | None) -> list[str] | None:
    """One perturbation, gene or compound per line (a CSV's first column; ``#`` comments and a
    header named perturbation/gene/compound/name skipped)."""
    if path is None:
        return None
    names = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        name = line.split("#", 1)[0].split(",", 1)[0].split("\t", 1)[0].strip().strip('"')
        if not name or (n == 1 and name.lower() in ("perturbation", "gene", "compound", "name", "symbol")):
            continue
        names.append(name)
    if not names:
        raise click.BadParameter(f"{path} lists no perturbation (one per line: a perturbation symbol, a gene or a "
                                 "compound)", param_hint="--available")
    return names


@click.command("suggest")
@click.option("--strategy", type=click.Choice(list(STRATEGIES)), default=DEFAULT_STRATEGY, show_default=True,
              help="How to rank: " + "; ".join(f"{n}: {c.description}" for n, c in STRATEGIES.items()) + ".")
@click.option("--batch", type=click.IntRange(min=1, max=100_000), default=12, show_default=True,
              help="Experiments to propose.")
@click.option("--budget", type=click.IntRange(min=1), default=None, help="At most this many per context.")
@click.option("--context", "contexts", multiple=True, help="Only this context (repeatable; default: every one the "
              "run trained in).")
@click.option("--kind", "kinds", type=click.Choice(["genetic", "chemical"]), multiple=True,
              help="Only this kind of perturbation (repeatable; default: both).")
@click.option("--available", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A file of the perturbations you can run, one per line (symbol, gene or compound): only these "
                   "are proposed; with a graph run, genes never measured are proposed from their priors.")
@click.option("--run", "run_id", default=None, help="Model run (default: the newest complete one).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random strategy.")
@click.option("--out", type=click.Path(path_type=Path), default=None, callback=output_file,
              help="Write the batch to this CSV.")
@click.option("--plot", "plot_path", type=click.Path(path_type=Path), default=None, callback=output_file,
              help="Plot every candidate's uncertainty against its related uncertainty, the batch marked (PNG).")
@click.option("--no-write", is_flag=True, help="Do not store the plan in the graph.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def suggest(strategy, batch, budget, contexts, kinds, available, run_id, seed, out, plot_path, no_write,
            as_json) -> None:
    """Which experiments to run next: the unmeasured (perturbation, context) pairs whose measurement
    is expected to teach the model most, with why (its uncertain readouts, the unmeasured pairs it
    is related to), stored as a SuggestionPlan of the run."""
    from lpm_kg.design.suggest import SuggestSettings, suggest as make_plan

    settings = SuggestSettings(strategy=strategy, batch=batch, budget=budget, contexts=list(contexts) or None,
                               kinds=list(kinds) or ["genetic", "chemical"], available=_read_available(available),
                               seed=seed)
    with _connect() as graph:
        run, model = lpm_run_and_model(graph, run_id, Settings().data_dir / "runs")
        plan = make_plan(graph, run, model, settings, write=not no_write)
    if out:
        plan.table.assign(uncertain_readouts=plan.table.uncertain_readouts.str.join("; "),
                          related=plan.table.related.str.join("; ")).to_csv(out, index=False)
    if plot_path:
        from lpm_kg.design.plot import plot_candidates

        plot_candidates(plan.candidates, plot_path, title=f"{strategy}: run {plan.run_id}")
    if as_json:
        click.echo(json.dumps({"plan": plan.plan_id, "run": plan.run_id, "strategy": strategy,
                               "n_candidates": len(plan.candidates), "skipped": plan.skipped,
                               "suggestions": frame_records(plan.table)}, indent=2))
        return
    click.echo(f"{len(plan.table)} of {len(plan.candidates)} unmeasured experiments, strategy {strategy}, "
               f"run {plan.run_id}:")
    for r in plan.table.itertuples():
        click.echo(f"{r.rank:>4}  {r.perturbation} @ {r.context}  score {r.score:.4g}  uncertainty {r.uncertainty:.4g}")
        if r.uncertain_readouts:
            click.echo(f"        most uncertain: {', '.join(r.uncertain_readouts[:3])}")
        if r.related:
            click.echo(f"        related unmeasured: {', '.join(r.related[:3])}")
    for p, why in plan.skipped.items():
        click.echo(f"not a candidate: {p}: {why}")
    if out:
        click.echo(f"wrote {out}")
    if plot_path:
        click.echo(f"plotted {plot_path}")
    click.echo(f"plan {plan.plan_id}" + ("" if no_write else ": stored as Suggestion nodes "
                                         "(cookbook: `lpm-kg query next-plate`)"))


COMMANDS = (suggest,)
