"""Seeded, bounded fuzzing of `lpm-kg load`: for every loader, a small real file (or a small head
of one) from the shared data is loaded once as it is, then damaged in a few seeded ways (cut
short, lines dropped, header columns swapped, stray bytes, extreme numbers, a repeated row, an
empty file, a cut gzip stream) and loaded again into the same dataset.

Every attempt must end with exit code 0 (the damage still makes a valid file) or 2 (refused with
one clear line), never 1 (a crash) or a traceback; and a refused attempt must leave the graph
exactly as it was. ``TALLY`` collects, per loader, how many mutations were tried, loaded and
refused; ``pytest -s`` prints it.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import HGNC, fingerprint, graph_counts, server_env, shared
from lpm_kg.cli import main

SEED = 20261203
EXTREMES = ["1e39", "-inf", "nan", "1e-320", "9" * 400]
STRAY = [b"\x00", b"\xff\xfe\xfd", b"\x00\x9f\x80\x00", b"\xc3\x28", b"\r\x00\xff", b"\xef\xbb\xbf\x00"]
NUMBER = re.compile(rb'^"?-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"?$')

# loader -> {"mutations": n, "loaded (0)": n, "refused (2)": n}; also written to the test report.
TALLY: dict[str, dict[str, int]] = {}
# loader -> [(mutation, exit code, first line of the output)], for reading what each damage led to.
OUTCOMES: dict[str, list[tuple[str, int, str]]] = {}


def _genes_digest(graph, dataset: str) -> str:
    """The properties of every Gene node that ``dataset`` wrote: each genes load marks the nodes it
    writes with its name, so a refused one that wrote anything changes this."""
    rows = graph.read("MATCH (g:Gene {source: $d}) RETURN g.symbol AS s, properties(g) AS p ORDER BY s",
                      {"d": dataset})
    return hashlib.sha256(repr([(r["s"], sorted(r["p"].items())) for r in rows]).encode()).hexdigest()


# --------------------------------------------------------------------------- the small good files

def _head_lines(relpath: str, n: int) -> bytes:
    path = shared(relpath)
    opener = gzip.open if path.name.endswith(".gz") else open
    out = []
    with opener(path, "rb") as fh:
        for i, line in enumerate(fh):
            if i >= n:
                break
            out.append(line)
    return b"".join(out)


def _write(path: Path, raw: bytes) -> Path:
    path.write_bytes(gzip.compress(raw, mtime=0) if path.name.endswith(".gz") else raw)
    return path


def _head(relpath: str, n: int, name: str):
    return lambda folder: _write(folder / name, _head_lines(relpath, n))


def _columns(lines: list[bytes], sep: bytes, keep: int, start: int) -> list[bytes]:
    """The first ``keep`` fields of every line from ``start`` on."""
    return lines[:start] + [sep.join(ln.split(sep)[:keep]) for ln in lines[start:]]


def _gct(folder: Path) -> Path:
    """The first 40 genes and 40 samples (4 vehicle controls among them) of the LJP005 level-3 plate."""
    lines = _head_lines("l1000-ljp005-a375/LJP005_A375_24H_level3_n377x978.gct", 3 + 35 + 40).split(b"\n")
    dims = lines[1].split(b"\t")
    lines[1] = b"\t".join([b"40", b"40", *dims[2:]])
    return _write(folder / "fuzz.gct", b"\n".join(_columns(lines, b"\t", 1 + 11 + 40, 2)))


def _gct_csv(folder: Path) -> Path:
    """The first 60 genes and 40 samples of cmapR's level-5 export, beside its metadata."""
    for part in ("row", "col"):
        (folder / f"fuzz_{part}_meta.csv").write_bytes(shared(f"cmapR-l1000/ds_{part}_meta.csv").read_bytes())
    lines = _head_lines("cmapR-l1000/ds_matrix.csv.gz", 61).split(b"\n")
    return _write(folder / "fuzz_matrix.csv.gz", b"\n".join(_columns(lines, b",", 1 + 40, 0)))


def _hub(folder: Path) -> Path:
    return _write(folder / "fuzz_drugs.txt", _head_lines("repurposing-hub/repurposing_drugs_20200324.txt", 10 + 150))


def _h5ad(folder: Path) -> Path:
    import anndata

    a = anndata.read_h5ad(shared("papalexi2021-sceptre/papalexi2021_thp1_lowmoi_299genes.h5ad"))
    keep = a.obs["target"].isin(["non-targeting", "STAT1", "IRF1", "JAK2"]).to_numpy()
    rng = random.Random(SEED)
    idx = sorted(rng.sample(list(keep.nonzero()[0]), 1200))
    small = anndata.AnnData(X=a.X[idx].copy(), obs=a.obs.iloc[idx][["target", "grna", "bio_rep"]].copy(),
                            var=a.var.copy())
    path = folder / "fuzz.h5ad"
    small.write_h5ad(path)
    return path


