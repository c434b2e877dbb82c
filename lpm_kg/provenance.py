"""Source and licence of a data file, read from the SOURCES.md beside it.

A SOURCES.md opens with a ``# title``, names the repository it came from (a ``Repo:`` line, or a
``repo @ commit`` column) and often holds a markdown table with one row per file. What a loaded
file gets is what that file's row says, else what the document says outside its tables; a table's
header or separator row, or another file's row, is never taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_CHARS = 300
_LICENCE_RE = re.compile(r"licen[cs]e", re.IGNORECASE)
_SEPARATOR_RE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_REPO_RE = re.compile(r"\bRepo:\s*([\w.\-]+/[\w.\-]+(?:\s*@\s*[0-9a-f]{7,40})?)")


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(text: str) -> tuple[str | None, list[str], list[Table]]:
    """The title, the lines outside tables, and the tables (header and body rows; separators dropped)."""
    title, lines, tables = None, [], []
    current: Table | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            current = None
            continue
        if line.startswith("|"):
            if _SEPARATOR_RE.match(line):
                continue
            if current is None:  # the first row of a table is its header
                current = Table(_cells(line), [])
                tables.append(current)
            else:
                current.rows.append(_cells(line))
            continue
        current = None
        if title is None and line.startswith("#"):
            title = line.lstrip("#").strip() or None
            continue
        lines.append(line)
    return title, lines, tables


def _file_names(cell: str) -> set[str]:
    """The file names a table's file cell lists: "a.rda + .csv.gz, b.tsv (12 B)" -> a.rda, a.csv.gz, b.tsv."""
    cell = re.sub(r"\([^)]*\)", " ", cell)
    names, previous = set(), None
    for token in re.split(r"[\s,+;]+", cell):
        token = token.strip("`*")
        if not token:
            continue
        if token.startswith(".") and previous:  # "name.RData + .csv.gz": the same stem, another extension
            names.add(previous.split(".")[0] + token)
            continue
        names.add(token)
        previous = token
    return names


def _matches(cell: str, filename: str) -> bool:
    names = _file_names(cell)
    if filename in names:
        return True
    # A shortened form such as "sciplex.a549/k562/mcf7.rda" names several files.
    for name in names:
        if "/" in name and "." in name:
            stem, _, rest = name.partition(".")
            ext = rest.rsplit(".", 1)[-1] if "." in rest else ""
            parts = rest.rsplit(".", 1)[0].split("/") if ext else rest.split("/")
            if any(filename == f"{stem}.{p}.{ext}" if ext else filename == f"{stem}.{p}" for p in parts):
                return True
    return False


def _column(header: list[str], *words: str, exclude: tuple[str, ...] = ()) -> int | None:
    for k, h in enumerate(header):
        low = h.lower()
        if any(w in low for w in words) and not any(x in low for x in exclude):
            return k
    return None


def _clip(text: str | None) -> str | None:
    text = (text or "").strip()
    return text[:MAX_CHARS] if text else None


def _strip_parens(text: str) -> str:
    return re.sub(r"\s*\([^()]*(\([^()]*\)[^()]*)*\)", "", text).strip()


def _row_for(tables: list[Table], filename: str) -> tuple[Table, list[str], list[str] | None] | None:
    """The table row whose file column names ``filename``, with the row above it (for "same")."""
    for table in tables:
        col = _column(table.header, "file")
        if col is None:
            col = 0
        previous = None
        for row in table.rows:
            if col < len(row) and _matches(row[col], filename):
                return table, row, previous
            previous = row
    return None


def _cell(table: Table, row: list[str], previous: list[str] | None, k: int | None) -> str | None:
    if k is None or k >= len(row):
        return None
    value = row[k]
    if value.lower().rstrip(".") in ("same", "same as above", '"', "ditto") and previous and k < len(previous):
        value = previous[k]
    return value or None


_LICENCE_ID_RE = re.compile(r"^(BSD|MIT|L?GPL|AGPL|CC[ -]?BY|CC0|Apache|Artistic|MPL)\b", re.IGNORECASE)


def _paren_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each outermost parenthesised group, parentheses excluded."""
    spans, depth, start = [], 0, 0
    for k, ch in enumerate(line):
        if ch == "(":
            if depth == 0:
                start = k + 1
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, k))
    return spans


def _licence_fragment(line: str) -> str | None:
    """The part of a line that states a licence: the parenthesised group or else the sentence holding
    the word; on a ``Repo:`` line also a bare licence id in parentheses, as in "(BSD-3-Clause)"."""
    m = _LICENCE_RE.search(line)
    spans = _paren_spans(line)
    if m is None:
        if _REPO_RE.search(line):
            return next((line[a:b].strip() for a, b in spans if _LICENCE_ID_RE.match(line[a:b].strip())), None)
        return None
    for a, b in spans:
        if a <= m.start() < b:
            return line[a:b].strip()
    sentences = [(x.start(), x.end()) for x in re.finditer(r".+?(?:\.(?=\s+[A-Z])|$)", line)]
    for a, b in sentences:
        if a <= m.start() < b:
            return line[a:b].strip()
    return line.strip()


def from_text(text: str, filename: str) -> tuple[str | None, str | None]:
    """(source, licence) for ``filename`` from the text of a SOURCES.md; None where it says nothing."""
    title, lines, tables = parse(text)
    repo_line = next((m.group(1).rstrip(".") for ln in lines if (m := _REPO_RE.search(ln))), None)
    # A statement about the data (e.g. "STRING data license: CC BY 4.0") before the repository's own.
    ordered = [ln for ln in lines if not _REPO_RE.search(ln)] + [ln for ln in lines if _REPO_RE.search(ln)]
    licence_line = next((f for ln in ordered if (f := _licence_fragment(ln))), None)
    repo = licence = None
    found = _row_for(tables, filename)
    if found:
        table, row, previous = found
        lic = _cell(table, row, previous, _column(table.header, "licen"))
        licence = lic
        repo_cell = _cell(table, row, previous, _column(table.header, "repo"))
        if repo_cell:
            repo = _strip_parens(repo_cell)
        else:
            commit = _cell(table, row, previous, _column(table.header, "commit"))
            if commit and repo_line and "@" not in repo_line:
                commit = commit.rstrip(".")
                if re.fullmatch(r"[0-9a-f]{7,40}", commit):
                    repo = f"{repo_line} @ {commit}"
    repo = repo or repo_line
    licence = licence or licence_line
    source = title
    if repo and not (title and repo in title):
        source = f"{title} ({repo})" if title else repo
    return _clip(source), _clip(licence)


def provenance(path: Path) -> tuple[str | None, str | None]:
    """Source and licence of ``path`` from the SOURCES.md beside it, when there is one."""
    sources = Path(path).parent / "SOURCES.md"
    if not sources.exists():
        return None, None
    return from_text(sources.read_text(errors="replace"), Path(path).name)


__all__ = ["provenance", "from_text", "parse"]
