"""Errors a user can act on: each names where the problem is and what to do about it."""

from __future__ import annotations


class LpmKgError(Exception):
    """Base class: the CLI prints these without a traceback."""


class InputError(LpmKgError):
    """Bad input. Raised before anything is written, so the graph is left as it was."""

    def __init__(self, file: str | None, problem: str, fix: str, *, row: int | str | None = None,
                 field: str | None = None):
        self.file, self.problem, self.fix, self.row, self.field = file, problem, fix, row, field
        where = [f"file {file}"] if file else []
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where) or 'input'}: {problem}. Fix: {fix}")


class ConfigError(LpmKgError):
    """A bad setting or config key."""


class ServerError(LpmKgError):
    """The Neo4j server could not be started or reached."""


class TrainingDiverged(LpmKgError):
    """The training loss became non-finite: nothing of the run is kept."""


class SyncStopped(LpmKgError):
    """A sync failed after some of its steps completed: the message says which, so the user knows
    what the graph now holds (each completed step is whole) and that a rerun continues from there."""

    def __init__(self, problem: str, completed: list[str]):
        self.problem, self.completed = problem, completed
        super().__init__(f"{problem} (the sync stopped there; completed and kept: {'; '.join(completed)}. "
                         "Fix the problem and rerun `lpm-kg sync`: it continues from the completed steps)")


class MoaError(LpmKgError, ValueError):
    """A mechanism-of-action query that cannot be answered as asked."""


class AnalyticsError(LpmKgError, ValueError):
    """A network that cannot be analysed as asked (unknown network, no edges, ambiguous method)."""