def _parquet(folder: Path) -> Path:
    import pandas as pd

    df = pd.read_parquet(shared("sigrecon-signatures/perturbseq_ranked_signatures_long.parquet"))
    keep = df["perturbation"].astype(str).isin(["UBL5", "AARS", "ACTB"])
    path = folder / "fuzz.parquet"
    df[keep].astype({"context": str, "perturbation": str, "gene": str}).reset_index(drop=True).to_parquet(path)
    return path


@dataclass(frozen=True)
class Case:
    fmt: str
    make: Callable[[Path], Path]  # writes the small good file into a folder, returns its path
    sep: bytes = b"\t"
    header: int | None = 0  # line of the header (None: the format has none)
    data_start: int = 1  # first data line
    options: tuple[str, ...] = ()
    unmapped: str = "auto"
    kind: str = "text"  # text | h5ad | parquet


CASES = {
    "long": Case("long", _head("papalexi2021-sceptre/papalexi2021_pseudobulk_by_target.csv.gz", 1 + 600,
                               "fuzz.csv.gz"), sep=b",",
                 options=("perturbation_col=perturbation_target", "readout_col=gene",
                          "value_col=log2fc_vs_nontargeting", "method=CRISPR-KO", "cell_line=THP-1"),
                 unmapped="skip"),
    "gct": Case("gct", _gct, header=2, data_start=3 + 35),
    "gct-csv": Case("gct-csv", _gct_csv, sep=b","),
    "h5ad": Case("h5ad", _h5ad, options=("method=CRISPR-KO", "cell_line=THP-1"), unmapped="skip", kind="h5ad"),
    "ranked-signatures": Case("ranked-signatures", _parquet, options=("perturbation_type=CRISPRi", "scoring=top"),
                              unmapped="skip", kind="parquet"),
    "string": Case("string", _head("string/string_v12_human_entrez_ntm700_top3_400.tsv.gz", 1 + 300,
                                   "fuzz.tsv.gz")),
    "corum": Case("corum", _head("corum/coreComplexes.txt", 1 + 80, "fuzz.txt")),
    "trrust": Case("trrust", _head("trrust/trrust_rawdata.human.tsv", 300, "fuzz.tsv"), header=None, data_start=0),
    "dorothea": Case("dorothea", _head("dorothea/dorothea_hs_ABC.csv", 1 + 400, "fuzz.csv"), sep=b","),
    "gmt": Case("gmt", _head("genesets/h.all.v7.0.symbols.gmt", 8, "fuzz.gmt"), header=None, data_start=0),
    "repurposing-hub": Case("repurposing-hub", _hub, header=9, data_start=10),
    # Last: it rewrites Gene nodes, which the test puts back as they were when it ends.
    "hgnc": Case("hgnc", _head(HGNC, 1 + 300, "fuzz_hgnc.txt.gz")),
}


# --------------------------------------------------------------------------- the mutations

def _text_kinds(path: Path) -> list[str]:
    kinds = ["truncate", "cut-lines", "swap-header", "stray-bytes", "extreme-number", "extreme-number",
             "duplicate-row", "empty"]
    return kinds + (["gzip-truncate"] if path.name.endswith(".gz") else [])


def _mutate_text(kind: str, raw: bytes, case: Case, rng: random.Random, extreme: str) -> tuple[bytes, bool]:
    """The damaged content and whether it is already the bytes to write (else compressed as the name says)."""
    lines = raw.split(b"\n")
    data = [i for i in range(case.data_start, len(lines)) if lines[i].strip()]
    if kind == "truncate":
        return raw[:rng.randrange(1, len(raw))], False
    if kind == "cut-lines":
        drop = set(rng.sample(data, min(len(data), rng.randint(1, 3))))
        return b"\n".join(ln for i, ln in enumerate(lines) if i not in drop), False
    if kind == "swap-header":
        h = case.header if case.header is not None else data[0]
        fields = lines[h].split(case.sep)
        i, j = rng.sample(range(len(fields)), 2)
        fields[i], fields[j] = fields[j], fields[i]
        lines[h] = case.sep.join(fields)
        return b"\n".join(lines), False
    if kind == "stray-bytes":
        at = rng.randrange(len(raw))
        return raw[:at] + rng.choice(STRAY) + raw[at:], False
    if kind == "extreme-number":
        cells = [(i, j) for i in data for j, f in enumerate(lines[i].split(case.sep)) if NUMBER.match(f.strip())]
        if not cells:  # no numbers in this format: any cell
            cells = [(i, j) for i in data for j in range(len(lines[i].split(case.sep)))]
        i, j = rng.choice(cells)
        fields = lines[i].split(case.sep)
        fields[j] = extreme.encode()
        lines[i] = case.sep.join(fields)
        return b"\n".join(lines), False
    if kind == "duplicate-row":
        i = rng.choice(data)
        lines.insert(rng.randint(i + 1, len(lines) - 1), lines[i])
        return b"\n".join(lines), False
    if kind == "empty":
        return b"", True
    if kind == "gzip-truncate":
        stream = gzip.compress(raw, mtime=0)
        return stream[:rng.randrange(10, len(stream) - 8)], True
    raise AssertionError(kind)


