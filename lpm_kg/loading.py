"""One entry point for every load: parse and validate, then write, with the dataset's state kept
so that a repeated load is a no-op and an interrupted one is completed by the next run."""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from lpm_kg.contract import CompoundTable, ExperimentTable, GeneTable, GroupTable, Payload, RelationTable
from lpm_kg.errors import ConfigError, InputError
from lpm_kg.genes import GeneResolver
from lpm_kg.graph import datasets as ds
from lpm_kg.graph.datasets import gene_map, gene_map_stamp
from lpm_kg.graph import write
from lpm_kg.graph.connection import Graph
from lpm_kg.graph.schema import ensure_schema
from lpm_kg.provenance import provenance
from lpm_kg.registry import LoaderOptions, LoaderSpec, get_loader, loaders, option_type
from lpm_kg.symbols import normalize_cell_line, readout_symbol
from lpm_kg.validate import corrupt_file_error

UNMAPPED_POLICIES = ("auto", "error", "skip")
# Under 'auto', a few retired or unknown ids are dropped with a record on the Dataset; more than
# this share means the ids are probably of the wrong kind, and the load stops instead.
AUTO_SKIP_MAX_FRACTION = 0.05
# Names and symbols are keys of range indexes, which take about 8 KB of UTF-8 per entry (Neo4j
# 5.26), composite keys such as (perturbation, context) and ids such as dataset:perturbation@cell
# included. 1000 characters (at most 4000 bytes) keeps every key well inside that, and is far
# above any real name: a longer one is a broken file (a missing line break, a shifted column).
MAX_NAME_CHARS = 1000
Opts = TypeVar("Opts", bound=LoaderOptions)


@dataclass
class LoadContext:
    """What a loader may use besides its file: options, the dataset name and the gene map."""

    dataset: str
    file: str
    options: Mapping[str, object]  # as given: text from --option or a sync source (what the Dataset records)
    graph: Graph | None = None
    unmapped: str = "auto"
    resolver_: GeneResolver | None = None
    notes: dict = field(default_factory=dict)
    show_progress: bool = False  # a loader that reads for long (a large GCTX) shows a bar when True
    parsed: LoaderOptions | None = None  # the options validated into the loader's model (load() sets it)

    def opts(self, model: type[Opts]) -> Opts:
        """The options as the reader's ``model``, typed and defaulted: validated once (by
        :func:`load` before the read, or here on first use where a reader is called directly)."""
        if self.parsed is None:
            fmt = next((s.name for s in loaders() if s.options_model is model), None)
            self.parsed = parse_options(model, self.options, fmt)
        if not isinstance(self.parsed, model):
            raise TypeError(f"the options were validated as {type(self.parsed).__name__}, not {model.__name__}")
        return self.parsed

    @property
    def resolver(self) -> GeneResolver:
        if self.resolver_ is None:
            if self.graph is None:
                raise ConfigError("this loader needs the gene id map, but no graph is connected")
            self.resolver_ = resolver_from_graph(self.graph)
        return self.resolver_

    def resolve_genes(self, ids, *, field: str, what: str = "gene id") -> list[str | None]:
        """Approved symbols for ``ids``; None where dropped under the unmapped-id policy."""
        import numpy as np
        import pandas as pd

        series = ids if isinstance(ids, pd.Series) else pd.Series(list(ids), dtype=object)
        codes, uniques = pd.factorize(series)  # fast on categoricals: no per-row strings
        uniques = [str(u) for u in uniques]
        res = self.resolver.resolve(uniques)  # each distinct id once: files repeat ids a lot
        n_distinct = len(uniques)
        if res.n_failed:
            first = next(k for k, s in enumerate(res.symbols) if s is None)
            first_bad = res.ids[first]
            row = int(np.flatnonzero(codes == first)[0]) + 1
            frac = res.n_failed / max(1, n_distinct)
            if self.unmapped == "error" or (self.unmapped == "auto" and frac > AUTO_SKIP_MAX_FRACTION):
                if first_bad in res.ambiguous:
                    problem = (f"{what} {first_bad!r} is ambiguous: it names {', '.join(res.ambiguous[first_bad])}"
                               f" ({res.n_failed} of {n_distinct} ids unresolved)")
                else:
                    problem = (f"unknown {what} {first_bad!r} ({res.n_failed} of {n_distinct} distinct ids do not "
                               f"resolve through the gene map, e.g. {', '.join(map(repr, (res.unknown + list(res.ambiguous))[:5]))})")
                raise InputError(self.file, problem,
                                 "use approved HGNC symbols, Entrez or Ensembl ids; load the HGNC table first "
                                 "(--format hgnc); or pass --unmapped skip to drop unresolved ids",
                                 row=row, field=field)
            self.notes.setdefault("unmapped_ids", 0)
            self.notes["unmapped_ids"] += res.n_failed
            self.notes.setdefault("unmapped_examples", [])
            self.notes["unmapped_examples"] = (self.notes["unmapped_examples"] + (res.unknown + list(res.ambiguous))[:5])[:10]
        return list(np.asarray(res.symbols, dtype=object)[codes]) if len(codes) else []



