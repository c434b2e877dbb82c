"""Loaders are components looked up by name: ``lpm-kg formats`` lists them, ``--format`` picks one."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lpm_kg.errors import ConfigError


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


_LOADERS: dict[str, LoaderSpec] = {}


def register(name: str, kind: str, description: str, *, options: dict[str, str] | None = None,
             files=None, needs_genes: bool = True, version: int = 1):
    def deco(fn):
        if name in _LOADERS:
            raise RuntimeError(f"loader {name!r} registered twice")
        _LOADERS[name] = LoaderSpec(name, kind, description, fn, dict(options or {}), files, needs_genes, version)
        return fn

    return deco


def _ensure_registered() -> None:
    importlib.import_module("loaders")


def loaders() -> list[LoaderSpec]:
    _ensure_registered()
    return sorted(_LOADERS.values(), key=lambda s: (s.kind, s.name))


def get_loader(name: str) -> LoaderSpec:
    _ensure_registered()
    if name not in _LOADERS:
        raise ConfigError(f"unknown format {name!r}; `lpm-kg formats` lists them: {', '.join(sorted(_LOADERS))}")
    return _LOADERS[name]