def _mutate_bytes(kind: str, raw: bytes, rng: random.Random) -> bytes:
    if kind == "truncate":
        return raw[:rng.randrange(1, len(raw))]
    if kind == "stray-bytes":
        at = rng.randrange(len(raw))
        return raw[:at] + rng.choice(STRAY) + raw[at:]
    if kind == "overwrite-bytes":  # same length, a block inside the file garbled
        at = rng.randrange(len(raw) - 64)
        return raw[:at] + bytes(rng.randrange(256) for _ in range(64)) + raw[at + 64:]
    if kind == "empty":
        return b""
    raise AssertionError(kind)


BYTE_KINDS = ["truncate", "truncate", "stray-bytes", "overwrite-bytes", "empty"]
H5AD_KINDS = ["swap-header", "extreme-number", "extreme-number", "duplicate-row", "cut-lines"]
PARQUET_KINDS = ["swap-header", "extreme-number", "extreme-number", "duplicate-row", "cut-lines"]


def _mutate_h5ad(kind: str, good: Path, out: Path, rng: random.Random, extreme: str) -> None:
    import anndata
    import numpy as np

    a = anndata.read_h5ad(good)
    if kind == "swap-header":  # the target and guide columns swapped
        a.obs = a.obs.rename(columns={"target": "grna", "grna": "target"})
    elif kind == "extreme-number":
        x = a.X.toarray().astype(np.float64)
        x[rng.randrange(x.shape[0]), rng.randrange(x.shape[1])] = float(extreme)
        a = anndata.AnnData(X=x, obs=a.obs, var=a.var)
    elif kind == "duplicate-row":
        i = rng.randrange(a.n_obs)
        a = anndata.concat([a, a[[i]]])
    elif kind == "cut-lines":
        drop = set(rng.sample(range(a.n_obs), 200))
        a = a[[i for i in range(a.n_obs) if i not in drop]].copy()
    else:
        raise AssertionError(kind)
    a.write_h5ad(out)


def _mutate_parquet(kind: str, good: Path, out: Path, rng: random.Random, extreme: str) -> None:
    import pandas as pd

    df = pd.read_parquet(good)
    if kind == "swap-header":
        a, b = rng.sample(list(df.columns), 2)
        df = df.rename(columns={a: b, b: a})
    elif kind == "extreme-number":
        col = rng.choice(["rank", "n_ranked"])
        df[col] = df[col].astype(float)
        df.loc[rng.randrange(len(df)), col] = float(extreme)
    elif kind == "duplicate-row":
        i = rng.randrange(len(df))
        df = pd.concat([df, df.iloc[[i]]], ignore_index=True)
    elif kind == "cut-lines":
        df = df.drop(index=rng.sample(range(len(df)), 3)).reset_index(drop=True)
    else:
        raise AssertionError(kind)
    df.to_parquet(out)


def _mutations(case: Case, good: Path, rng: random.Random):
    """(kind, writer) pairs; each writer puts the damaged file at the given path."""
    raw = good.read_bytes()
    extremes = rng.sample(EXTREMES, 2)
    out = []
    if case.kind == "text":
        plain = gzip.decompress(raw) if good.name.endswith(".gz") else raw
        n = 0
        for kind in _text_kinds(good):
            extreme = extremes[n % 2] if kind == "extreme-number" else ""
            n += kind == "extreme-number"
            content, final = _mutate_text(kind, plain, case, rng, extreme)
            out.append((f"{kind} {extreme[:12]}".strip(),
                        (lambda p, c=content, f=final: p.write_bytes(c) if f else _write(p, c))))
        return out
    for kind in BYTE_KINDS:
        content = _mutate_bytes(kind, raw, rng)
        out.append((kind, lambda p, c=content: p.write_bytes(c)))
    data_mutate = _mutate_h5ad if case.kind == "h5ad" else _mutate_parquet
    n = 0
    for kind in H5AD_KINDS if case.kind == "h5ad" else PARQUET_KINDS:
        extreme = extremes[n % 2] if kind == "extreme-number" else ""
        n += kind == "extreme-number"
        seed = rng.random()
        out.append((f"{kind} {extreme[:12]}".strip(),
                    lambda p, k=kind, s=seed, e=extreme: data_mutate(k, good, p, random.Random(s), e)))
    return out


