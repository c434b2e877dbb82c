"""The Cypher cookbook: parameterised read queries shipped in ``lpm_kg.cypher`` / ``queries/*.cypher``.

Each file holds one query after a header of ``//`` comment lines::

    // name: top-effects
    // description: A perturbation's strongest measured effects in each context ...
    //   (continued on lines indented past the key)
    // params:
    //   perturbation (string) — a Perturbation symbol, e.g. "vemurafenib-10uM"
    //   k (int) — effects per experiment, e.g. 5

``params: none`` declares none; a single parameter may also follow ``params:`` on its own line.
Types are ``string``, ``int``, ``float`` and ``list`` (of strings; ``list[int]``, ``list[float]``
and ``list[string]`` name the item type). The text after ``e.g.`` is the example value, written as
JSON (a bare word is read as a string). Queries take their values only as ``$parameters``.

:func:`run_query` checks the parameters against the header (unknown query, missing or extra
parameter, a value of the wrong type: :class:`QueryError`, before anything reaches the server) and
converts ``"k=v"``-style strings to the declared types, so the command line can pass text:
``lpm-kg query top-effects -p perturbation=vemurafenib-10uM -p k=5``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from lpm_kg.errors import LpmKgError

PACKAGE = "lpm_kg.cypher"
FOLDER = "queries"
TYPES = ("string", "int", "float", "list", "list[string]", "list[int]", "list[float]")

_KEY = re.compile(r"^(name|description|params?)\s*:\s*(.*)$")
_PARAM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([a-z]+(?:\[[a-z]+\])?)\s*\)\s*(?:—|–|--|-|:)?\s*(.*)$")
_EXAMPLE = re.compile(r"\be\.g\.\s*(.+)$")


class QueryError(LpmKgError, ValueError):
    """An unknown cookbook query, a bad header, or parameters that do not fit the query."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    description: str = ""
    example: Any = None

    def convert(self, value: Any, query: str) -> Any:
        """``value`` as this parameter's type; strings are parsed (``"5"`` -> 5 for an int)."""
        try:
            if self.type.startswith("list"):
                item = self.type[5:-1] if "[" in self.type else "string"
                if isinstance(value, str):
                    text = value.strip()
                    if text.startswith("["):
                        value = json.loads(text)
                        if not isinstance(value, list):
                            raise ValueError("not a list")
                    else:
                        value = [v.strip() for v in text.split(",") if v.strip()]
                if not isinstance(value, (list, tuple)):
                    raise ValueError("not a list")
                return [_scalar(v, item) for v in value]
            return _scalar(value, self.type)
        except (ValueError, TypeError) as exc:
            raise QueryError(f"query {query!r}: parameter {self.name!r} must be {_type_words(self.type)}, "
                             f"not {value!r} ({exc}); e.g. {self.name}={_cli_text(self.example)}") from None


def _scalar(value: Any, type_: str) -> Any:
    if isinstance(value, bool):
        raise TypeError("a boolean")
    if type_ == "string":
        if not isinstance(value, str):
            raise TypeError(f"a {type(value).__name__}")
        return value
    if type_ == "int":
        if isinstance(value, str):
            return int(value.strip())
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError(f"a {type(value).__name__}")
    if type_ == "float":
        if isinstance(value, str):
            out = float(value.strip())
        elif isinstance(value, (int, float)):
            out = float(value)
        else:
            raise TypeError(f"a {type(value).__name__}")
        if not math.isfinite(out):
            raise ValueError("not a finite number")
        return out
    raise TypeError(f"unknown type {type_}")


def _type_words(type_: str) -> str:
    if type_.startswith("list"):
        item = type_[5:-1] if "[" in type_ else "string"
        return f"a list of {item}s (comma-separated, or a JSON array)"
    return {"string": "a string", "int": "an integer", "float": "a number"}[type_]


def _cli_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Query:
    name: str
    description: str
    params: tuple[Param, ...]
    cypher: str
    """The whole file: header comments and the statement (Neo4j ignores the comments)."""
    source: str = ""

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def bind(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The parameters checked against the header and converted to the declared types."""
        params = dict(params or {})
        declared = {p.name: p for p in self.params}
        extra = sorted(set(params) - set(declared))
        missing = [p for p in self.params if p.name not in params]
        if extra:
            takes = ", ".join(declared) or "no parameters"
            raise QueryError(f"query {self.name!r} has no parameter {', '.join(map(repr, extra))}; it takes: {takes}")
        if missing:
            need = ", ".join(f"{p.name}=<{p.type}> (e.g. {p.name}={_cli_text(p.example)})" for p in missing)
            raise QueryError(f"query {self.name!r} needs the parameter(s) {need}")
        return {name: declared[name].convert(value, self.name) for name, value in params.items()}

    def example_params(self) -> dict[str, Any]:
        """Every parameter's example value from the header."""
        return {p.name: p.example for p in self.params}

    def browser_script(self, params: Mapping[str, Any] | None = None) -> str:
        """Neo4j Browser input: one ``:param`` line per parameter (the given values; the header's
        examples for those not given), then the query."""
        values = self.bind({**self.example_params(), **dict(params or {})})
        lines = [f":param {name} => {_cypher_literal(value)}" for name, value in values.items()]
        return "\n".join([*lines, self.cypher.strip()]) + "\n"


def _cypher_literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cypher_literal(v) for v in value) + "]"
    return repr(value)


