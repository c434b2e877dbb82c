"""The CLI's one dialect, declared once: a list is a singular option that repeats or takes commas
(``--dataset A --dataset B`` = ``--dataset A,B``), a count of strongest items is ``--top`` (or
``--k`` for neighbours), and ``--no-write`` leaves the graph as it is. An old spelling is accepted
for one release, hidden from ``--help``, with a note on stderr naming the new one."""

from __future__ import annotations

import click


def names(*values) -> list[str] | None:
    """The values of list options, repeated and/or comma-separated, in order, blanks dropped; None
    when there are none (the command's default)."""
    out = [part.strip() for group in values for value in group or () for part in str(value).split(",")]
    return [p for p in out if p] or None


def list_option(name: str, dest: str, help: str):
    return click.option(name, dest, multiple=True, help=f"{help} Repeat it, or separate with commas.")


def renamed(old: str, new: str, dest: str, **kwargs):
    """``old``, the previous spelling of ``new``: accepted for one release with a deprecation note."""
    def note(ctx, param, value):
        if value not in (None, (), False):
            click.echo(f"note: {old} is deprecated and will be removed in the next release; use {new}", err=True)
        return value

    return click.option(old, dest, hidden=True, callback=note, **kwargs)
