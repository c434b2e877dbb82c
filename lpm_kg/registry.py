"""Components looked up by name, PyKEEN-style: one :class:`Registry` per kind (loaders here; LPM
presets, benchmark models, acquisition strategies beside their code), each listed by the CLI, an
unknown name refused with the known ones named."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from lpm_kg.errors import ConfigError

T = TypeVar("T")


class UnknownName(ConfigError, KeyError):
    """A name no component of a registry has (a KeyError too, so ``mapping[name]`` habits hold)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Mapping[str, T], Generic[T]):
    """Name -> component, in registration order. ``register`` adds one under ``name`` or its own
    ``name`` attribute (so it also decorates a named class); a name registers once."""

    def __init__(self, kind: str, listed_by: str | None = None):
        self.kind, self.listed_by = kind, listed_by
        self._items: dict[str, T] = {}

    def register(self, obj: T, name: str | None = None) -> T:
        self._add(name or getattr(obj, "name", None), obj)
        return obj

    def _add(self, name: str, obj: T) -> None:
        if not name:
            raise RuntimeError(f"a {self.kind} needs a name")
        if name in self._items:
            raise RuntimeError(f"{self.kind} {name!r} registered twice")
        self._items[name] = obj

    def update(self, items: Mapping[str, T]) -> None:
        for name, obj in items.items():
            self._add(name, obj)

    def __getitem__(self, name: str) -> T:
        if name not in self._items:
            where = f"`{self.listed_by}` lists them: " if self.listed_by else f"{self.kind}s: "
            raise UnknownName(f"unknown {self.kind} {name!r}; {where}{', '.join(self._items)}")
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"

    def describe(self) -> dict[str, str]:
        """Name -> one line: the component's ``description``, else its docstring's first line."""
        out = {}
        for name, obj in self._items.items():
            text = getattr(obj, "description", None) or (getattr(obj, "__doc__", None) or "").strip()
            out[name] = str(text).splitlines()[0] if text else ""
        return out


@dataclass(frozen=True)
class LoaderSpec:
    name: str
    kind: str  # measurements | genes | compounds | relations | groups
    description: str
    read: Callable  # (path: Path, ctx: LoadContext) -> Payload
    options: dict[str, str] = field(default_factory=dict)  # option -> help (with its default)
    files: Callable[[Path, dict], list[Path]] | None = None  # every file the load reads (for the checksum)
    needs_genes: bool = True
    version: int = 1  # bump when the loader's output for the same file changes

    def input_files(self, path: Path, options: dict) -> list[Path]:
        return self.files(path, options) if self.files else [path]


_LOADERS: Registry[LoaderSpec] = Registry("format", "lpm-kg formats")


def register(name: str, kind: str, description: str, *, options: dict[str, str] | None = None,
             files=None, needs_genes: bool = True, version: int = 1):
    def deco(fn):
        _LOADERS.register(LoaderSpec(name, kind, description, fn, dict(options or {}), files, needs_genes, version))
        return fn

    return deco


def _ensure_registered() -> None:
    importlib.import_module("loaders")


def loaders() -> list[LoaderSpec]:
    _ensure_registered()
    return sorted(_LOADERS.values(), key=lambda s: (s.kind, s.name))


def get_loader(name: str) -> LoaderSpec:
    _ensure_registered()
    return _LOADERS[name]