def parse_query(text: str, source: str = "<query>") -> Query:
    """A cookbook file's header and statement (see the module docstring)."""
    header: dict[str, list[str]] = {}
    current: str | None = None
    body_start = None
    lines = text.splitlines()
    for n, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("//"):
            body_start = n
            break
        content = stripped[2:]
        m = _KEY.match(content.strip())
        if m and not content.startswith("   "):
            current = "params" if m.group(1).startswith("param") else m.group(1)
            if current in header:
                raise QueryError(f"{source}: the header has '{m.group(1)}:' twice")
            header[current] = [m.group(2).strip()] if m.group(2).strip() else []
        elif current is not None and content.strip():
            header[current].append(content.strip())
    if body_start is None or not "\n".join(lines[body_start:]).strip():
        raise QueryError(f"{source}: no Cypher statement after the header")
    for key in ("name", "description", "params"):
        if key not in header or not header[key]:
            raise QueryError(f"{source}: the header needs a '// {key}:' line "
                             "(see lpm_kg/queries.py for the format; 'params: none' for no parameters)")
    name = header["name"][0]
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or len(header["name"]) > 1:
        raise QueryError(f"{source}: query name {' '.join(header['name'])!r} must be one lower-case word "
                         "with letters, digits and '-'")
    params: list[Param] = []
    specs = [] if [s.lower() for s in header["params"]] == ["none"] else header["params"]
    for spec in specs:
        m = _PARAM.match(spec)
        if not m:
            raise QueryError(f"{source}: parameter line {spec!r} is not 'name (type) — description, e.g. value'")
        pname, ptype, desc = m.groups()
        if ptype not in TYPES:
            raise QueryError(f"{source}: parameter {pname!r} has type {ptype!r}; types: {', '.join(TYPES)}")
        ex = _EXAMPLE.search(desc)
        if not ex:
            raise QueryError(f"{source}: parameter {pname!r} needs an example value ('e.g. ...')")
        example = _example_value(ex.group(1))
        param = Param(pname, ptype, desc.strip(), example)
        param = Param(pname, ptype, desc.strip(), param.convert(example, name))
        if f"${pname}" not in "\n".join(lines[body_start:]):
            raise QueryError(f"{source}: parameter {pname!r} is declared but the query never uses ${pname}")
        params.append(param)
    if len({p.name for p in params}) != len(params):
        raise QueryError(f"{source}: a parameter is declared twice")
    return Query(name=name, description=" ".join(header["description"]), params=tuple(params), cypher=text.strip(),
                 source=source)


def _example_value(text: str) -> Any:
    """The JSON value at the start of ``text`` (what follows it, like '(after ...)', is a remark)."""
    text = text.strip()
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
        return value
    except json.JSONDecodeError:
        return text.split()[0].rstrip(",;")


@lru_cache(maxsize=1)
def _cookbook() -> dict[str, Query]:
    folder = resources.files(PACKAGE).joinpath(FOLDER)
    out: dict[str, Query] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".cypher"):
            continue
        query = parse_query(entry.read_text(encoding="utf-8"), source=f"{FOLDER}/{entry.name}")
        if entry.name != f"{query.name}.cypher":
            raise QueryError(f"{FOLDER}/{entry.name}: its header names it {query.name!r}; "
                             f"name the file {query.name}.cypher")
        out[query.name] = query
    return out


def list_queries() -> list[Query]:
    """Every cookbook query, by name."""
    return list(_cookbook().values())


def get_query(name: str) -> Query:
    queries = _cookbook()
    if name not in queries:
        close = [q for q in queries if name and name.lower() in q] or difflib.get_close_matches(name, list(queries), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise QueryError(f"there is no query {name!r}{hint}; the queries are {', '.join(queries)} "
                         "(`lpm-kg queries` describes them)")
    return queries[name]


def run_query(graph, name: str, params: Mapping[str, Any] | None = None) -> list[dict]:
    """Run cookbook query ``name`` with ``params`` (native values, or strings converted by the
    header's types) on ``graph`` in a read transaction; its rows as dicts (temporal values as ISO
    strings, nodes and relationships as their properties)."""
    from neo4j.exceptions import ClientError  # the driver, only when a query runs

    query = get_query(name)
    bound = query.bind(params)
    try:
        records = graph.read(query.cypher, bound)
    except ClientError as exc:
        if "SyntaxError" in (exc.code or ""):  # the query itself is wrong: a bug, not the user's values
            raise
        # A value the server refuses (a negative LIMIT, a number out of range): the user's to fix.
        raise QueryError(f"query {name}: the server refused the parameter values "
                         f"({', '.join(f'{k}={v!r}' for k, v in bound.items())[:300]}): "
                         f"{(exc.message or str(exc)).splitlines()[0][:300]}. `lpm-kg queries` describes "
                         "each parameter") from None
    return [{k: _plain(v) for k, v in record.data().items()} for record in records]


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value