# --------------------------------------------------------------------------- the test

def _restore_genes(graph, snapshot: dict[str, dict], dataset: str) -> None:
    """Put back every Gene node a genes load of ``dataset`` touched, and drop the ones it made."""
    touched = [r["s"] for r in graph.read("MATCH (g:Gene {source: $d}) RETURN g.symbol AS s", {"d": dataset})]
    back = [{"s": s, "p": snapshot[s]} for s in touched if s in snapshot]
    made = [s for s in touched if s not in snapshot]
    graph.query("UNWIND $rows AS row MATCH (g:Gene {symbol: row.s}) SET g = row.p", {"rows": back})
    graph.query("UNWIND $ss AS s MATCH (g:Gene {symbol: s}) DETACH DELETE g", {"ss": made})
    graph.query("MATCH (d:Dataset {name: $d}) DETACH DELETE d", {"d": dataset})


@pytest.mark.parametrize("loader", list(CASES))
def test_damaged_files_load_or_are_refused_cleanly(graph, neo4j_server, tmp_path, loader, record_property):
    case = CASES[loader]
    rng = random.Random(f"{SEED}:{loader}")
    good_dir, work_dir = tmp_path / "good", tmp_path / "work"
    good_dir.mkdir()
    work_dir.mkdir()
    good = case.make(good_dir)
    for extra in good_dir.iterdir():  # files read beside the main one (gct-csv's metadata)
        if extra != good:
            (work_dir / extra.name).write_bytes(extra.read_bytes())
    target = work_dir / good.name
    dataset = f"fuzz-{loader}"
    runner, env = CliRunner(), server_env(neo4j_server, tmp_path / "home")
    args = ["load", str(target), "--format", case.fmt, "--dataset", dataset, "--unmapped", case.unmapped]
    for opt in case.options:
        args += ["--option", opt]

    snapshot = None
    if case.fmt == "hgnc":
        snapshot = {r["s"]: r["p"] for r in graph.read("MATCH (g:Gene) RETURN g.symbol AS s, properties(g) AS p")}
    tally = TALLY[loader] = {"mutations": 0, "loaded (0)": 0, "refused (2)": 0}
    outcomes = OUTCOMES[loader] = []
    try:
        target.write_bytes(good.read_bytes())
        first = runner.invoke(main, args, env=env)
        assert first.exit_code == 0, f"the unmutated {loader} file does not load: {first.output}"

        for kind, write in _mutations(case, good, rng):
            write(target)
            before = (graph_counts(graph), fingerprint(graph), _genes_digest(graph, dataset) if snapshot else None)
            result = runner.invoke(main, args, env=env)
            out = result.output
            where = f"{loader}, mutation {kind!r} (seed {SEED}): exit {result.exit_code}\n{out}"
            log = re.search(r"the traceback is in (\S+?);", out)
            if log and Path(log.group(1)).exists():
                where += "\n" + Path(log.group(1)).read_text()[-4000:]
            tally["mutations"] += 1
            last = out.strip().splitlines()[-1].strip().replace(f"{work_dir}/", "") if out.strip() else ""
            outcomes.append((kind, result.exit_code, last[:160]))
            assert result.exit_code in (0, 2), where
            assert "Traceback" not in out, where
            assert result.exception is None or isinstance(result.exception, SystemExit), where
            if result.exit_code == 2:
                tally["refused (2)"] += 1
                assert "error: " in out, where
                after = (graph_counts(graph), fingerprint(graph), _genes_digest(graph, dataset) if snapshot else None)
                assert after == before, f"refused, yet the graph changed: {where}"
            else:
                tally["loaded (0)"] += 1
    finally:
        if snapshot is not None:
            _restore_genes(graph, snapshot, dataset)
        record_property("fuzz_tally", dict(tally))
        print(f"\nfuzz tally {loader}: {tally}")
        for kind, code, line in outcomes:
            print(f"  {kind:<22} exit {code}  {line}")
    if snapshot is not None:  # the session's gene map, which later tests use, is as it was
        now = {r["s"]: r["p"] for r in graph.read("MATCH (g:Gene) RETURN g.symbol AS s, properties(g) AS p")}
        assert now == snapshot, "the gene map was not put back as it was"


def teardown_module(module):
    if not TALLY:
        return
    width = max(map(len, TALLY))
    lines = [f"{'loader':<{width}}  mutations  loaded(0)  refused(2)"]
    lines += [f"{k:<{width}}  {v['mutations']:>9}  {v['loaded (0)']:>9}  {v['refused (2)']:>10}" for k, v in TALLY.items()]
    print("\nload fuzz tally\n" + "\n".join(lines))