_RESOLVERS: dict[tuple, GeneResolver] = {}


def resolver_from_graph(graph: Graph) -> GeneResolver:
    """The gene map in the graph, cached per server while no gene table has been (re)loaded:
    reading 40k genes costs seconds, and every load needs it."""
    stamp = gene_map_stamp(graph)
    key = (graph.uri, graph.database, repr(sorted(stamp)))
    if key in _RESOLVERS and all(s[2] == "complete" for s in stamp):
        return _RESOLVERS[key]
    genes = gene_map(graph)
    if genes.empty:
        raise ConfigError("the graph has no gene id map yet: load one first with "
                          "`lpm-kg load hgnc_complete_set.txt.gz --format hgnc --dataset hgnc`")
    resolver = GeneResolver(genes)
    _RESOLVERS.clear()  # keep one: a changed gene map makes older ones stale
    _RESOLVERS[key] = resolver
    return resolver


def _value_problem(error: dict, model: type[LoaderOptions]) -> str:
    """What a rejected option value should have been: the type the model declares, or what the
    model's own check says (a pydantic ``value_error`` carries the validator's message)."""
    if error["type"] == "value_error" or not error["loc"]:
        return str(error["msg"]).removeprefix("Value error, ")
    return f"expected {option_type(model.model_fields[error['loc'][0]])}"


def parse_options(model: type[Opts], options: Mapping[str, object], fmt: str | None = None) -> Opts:
    """``options`` (text, as given) validated into ``model``. An unknown option is refused naming the
    known ones; a bad value naming the option, the value and what it should be. Both raise
    :class:`ConfigError`, before anything is read or written."""
    where = f"format {fmt!r}" if fmt else model.__name__
    unknown = [k for k in options if k not in model.model_fields]
    if unknown:
        known = (f"its options are: {', '.join(model.model_fields)} (`lpm-kg formats` describes them)"
                 if model.model_fields else "it takes none")
        raise ConfigError(f"{where} has no option {', '.join(map(repr, unknown))}; {known}")
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if not error["loc"]:  # a check across options (the model's own validator)
            raise ConfigError(f"{where}: {_value_problem(error, model)}") from None
        name = str(error["loc"][0])
        raise ConfigError(f"{where}: option {name}={options.get(name)!r} is not valid: "
                          f"{_value_problem(error, model)}") from None


def checksum(files: list[Path], spec: LoaderSpec) -> str:
    h = hashlib.sha256(f"{spec.name}:v{spec.version}".encode())
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


@dataclass
class LoadReport:
    dataset: str
    format: str
    skipped: bool
    counts: dict
    reason: str = ""
    resumed_from: int = 0  # experiments an interrupted run of this load had already written


