#!/usr/bin/env python
"""Load and pull throughput of lpm-kg against a throwaway Neo4j server.

    python benchmarks/bench_load.py [--experiments N] [--out DIR]

Starts its own managed Neo4j in a temporary directory on free ports, loads the HGNC gene map
from the shared data, then measures:

* real sets: ``lpm_kg.loading.load`` end to end (parse + validate + write) on five shared files;
* a generated L1000-shaped set (N experiments x 978 protein-coding readouts, float32 normals),
  written exactly as a loader's payload is (``datasets.begin`` -> ``write_payload`` ->
  ``datasets.complete``), with ``top_k=25`` CHANGES relationships and with ``top_k=0``;
* a naive baseline: one auto-commit parameterised MERGE statement per measurement, into
  separate labels (``NaiveExperiment``/``NaiveReadout``, each with its own uniqueness
  constraint so the MERGEs are index-backed, as the real labels are);
* ``pull_tuples`` of the generated set (cold = first pull after the load, warm = second),
  its peak RSS and bytes per tuple, and ``TupleSet.to_torch``.

Prints a table and writes ``bench_load.json`` and ``bench_load.png`` to ``--out``. See README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the working tree's lpm_kg and loaders, whatever is installed

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

LOAD_TARGET = 200_000  # measurements/s, from the issue
PULL_TARGET = 2_000_000  # tuples/s, from the issue
N_READOUTS = 978

REAL_SETS = [
    {"name": "cmapr-ds", "file": "cmapR-l1000/ds_matrix.csv.gz", "format": "gct-csv"},
    {"name": "ljp005-a375", "file": "l1000-ljp005-a375/LJP005_A375_24H_level3_n377x978.gct", "format": "gct"},
    {"name": "sigrecon-perturbseq", "file": "sigrecon-signatures/perturbseq_ranked_signatures_long.parquet",
     "format": "ranked-signatures", "options": {"perturbation_type": "CRISPRi", "scoring": "top"}},
    {"name": "sigrecon-neurips2023", "file": "sigrecon-signatures/neurips2023_ranked_signatures_long.parquet",
     "format": "ranked-signatures", "unmapped": "skip"},
    {"name": "papalexi2021-thp1", "file": "papalexi2021-sceptre/papalexi2021_thp1_lowmoi_299genes.h5ad",
     "format": "h5ad", "options": {"method": "CRISPR-KO", "cell_line": "THP-1"}, "unmapped": "skip"},
]
HGNC = "gene-ids/hgnc_complete_set.txt.gz"

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def shared_data_dir() -> Path:
    path = Path(os.environ.get("LPM_KG_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        sys.exit(f"error: shared data folder {path} not found; set LPM_KG_SHARED_DATA to the shared/data folder")
    return path


def shared(root: Path, relpath: str) -> Path:
    path = root / relpath
    if not path.exists():
        sys.exit(f"error: shared data file {path} is missing; set LPM_KG_SHARED_DATA to the shared/data folder")
    return path


# --------------------------------------------------------------------------- memory

def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakRSS:
    """Peak resident memory of this process over a block, in bytes above its RSS at the start.

    Linux: the kernel's high-water mark is reset (``/proc/self/clear_refs`` <- 5) and read back
    (VmHWM), which is exact. Elsewhere: psutil sampled every 5 ms.
    """

    def __enter__(self):
        gc.collect()
        self.exact = False
        self.start = self._rss()
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.exact = _status_kib("VmHWM") is not None
        except OSError:
            pass
        if not self.exact:
            self._peak, self._stop = self.start, threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _rss(self) -> int:
        kib = _status_kib("VmRSS")
        if kib is not None:
            return kib * 1024
        import psutil

        return psutil.Process().memory_info().rss

    def _sample(self):
        while not self._stop.is_set():
            self._peak = max(self._peak, self._rss())
            time.sleep(0.005)

    def __exit__(self, *exc):
        if self.exact:
            self.peak = _status_kib("VmHWM") * 1024
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self._peak, self._rss())
        self.delta = self.peak - self.start
        self.method = "VmHWM reset via /proc/self/clear_refs" if self.exact else "psutil sampling (5 ms)"


# --------------------------------------------------------------------------- server

def start_server(home: Path, heap: str, pagecache: str):
    from lpm_kg.server import ManagedNeo4j, ensure_jars, free_port
    from lpm_kg.settings import Settings

    jars = ensure_jars(Settings().cache_dir, progress=lambda m: log(f"jars: {m}"))
    server = ManagedNeo4j(home, jars, bolt_port=free_port(), http_port=free_port(), heap=heap, pagecache=pagecache)
    server.start()
    return server


def machine_info(graph, heap: str, pagecache: str) -> dict:
    def pkg(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    comp = graph.read("CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition")
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30).stderr.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        java = None
    cpu_model = None
    try:
        cpu_model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                          if ln.startswith("model name")), None)
    except OSError:
        pass
    try:
        import psutil

        mem_total = psutil.virtual_memory().total
    except ImportError:
        mem_total = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "memory_total_bytes": mem_total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "neo4j_driver": pkg("neo4j"),
        "neo4j_rust_ext": pkg("neo4j-rust-ext"),
        "neo4j_server": [{"name": r["name"], "versions": r["versions"], "edition": r["edition"]} for r in comp],
        "java": java,
        "server_heap": heap,
        "server_pagecache": pagecache,
    }


# --------------------------------------------------------------------------- real sets

def bench_real(graph, root: Path) -> list[dict]:
    import lpm_kg.loading as loading

    # Time the write part of each load separately (the rest is checksum, parse and validate).
    write_times: list[float] = []
    original = loading.write_payload

    def timed_write(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            write_times.append(time.perf_counter() - t)

    loading.write_payload = timed_write
    out = []
    try:
        for spec in REAL_SETS:
            path = shared(root, spec["file"])
            log(f"real set {spec['name']}: load {spec['file']} ({spec['format']})")
            write_times.clear()
            t = time.perf_counter()
            report = loading.load(graph, path, spec["format"], spec["name"], options=spec.get("options"),
                                  unmapped=spec.get("unmapped", "auto"), top_k=25, show_progress=True)
            dt = time.perf_counter() - t
            n = int(report.counts.get("n_measurements", 0))
            w = write_times[0] if write_times else float("nan")
            row = {"name": spec["name"], "file": spec["file"], "format": spec["format"],
                   "options": spec.get("options", {}), "unmapped": spec.get("unmapped", "auto"),
                   "n_experiments": report.counts.get("n_experiments"), "n_readouts": report.counts.get("n_readouts"),
                   "n_measurements": n, "seconds": dt, "write_seconds": w, "parse_seconds": dt - w,
                   "measurements_per_s": n / dt, "write_measurements_per_s": n / w if w == w and w > 0 else None,
                   "file_bytes": path.stat().st_size}
            log(f"  {n:,} measurements in {dt:.2f} s ({n / dt:,.0f}/s; write {w:.2f} s, "
                f"parse+validate {dt - w:.2f} s)")
            out.append(row)
    finally:
        loading.write_payload = original
    return out


# --------------------------------------------------------------------------- generated set

def protein_coding_genes(graph, n: int, seed: int) -> list[str]:
    rows = graph.read("MATCH (g:Gene) WHERE g.locus_group = 'protein-coding gene' RETURN g.symbol AS s ORDER BY s")
    symbols = [r["s"] for r in rows]
    if len(symbols) < n:
        sys.exit(f"error: the gene map has only {len(symbols)} protein-coding genes, {n} needed")
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(symbols, n, replace=False).tolist())


def make_generated(genes: list[str], n: int, seed: int):
    """An L1000-shaped ExperimentTable: ~500 compounds x 4 doses x ~50 cell lines x 3 time points,
    ``n`` distinct combinations drawn at random, float32 standard normal values."""
    from lpm_kg.contract import ExperimentTable
    from lpm_kg.symbols import Perturbation

    rng = np.random.default_rng(seed)
    compounds = [f"benchcmpd-{i:03d}" for i in range(500)]
    doses = [0.37, 1.11, 3.33, 10.0]
    cells = [f"BENCH-CL{i:02d}" for i in range(50)]
    times = [6, 24, 48]
    perts = [Perturbation.chemical(c, d, "uM") for c in compounds for d in doses]
    space = len(perts) * len(cells) * len(times)
    if n > space:
        sys.exit(f"error: at most {space} distinct generated experiments")
    pick = np.sort(rng.choice(space, n, replace=False))
    p_i, rest = np.divmod(pick, len(cells) * len(times))
    c_i, t_i = np.divmod(rest, len(times))
    exps = pd.DataFrame({
        "key": [f"{perts[p].symbol}@{cells[c]}@{times[t]}h" for p, c, t in zip(p_i, c_i, t_i)],
        "perturbation": [perts[p] for p in p_i],
        "cell_line": [cells[c] for c in c_i],
        "n_replicates": 3,
        "time_h": [float(times[t]) for t in t_i],
    })
    values = rng.standard_normal((n, len(genes)), dtype=np.float32)
    return ExperimentTable(exps, list(genes), values, "zscore")


def write_generated(graph, dataset: str, table, top_k: int) -> dict:
    from tqdm import tqdm

    from lpm_kg.graph import datasets as ds
    from lpm_kg.loading import write_payload

    log(f"generated set {dataset}: write {table.n_measurements:,} measurements, top_k={top_k}")
    t = time.perf_counter()
    ds.begin(graph, dataset, checksum=f"bench-{len(table.experiments)}-{top_k}", format="bench-generated",
             options={"top_k": top_k}, files=[], source="benchmarks/bench_load.py", licence=None, kind="measurements")
    with tqdm(total=table.n_measurements, unit=" values", unit_scale=True, desc=f"write {dataset}", leave=False) as bar:
        counts = write_payload(graph, dataset, table, top_k=top_k, progress=bar.update)
    ds.complete(graph, dataset, counts)
    dt = time.perf_counter() - t
    n = counts["n_measurements"]
    log(f"  {n:,} measurements in {dt:.2f} s ({n / dt:,.0f}/s)")
    return {"dataset": dataset, "top_k": top_k, "n_experiments": counts["n_experiments"], "n_measurements": n,
            "n_changes_relationships": counts["n_experiments"] * top_k, "seconds": dt, "measurements_per_s": n / dt}


# --------------------------------------------------------------------------- naive baseline

NAIVE_QUERY = ("MERGE (e:NaiveExperiment {id: $e}) MERGE (r:NaiveReadout {symbol: $r}) "
               "MERGE (e)-[:MEASURED {value: $v}]->(r)")


def bench_naive(graph, table, max_experiments: int, max_seconds: float) -> dict:
    from tqdm import tqdm

    from lpm_kg.symbols import readout_symbol

    # Separate labels, so nothing here touches the real Experiment/Readout nodes; their own
    # constraints give the MERGEs the same index-backed lookups the real labels have.
    graph.query("CREATE CONSTRAINT bench_naive_experiment IF NOT EXISTS FOR (n:NaiveExperiment) REQUIRE n.id IS UNIQUE")
    graph.query("CREATE CONSTRAINT bench_naive_readout IF NOT EXISTS FOR (n:NaiveReadout) REQUIRE n.symbol IS UNIQUE")
    graph.query("CALL db.awaitIndexes(60)")
    readouts = [readout_symbol(g, table.readout_modality) for g in table.genes]
    keys = table.experiments["key"].tolist()
    n_exp = min(max_experiments, len(keys))
    planned = int(np.isfinite(table.values[:n_exp]).sum())
    log(f"naive baseline: one auto-commit MERGE per measurement, up to {n_exp} experiments "
        f"({planned:,} measurements) or {max_seconds:.0f} s")
    done = 0
    t = time.perf_counter()
    stopped_early = False
    with graph.driver.session(database=graph.database) as session, \
            tqdm(total=planned, unit=" values", unit_scale=True, desc="naive", leave=False) as bar:
        for i in range(n_exp):
            eid = f"naive:{keys[i]}"
            for j, v in enumerate(table.values[i]):
                if not np.isfinite(v):
                    continue
                session.run(NAIVE_QUERY, {"e": eid, "r": readouts[j], "v": float(v)}).consume()
                done += 1
                if done % 500 == 0:
                    bar.update(500)
                    if time.perf_counter() - t > max_seconds:
                        stopped_early = True
                        break
            if stopped_early:
                break
    dt = time.perf_counter() - t
    n_rel = graph.read("MATCH (:NaiveExperiment)-[m:MEASURED]->() RETURN count(m) AS n")[0]["n"]
    log(f"  {done:,} measurements in {dt:.2f} s ({done / dt:,.0f}/s){' (time cap reached)' if stopped_early else ''}")
    return {"query": NAIVE_QUERY, "n_measurements": done, "n_relationships_in_graph": n_rel, "seconds": dt,
            "measurements_per_s": done / dt, "max_experiments": n_exp, "max_seconds": max_seconds,
            "stopped_by_time_cap": stopped_early}


# --------------------------------------------------------------------------- pull

def bench_pull(graph, dataset: str, table, fetch_size: int | None) -> dict:
    from lpm_kg.graph.pull import pull_tuples

    expected_n = table.n_measurements
    finite = table.values[np.isfinite(table.values)].astype(np.float64)
    expected_sum, scale = float(finite.sum()), float(np.abs(finite).sum())
    del finite
    kwargs = {} if fetch_size is None else {"fetch_size": fetch_size}
    runs = []
    ts = None
    for label in ("cold", "warm"):
        ts = None
        gc.collect()
        log(f"pull {label}: pull_tuples({dataset!r})")
        # pull_tuples asks for dataset, panel and count metadata through graph.read before it
        # streams the values; timing those calls splits the pull into its two phases.
        read_s = [0.0]

        def timed_read(*a, _read=graph.read, **k):
            t0 = time.perf_counter()
            try:
                return _read(*a, **k)
            finally:
                read_s[0] += time.perf_counter() - t0

        graph.read = timed_read
        try:
            with PeakRSS() as mem:
                t = time.perf_counter()
                ts = pull_tuples(graph, [dataset], **kwargs)
                dt = time.perf_counter() - t
        finally:
            del graph.read  # back to the class's method
        n = len(ts)
        ok = n == expected_n and abs(float(ts.value.astype(np.float64).sum()) - expected_sum) <= 1e-6 * max(scale, 1.0)
        runs.append({"run": label, "n_tuples": n, "seconds": dt, "tuples_per_s": n / dt,
                     "metadata_queries_seconds": read_s[0], "stream_seconds": dt - read_s[0],
                     "result_bytes": ts.nbytes, "result_bytes_per_tuple": ts.nbytes / max(n, 1),
                     "peak_rss_delta_bytes": mem.delta, "peak_rss_delta_bytes_per_tuple": mem.delta / max(n, 1),
                     "peak_rss_method": mem.method, "matches_generated_values": bool(ok)})
        log(f"  {n:,} tuples in {dt:.2f} s ({n / dt:,.0f}/s; metadata queries {read_s[0]:.2f} s, "
            f"value stream {dt - read_s[0]:.2f} s), result {ts.nbytes / 2**20:.1f} MiB "
            f"({ts.nbytes / max(n, 1):.1f} B/tuple), peak RSS +{mem.delta / 2**20:.1f} MiB "
            f"({mem.delta / max(n, 1):.1f} B/tuple){'' if ok else '  !! values do not match the generated set'}")

    t = time.perf_counter()
    import torch

    import_s = time.perf_counter() - t
    t = time.perf_counter()
    tensors = ts.to_torch()
    torch_s = time.perf_counter() - t
    log(f"to_torch: {torch_s * 1e3:.2f} ms ({len(tensors)} tensors; torch import {import_s:.2f} s)")
    return {"runs": runs, "fetch_size": fetch_size or "default",
            "to_torch": {"seconds": torch_s, "torch_import_seconds": import_s, "torch": torch.__version__,
                         "device": str(tensors[0].device), "zero_copy": bool(tensors[3].data_ptr() == ts.value.ctypes.data)}}


# --------------------------------------------------------------------------- report

def fmt_rate(x):
    return "-" if x is None else f"{x:,.0f}"


def print_table(res: dict) -> None:
    rows = []
    for r in res.get("real_sets", []):
        rows.append((f"load {r['name']} ({r['format']})", r["n_measurements"], r["seconds"], r["measurements_per_s"],
                     f"write-only {fmt_rate(r['write_measurements_per_s'])}/s"))
    for g in res.get("generated", []):
        rows.append((f"write generated top_k={g['top_k']}", g["n_measurements"], g["seconds"], g["measurements_per_s"],
                     f"target {LOAD_TARGET:,}: {'met' if g['measurements_per_s'] >= LOAD_TARGET else 'NOT met'}"))
    if "naive" in res:
        nv = res["naive"]
        rows.append(("naive row-by-row MERGE", nv["n_measurements"], nv["seconds"], nv["measurements_per_s"],
                     "; ".join(f"{k} = {v:,.0f}x" for k, v in res.get("ratios", {}).items() if k.startswith("generated"))))
    if "pull" in res:
        for p in res["pull"]["runs"]:
            rows.append((f"pull_tuples {p['run']}", p["n_tuples"], p["seconds"], p["tuples_per_s"],
                         f"peak RSS +{p['peak_rss_delta_bytes_per_tuple']:.1f} B/tuple; target {PULL_TARGET:,}: "
                         f"{'met' if p['tuples_per_s'] >= PULL_TARGET else 'NOT met'}"))
        tt = res["pull"]["to_torch"]
        rows.append(("TupleSet.to_torch", res["pull"]["runs"][-1]["n_tuples"], tt["seconds"], None,
                     f"zero-copy: {tt['zero_copy']}"))
    w = max(len(r[0]) for r in rows) if rows else 20
    print()
    print(f"{'step':<{w}}  {'n':>12}  {'seconds':>9}  {'per second':>12}  notes")
    print("-" * (w + 60))
    for name, n, s, rate, note in rows:
        print(f"{name:<{w}}  {n:>12,}  {s:>9.3f}  {fmt_rate(rate):>12}  {note}")
    print()


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, rates, colors = [], [], []
    for r in res.get("real_sets", []):
        names.append(r["name"])
        rates.append(r["measurements_per_s"])
        colors.append("tab:blue")
    for g in res.get("generated", []):
        names.append(f"generated\ntop_k={g['top_k']}")
        rates.append(g["measurements_per_s"])
        colors.append("tab:green")
    if "naive" in res:
        names.append("naive\nrow-by-row")
        rates.append(res["naive"]["measurements_per_s"])
        colors.append("tab:red")
    pulls = res.get("pull", {}).get("runs", [])
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [max(len(names), 1), 2.5]})
    ax = axes[0]
    bars = ax.bar(range(len(names)), rates, color=colors)
    ax.set_yscale("log")
    ax.axhline(LOAD_TARGET, color="k", ls="--", lw=1, label=f"target {LOAD_TARGET:,}/s")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("measurements / s (log)")
    ax.set_title("load throughput")
    for b, v in zip(bars, rates):
        ax.text(b.get_x() + b.get_width() / 2, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=7)
    ax.legend(fontsize=8)
    ax = axes[1]
    if pulls:
        bars = ax.bar([p["run"] for p in pulls], [p["tuples_per_s"] for p in pulls], color="tab:purple")
        for b, p in zip(bars, pulls):
            ax.text(b.get_x() + b.get_width() / 2, p["tuples_per_s"], f"{p['tuples_per_s']:,.0f}", ha="center",
                    va="bottom", fontsize=8)
        ax.axhline(PULL_TARGET, color="k", ls="--", lw=1, label=f"target {PULL_TARGET:,}/s")
        ax.legend(fontsize=8)
    ax.set_ylabel("tuples / s")
    ax.set_title("pull_tuples (generated set)")
    m = res["machine"]
    fig.suptitle(f"lpm-kg load/pull, {m['cpu_affinity'] or m['cpu_count']} CPUs, Neo4j heap {m['server_heap']}, "
                 f"{res['config']['experiments']:,} generated experiments", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiments", type=int, default=20_000, help="generated experiments (default 20000)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="folder for JSON and PNG")
    ap.add_argument("--heap", default="1g", help="Neo4j heap (default 1g, the managed server's default)")
    ap.add_argument("--pagecache", default="512m", help="Neo4j page cache (default 512m, as the managed server)")
    ap.add_argument("--naive-experiments", type=int, default=30, help="experiments for the naive baseline (default 30)")
    ap.add_argument("--naive-seconds", type=float, default=60.0, help="time cap of the naive baseline (default 60)")
    ap.add_argument("--skip-real", action="store_true", help="skip the real-file loads")
    ap.add_argument("--skip-topk0", action="store_true", help="skip the top_k=0 write of the generated set")
    ap.add_argument("--fetch-size", type=int, default=None, help="pull_tuples fetch_size (default: its own)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    root = shared_data_dir()
    hgnc = shared(root, HGNC)
    if not args.skip_real:
        for spec in REAL_SETS:
            shared(root, spec["file"])
    args.out.mkdir(parents=True, exist_ok=True)

    from lpm_kg.graph import Graph
    from lpm_kg.graph.schema import ensure_schema
    from lpm_kg.loading import load

    res: dict = {"config": {"experiments": args.experiments, "readouts": N_READOUTS, "heap": args.heap,
                            "pagecache": args.pagecache, "naive_experiments": args.naive_experiments,
                            "naive_seconds": args.naive_seconds, "seed": args.seed, "shared_data": str(root)},
                 "targets": {"load_measurements_per_s": LOAD_TARGET, "pull_tuples_per_s": PULL_TARGET},
                 "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    with tempfile.TemporaryDirectory(prefix="lpm-kg-bench-") as tmp:
        log(f"starting a throwaway Neo4j in {tmp} (heap {args.heap}, page cache {args.pagecache})")
        t = time.perf_counter()
        server = start_server(Path(tmp) / "neo4j", args.heap, args.pagecache)
        graph = None
        try:
            res["server_start_seconds"] = time.perf_counter() - t
            log(f"server up at {server.uri} in {res['server_start_seconds']:.1f} s")
            graph = Graph(server.uri, server.auth)
            graph.verify()
            ensure_schema(graph)
            res["machine"] = machine_info(graph, args.heap, args.pagecache)

            log(f"loading the HGNC gene map from {hgnc}")
            t = time.perf_counter()
            rep = load(graph, hgnc, "hgnc", "hgnc", show_progress=True)
            dt = time.perf_counter() - t
            res["hgnc"] = {"n_genes": rep.counts.get("n_genes"), "seconds": dt, "rows_per_s": rep.counts.get("n_genes", 0) / dt}
            log(f"  {rep.counts.get('n_genes'):,} genes in {dt:.1f} s")

            if not args.skip_real:
                res["real_sets"] = bench_real(graph, root)

            genes = protein_coding_genes(graph, N_READOUTS, args.seed)
            log(f"generating {args.experiments:,} x {N_READOUTS} float32 values")
            t = time.perf_counter()
            table = make_generated(genes, args.experiments, args.seed)
            res["generate_seconds"] = time.perf_counter() - t
            res["generated"] = [write_generated(graph, "bench-gen", table, 25)]
            if not args.skip_topk0:
                res["generated"].append(write_generated(graph, "bench-gen-k0", table, 0))
            res["naive"] = bench_naive(graph, table, args.naive_experiments, args.naive_seconds)
            res["pull"] = bench_pull(graph, "bench-gen", table, args.fetch_size)
        finally:
            if graph is not None:
                graph.close()
            log("stopping the server")
            server.stop()

    naive = res["naive"]["measurements_per_s"]
    res["ratios"] = {f"generated top_k={g['top_k']} / naive": g["measurements_per_s"] / naive for g in res["generated"]}
    for r in res.get("real_sets", []):
        res["ratios"][f"{r['name']} / naive"] = r["measurements_per_s"] / naive
    best = {g["top_k"]: g["measurements_per_s"] for g in res["generated"]}
    res["targets"]["load_met"] = best.get(25, 0) >= LOAD_TARGET
    res["targets"]["load_met_top_k0"] = best.get(0, 0) >= LOAD_TARGET if 0 in best else None
    res["targets"]["pull_met_cold"] = res["pull"]["runs"][0]["tuples_per_s"] >= PULL_TARGET
    res["targets"]["pull_met_warm"] = res["pull"]["runs"][1]["tuples_per_s"] >= PULL_TARGET
    res["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    res["total_seconds"] = time.perf_counter() - T0

    print_table(res)
    json_path, png_path = args.out / "bench_load.json", args.out / "bench_load.png"
    json_path.write_text(json.dumps(res, indent=2, default=str) + "\n")
    plot(res, png_path)
    log(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
