"""The ``lpm-kg`` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from lpm_kg import __version__
from lpm_kg.errors import ConfigError, LpmKgError
from lpm_kg.commands.options import renamed
from lpm_kg.settings import Settings


def _write_crash_log(exc: BaseException) -> Path | None:
    """The traceback of an unexpected error, in a log file under the data dir (else the temp dir)."""
    import os
    import tempfile
    import time
    import traceback

    text = f"lpm-kg {__version__}: {' '.join(sys.argv)}\n\n" + "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
    name = f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    folders = []
    try:
        folders.append(Settings().data_dir / "logs")
    except Exception:  # a broken setting must not hide the original error
        pass
    folders.append(Path(tempfile.gettempdir()) / "lpm-kg-logs")
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
            return folder / name
        except OSError:
            continue
    return None


class _Group(click.Group):
    """Prints lpm-kg's own errors as one clear line instead of a traceback (exit code 2: the user
    can fix them), and any other error as one line naming a log file with its traceback (exit 1)."""

    def invoke(self, ctx):
        from lpm_kg.server import MavenError, Neo4jServerError

        try:
            return super().invoke(ctx)
        except (LpmKgError, MavenError, Neo4jServerError) as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)
        except BrokenPipeError:
            # The reader went away (`lpm-kg formats | head -1`): not an error. Point stdout at devnull
            # so the interpreter's final flush does not raise again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit, EOFError):
            raise  # click's own handling: usage errors, prompts answered with Ctrl-D, exit codes
        except Exception as exc:
            log = _write_crash_log(exc)
            detail = str(exc).splitlines()[0] if str(exc) else ""
            where = f"the traceback is in {log}" if log else "no log file could be written"
            click.secho(f"error: unexpected {type(exc).__name__}{': ' + detail if detail else ''} ({where}; "
                        "this is a bug in lpm-kg, please report it with that file)", fg="red", err=True)
            sys.exit(1)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="lpm-kg")
def main() -> None:
    """Perturbation experiments as a Neo4j knowledge graph, and the Large Perturbation Model on it."""


from lpm_kg.commands import connect as _connect  # noqa: E402

# --------------------------------------------------------------------------- neo4j

@main.group()
def neo4j() -> None:
    """The managed local Neo4j server (ignored when NEO4J_URI names another server)."""


def _server():
    from lpm_kg.server import managed_server

    return managed_server(Settings())


@neo4j.command("install")
def neo4j_install() -> None:
    """Resolve the Neo4j jars (and plugins) from Maven Central into the cache."""
    from lpm_kg.server import ensure_jars

    jars = ensure_jars(Settings().cache_dir, progress=lambda m: click.echo(m, err=True))
    click.echo(f"neo4j jars in {jars.lib_dir}; plugins: {', '.join(jars.plugin_dirs) or 'none'}")
    for name, err in jars.plugin_errors.items():
        click.echo(f"plugin {name} did not resolve: {err.splitlines()[0] if err else ''}", err=True)


@neo4j.command("start")
def neo4j_start() -> None:
    """Start the managed server (resolving jars on first use) and wait until it answers."""
    server = _server()
    server.start()
    _print_server(server.status())


@neo4j.command("stop")
def neo4j_stop() -> None:
    """Stop the managed server."""
    _server().stop()
    click.echo("stopped")


@neo4j.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def neo4j_status(as_json: bool) -> None:
    """Whether the managed server runs, where, and which plugins loaded."""
    st = _server().status()
    if as_json:
        click.echo(json.dumps(_server_dict(st), indent=2, default=str))
    else:
        _print_server(st)


def _server_dict(st) -> dict:
    return {k: getattr(st, k) for k in ("running", "pid", "bolt_uri", "http_url", "browser_url", "home",
                                         "plugins_loaded", "plugin_errors") if hasattr(st, k)}


def _print_server(st) -> None:
    d = _server_dict(st)
    click.echo(f"neo4j: {'running' if d['running'] else 'stopped'}" + (f" (pid {d['pid']})" if d.get("pid") else ""))
    if d["running"]:
        click.echo(f"  bolt:    {d['bolt_uri']}\n  browser: {d['browser_url']}")
        click.echo(f"  plugins: {', '.join(d.get('plugins_loaded') or []) or 'none'}")
    click.echo(f"  data:    {d['home']}")


# --------------------------------------------------------------------------- graph

@main.command()
def init() -> None:
    """Apply the schema (constraints, indexes, version). Safe to repeat."""
    from lpm_kg.graph.schema import apply_schema

    with _connect() as graph:
        click.echo(f"schema version {apply_schema(graph)} applied to {graph.uri}")


@main.command()
def formats() -> None:
    """List the loaders (--format values) and their options."""
    from lpm_kg.registry import loaders

    for spec in loaders():
        click.echo(f"{spec.name:<20} [{spec.kind}] {spec.description}")
        for opt, help_ in spec.options.items():
            click.echo(f"{'':<22}--option {opt}=...  {help_}")


def _parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, help="Loader name; `lpm-kg formats` lists them.")
@click.option("--dataset", required=True, help="Dataset name; also the dataset part of context symbols.")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="Loader option (repeatable).")
@click.option("--unmapped", type=click.Choice(["auto", "error", "skip"]), default="auto", show_default=True,
              help="Gene ids that do not resolve: auto drops a few (<=5%) and stops on more.")
@click.option("--top", "top_k", type=click.IntRange(min=0), default=25, show_default=True,
              help="CHANGES relationships per experiment, strongest first (0: none).")
@renamed("--top-k", "--top", "old_top_k", type=click.IntRange(min=0), default=None)
@click.option("--source", default=None, help="Provenance (default: SOURCES.md beside the file).")
@click.option("--licence", default=None, help="Licence of the data.")
@click.option("--force", is_flag=True, help="Reload even if the file is unchanged.")
def load(path, fmt, dataset, options, unmapped, top_k, old_top_k, source, licence, force) -> None:
    """Load PATH into the graph as dataset NAME."""
    from lpm_kg.loading import load as do_load

    top_k = old_top_k if old_top_k is not None else top_k
    with _connect() as graph:
        report = do_load(graph, path, fmt, dataset, options=_parse_options(options), unmapped=unmapped, top_k=top_k,
                         source=source, licence=licence, force=force)
    if report.skipped:
        click.echo(f"{dataset}: nothing to do ({report.reason})")
    else:
        from lpm_kg.collisions import summary_lines

        if report.resumed_from:
            click.echo(f"{dataset}: resumed an interrupted load after its first {report.resumed_from:,} experiments")
        click.echo(f"{dataset}: loaded " + ", ".join(f"{k}={v}" for k, v in report.counts.items()
                                                      if not isinstance(v, list) and k != "collision_kinds"))
        for line in summary_lines(report.counts):
            click.echo(line)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Counts per label and per dataset, and the server state."""
    from lpm_kg.graph import Graph
    from lpm_kg.graph.datasets import graph_counts, list_datasets
    from lpm_kg.graph.schema import schema_version

    settings = Settings()
    out: dict = {"server": {"uri": settings.neo4j_uri, "managed": settings.uses_managed_server}}
    if settings.uses_managed_server:
        out["server"].update(_server_dict(_server().status()))
    try:
        graph = Graph.connect(settings, start=False)
    except LpmKgError as exc:
        out["error"] = str(exc)
        graph = None
    if graph is not None:
        with graph:
            out["schema_version"] = schema_version(graph)
            out["labels"], out["relationships"] = graph_counts(graph)
            out["datasets"] = list_datasets(graph)
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
        return
    srv = out["server"]
    click.echo(f"server: {srv.get('bolt_uri') or srv.get('uri')} "
               f"({'managed, ' + ('running' if srv.get('running') else 'stopped') if srv['managed'] else 'external'})")
    if "error" in out:
        click.echo(f"  {out['error']}")
        return
    click.echo(f"schema version: {out['schema_version']}")
    click.echo("nodes:")
    for k, v in out["labels"].items():
        click.echo(f"  {k:<16}{v:>12,}")
    click.echo("relationships:")
    for k, v in out["relationships"].items():
        click.echo(f"  {k:<16}{v:>12,}")
    click.echo("datasets:")
    for d in out["datasets"]:
        n = d.get("n_measurements") or d.get("n_genes") or d.get("n_compounds") or d.get("n_edges") or d.get("n_memberships")
        click.echo(f"  {d['name']:<24}{d.get('format', ''):<20}{d.get('status', ''):<10}{n or 0:>12,}")