def payload_size(payload: Payload) -> int:
    if isinstance(payload, ExperimentTable):
        return payload.n_measurements
    if isinstance(payload, GeneTable):
        return len(payload.genes)
    if isinstance(payload, CompoundTable):
        return len(payload.compounds)
    if isinstance(payload, RelationTable):
        return len(payload.edges)
    return len(payload.members)


def _check_names(values, file: str, what: str, field: str) -> None:
    """Each distinct string in ``values`` (lists flattened) fits the graph's indexes."""
    for v in values:
        for x in (v if isinstance(v, (list, tuple, set)) or type(v).__name__ == "ndarray" else (v,)):
            if isinstance(x, str) and len(x) > MAX_NAME_CHARS:
                raise InputError(file, f"{what} {x[:40]!r}... is {len(x):,} characters long, more than the "
                                 f"{MAX_NAME_CHARS:,} the graph's indexes take",
                                 "shorten it; a name this long usually means a missing line break or a shifted "
                                 "column", field=field)


def check_payload(payload: Payload, file: str, notes: dict | None = None) -> None:
    """What the writes would otherwise fail on halfway: checked before the first write, so a
    failed load leaves the graph as it was."""
    import numpy as np
    import pandas as pd

    notes = notes or {}
    if isinstance(payload, ExperimentTable):
        exps = payload.experiments
        if len(exps) == 0 or len(payload.genes) == 0:
            dropped = f" ({notes['unmapped_ids']:,} gene ids did not resolve)" if notes.get("unmapped_ids") else ""
            raise InputError(file, f"no measurement is left to load{dropped}",
                             "check the perturbation, readout and value columns, and the gene ids (with "
                             "--unmapped skip, rows whose ids do not resolve are dropped)")
        cells = []
        for name in pd.unique(exps["cell_line"].astype(str)):
            try:
                cells.append(normalize_cell_line(name))
            except ValueError:
                raise InputError(file, f"cell line {name!r} has no letters or digits, so it cannot name a context",
                                 "name the cell line with letters and digits (e.g. A549), or pass "
                                 "--option cell_line=<name> where the format has it", field="cell_line") from None
        _check_names(cells, file, "cell line", "cell_line")
        _check_names({p.symbol for p in exps["perturbation"]}, file, "perturbation symbol", "perturbation")
        _check_names([readout_symbol(g, payload.readout_modality) for g in payload.genes], file, "readout symbol",
                     "readout")
        _check_names([payload.context_tag], file, "context tag", "context")
        inf = np.isinf(payload.values)
        if inf.any():
            i, j = map(int, np.argwhere(inf)[0])
            raise InputError(file, f"the value of gene {payload.genes[j]} in experiment {exps['key'].iat[i]} is "
                             "infinite (or too large for a 32-bit float)", "fix or rescale that value",
                             row=str(exps["key"].iat[i]), field=payload.genes[j])
    elif isinstance(payload, GeneTable):
        for col in ("symbol", "hgnc_id", "entrez", "ensembl"):
            if col in payload.genes.columns:
                _check_names(payload.genes[col], file, f"gene {col}", col)
    elif isinstance(payload, CompoundTable):
        for col in ("name", "aliases", "moa"):
            if col in payload.compounds.columns:
                _check_names(payload.compounds[col], file, f"compound {col}", col)
    elif isinstance(payload, GroupTable):
        _check_names(payload.groups["id"], file, f"{payload.label} id", "id")


def write_payload(graph: Graph, dataset: str, payload: Payload, *, top_k: int, progress=None,
                  start_at: int = 0) -> dict:
    if isinstance(payload, ExperimentTable):
        return write.write_experiments(graph, dataset, payload, top_k=top_k, progress=progress, start_at=start_at)
    if isinstance(payload, GeneTable):
        return write.write_genes(graph, dataset, payload, progress)
    if isinstance(payload, CompoundTable):
        return write.write_compounds(graph, dataset, payload, progress)
    if isinstance(payload, RelationTable):
        return write.write_relations(graph, dataset, payload, progress)
    if isinstance(payload, GroupTable):
        return write.write_groups(graph, dataset, payload, progress)
    raise TypeError(f"unknown payload {type(payload).__name__}")


