"""Components looked up by name, PyKEEN-style: one :class:`Registry` per kind (loaders here; LPM
presets, benchmark models, acquisition strategies beside their code), each listed by the CLI, an
unknown name refused with the known ones named. A loader declares its options once, as a
:class:`LoaderOptions` model."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Generic, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict
from pydantic.fields import FieldInfo

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


class LoaderOptions(BaseModel):
    """A loader's options, declared once: one field per option with its type, default and
    description (``Field(default, description=...)``). The load validates the option strings
    (``--option key=value``, a sync source's ``options``) into it before anything is written, and
    the reader reads the typed values from it; ``lpm-kg formats`` lists them from it. An option
    whose default is worked out from the file is ``None`` by default, its description saying what
    unset means. This base class is the options of a loader that has none."""

    model_config = ConfigDict(extra="forbid")


def option_type(info: FieldInfo) -> str:
    """What an option takes, in the words ``lpm-kg formats`` and the errors use: ``3|5``, ``integer >= 1``."""
    annotation = info.annotation
    if get_origin(annotation) in (Union, UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return "|".join(str(a) for a in get_args(annotation))
    text = {bool: "true|false", int: "integer", float: "number", str: "text"}.get(annotation, str(annotation))
    bounds = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    for meta in info.metadata:
        text += "".join(f" {sign} {getattr(meta, key)}" for key, sign in bounds.items()
                        if getattr(meta, key, None) is not None)
    return text


def default_text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def option_help(info: FieldInfo) -> str:
    """The description, then the default (where it is not worked out from the file) and the type."""
    default = "" if info.default is None else f" (default {default_text(info.default)})"
    return f"{info.description}{default} [{option_type(info)}]"


@dataclass(frozen=True)
class LoaderSpec:
    name: str
    kind: str  # measurements | genes | compounds | relations | groups
    description: str
    read: Callable  # (path: Path, ctx: LoadContext) -> Payload
    options_model: type[LoaderOptions] = LoaderOptions
    # every file the load reads (for the checksum), given the validated options
    files: Callable[[Path, LoaderOptions], list[Path]] | None = None
    needs_genes: bool = True
    version: int = 1  # bump when the loader's output for the same file changes

    @property
    def options(self) -> dict[str, str]:
        """Option -> help text (with its default and type), from :attr:`options_model`."""
        return {name: option_help(info) for name, info in self.options_model.model_fields.items()}

    def input_files(self, path: Path, options: LoaderOptions) -> list[Path]:
        return self.files(path, options) if self.files else [path]


_LOADERS: Registry[LoaderSpec] = Registry("format", "lpm-kg formats")


def register(name: str, kind: str, description: str, *, options: type[LoaderOptions] = LoaderOptions,
             files=None, needs_genes: bool = True, version: int = 1):
    if not (isinstance(options, type) and issubclass(options, LoaderOptions)):
        raise TypeError(f"format {name!r}: options must be a LoaderOptions subclass, not {options!r}")
    if options.model_config.get("extra") != "forbid":
        raise TypeError(f"format {name!r}: {options.__name__} must refuse unknown options (extra='forbid')")
    undocumented = [f for f, info in options.model_fields.items() if not info.description]
    if undocumented:
        raise TypeError(f"format {name!r}: option(s) {', '.join(undocumented)} of {options.__name__} need a "
                        "description")

    def deco(fn):
        _LOADERS.register(LoaderSpec(name, kind, description, fn, options, files, needs_genes, version))
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