@main.command()
@click.argument("dataset")
@click.option("--yes", is_flag=True, help="Delete without asking.")
def delete(dataset: str, yes: bool) -> None:
    """Delete a dataset and what it loaded (experiments, reference edges), then the nodes nothing
    uses any more (contexts, perturbations, readouts, panels, unannotated compounds)."""
    from lpm_kg.graph.datasets import delete_dataset, require_dataset

    with _connect() as graph:
        require_dataset(graph, dataset)  # an unknown name is refused before the question
        if not yes:
            try:
                confirmed = click.confirm(f"Delete dataset {dataset} and everything it loaded?")
            except click.exceptions.Abort:  # Ctrl-D or Ctrl-C at the question
                confirmed = False
            if not confirmed:
                raise ConfigError(f"not confirmed: nothing was deleted; answer y, or pass --yes to delete {dataset} "
                                  "without the question")
        removed = delete_dataset(graph, dataset)
    click.echo(f"deleted {dataset}" + (": " + ", ".join(f"{n} {what}" for what, n in removed.items()) if removed else ""))


def _add_feature_commands() -> None:
    """Commands that live beside their features in lpm_kg/commands; each module lists its COMMANDS."""
    from lpm_kg.commands import (analytics, design_suggest, discovery_mechanisms, discovery_moa, discovery_network,
                                 discovery_partners, pipeline, query, registries)

    for module in (pipeline, discovery_moa, discovery_mechanisms, discovery_network, discovery_partners, design_suggest,
                   query, analytics, registries):
        for command in module.COMMANDS:
            main.add_command(command)


_add_feature_commands()

if __name__ == "__main__":
    main()
