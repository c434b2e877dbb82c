"""``lpm-kg query`` and ``lpm-kg queries``: run the Cypher cookbook (lpm_kg.queries) from the shell.

    lpm-kg queries                                   # names, parameters, descriptions
    lpm-kg query similar-perturbations -p symbol=CRISPRi_SIMG001 -p k=5
    lpm-kg query readout-values -p perturbation=vemurafenib-10uM -p readouts=Transcriptome_DUSP6,Transcriptome_FOS --json
    lpm-kg query top-effects --cypher                # what to paste into Neo4j Browser (:param lines + query)
"""

from __future__ import annotations

import json
import shutil

import click

from lpm_kg.jsonsafe import json_safe
from lpm_kg.queries import QueryError, get_query, list_queries, run_query
from lpm_kg.settings import Settings

CELL_WIDTH = 48


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value (e.g. -p k=5)", param_hint="'--param'")
        if key in out:
            raise click.BadParameter(f"parameter {key!r} is given twice", param_hint="'--param'")
        out[key] = value
    return out


def _cell(value) -> str:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, list):
        text = ", ".join(_cell(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(json_safe(value), default=str)
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= CELL_WIDTH else text[:CELL_WIDTH - 1] + "…"


def format_table(rows: list[dict]) -> str:
    """Rows as an aligned text table (long cells cut; --json gives them whole)."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), (int, float)) and not isinstance(row.get(c), bool)
                   for row in rows if row.get(c) is not None) for c in columns]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


@click.command("query")
@click.argument("name")
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE",
              help="A query parameter (repeat for each); values are converted to the types the query declares; "
                   "lists are comma-separated or a JSON array.")
@click.option("--json", "as_json", is_flag=True, help="Rows as a JSON array instead of a table.")
@click.option("--cypher", "show_cypher", is_flag=True,
              help="Print the query for Neo4j Browser (':param' lines: the given values, the header's examples "
                   "for the rest) instead of running it.")
def query_cmd(name: str, params: tuple[str, ...], as_json: bool, show_cypher: bool) -> None:
    """Run the cookbook query NAME (`lpm-kg queries` lists them) and print its rows."""
    values = _parse_params(params)
    try:
        query = get_query(name)
        if show_cypher:
            click.echo(query.browser_script(values), nl=False)
            return
        query.bind(values)  # a bad parameter is reported before connecting
    except QueryError as exc:
        raise click.UsageError(str(exc)) from None
    from lpm_kg.graph import Graph

    with Graph.connect(Settings()) as graph:
        rows = run_query(graph, name, values)
    if as_json:
        click.echo(json.dumps(json_safe(rows), indent=2, default=str))
    else:
        click.echo(format_table(rows))


@click.command("queries")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable: name, description, parameters.")
def queries_cmd(as_json: bool) -> None:
    """List the Cypher cookbook's queries (run one with `lpm-kg query NAME -p key=value`)."""
    queries = list_queries()
    if as_json:
        click.echo(json.dumps([{"name": q.name, "description": q.description,
                                "params": [{"name": p.name, "type": p.type, "description": p.description,
                                            "example": p.example} for p in q.params]} for q in queries], indent=2))
        return
    width = shutil.get_terminal_size((100, 20)).columns
    for q in queries:
        signature = ", ".join(f"{p.name} ({p.type})" for p in q.params) or "no parameters"
        click.echo(f"{q.name}  [{signature}]")
        click.echo(click.wrap_text(q.description, width=max(40, width - 2), initial_indent="    ",
                                   subsequent_indent="    "))


COMMANDS = (query_cmd, queries_cmd)