def load(graph: Graph, path: str | Path, format: str, dataset: str, *, options: dict[str, str] | None = None,
         unmapped: str = "auto", top_k: int = 25, source: str | None = None, licence: str | None = None,
         force: bool = False, show_progress: bool = True) -> LoadReport:
    path = Path(path)
    options = dict(options or {})
    spec = get_loader(format)
    opts = parse_options(spec.options_model, options, format)  # refused here, before anything is written
    if unmapped not in UNMAPPED_POLICIES:
        raise ConfigError(f"--unmapped must be one of {', '.join(UNMAPPED_POLICIES)}")
    if not dataset or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-]*", dataset):
        raise ConfigError(f"dataset name {dataset!r} must start with a letter or digit and hold only letters, "
                          "digits, '.', '_' and '-'")
    if len(dataset) > MAX_NAME_CHARS:
        raise ConfigError(f"dataset name {dataset[:40]!r}... is {len(dataset):,} characters long; use at most "
                          f"{MAX_NAME_CHARS:,} (the graph indexes it)")
    if top_k < 0:
        raise ConfigError(f"--top-k must be 0 or more, not {top_k}")
    files = spec.input_files(path, opts)
    for f in files:
        if not f.exists():
            raise InputError(str(f), "file not found", "check the path")
        if f.is_dir():
            raise InputError(str(f), "is a folder, not a file", "pass the path of the data file itself")
    ensure_schema(graph)
    digest = checksum(files, spec)
    # The options as given, not as validated: the Dataset's record (and so "unchanged") stays as it was.
    load_options = {**options, "unmapped": unmapped, "top_k": top_k if spec.kind == "measurements" else None}
    state = ds.get_state(graph, dataset)
    if state and state.format and state.format != format:
        raise ConfigError(f"dataset {dataset!r} already holds {state.format!r} data; choose another --dataset name")
    if state and not force and state.is_current(digest, format, load_options):
        return LoadReport(dataset, format, True, {}, "unchanged since the last complete load")

    # The same load, interrupted: keep the experiment batches it committed and write the rest.
    start_at = (state.experiments_written or 0) if state and not force and \
        state.is_interrupted(digest, format, load_options) else 0
    ctx = LoadContext(dataset, str(path), options, graph, unmapped, show_progress=show_progress, parsed=opts)
    try:
        payload = spec.read(path, ctx)  # validates everything before the first write
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # a compressed file cut short or damaged
        raise corrupt_file_error(str(path), exc) from None
    except UnicodeDecodeError as exc:  # a stray byte in a text file, wherever the loader reads it
        raise InputError(str(path), f"the file is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} "
                         f"at offset {exc.start:,} of the text)",
                         "remove the stray bytes, or save the file again as UTF-8") from None
    check_payload(payload, str(path), ctx.notes)

    auto_source, auto_licence = provenance(path)
    ds.begin(graph, dataset, checksum=digest, format=format, options=load_options, files=[str(f) for f in files],
             source=source or auto_source, licence=licence or auto_licence, kind=spec.kind,
             resume=start_at > 0)
    total = payload_size(payload)
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit=" values" if spec.kind == "measurements" else " rows",
                   desc=f"load {dataset}", unit_scale=True, leave=False)
    try:
        counts = write_payload(graph, dataset, payload, top_k=top_k, progress=bar.update if bar else None,
                               start_at=start_at)
    finally:
        if bar:
            bar.close()
    counts.update({k: v for k, v in ctx.notes.items() if isinstance(v, (int, float, str, list))})
    ds.complete(graph, dataset, counts)
    return LoadReport(dataset, format, False, counts, resumed_from=start_at)


__all__ = ["load", "LoadContext", "LoadReport", "parse_options", "resolver_from_graph"]
