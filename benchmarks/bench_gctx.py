#!/usr/bin/env python
"""GCTX read throughput at LINCS size: the chunked reader against the whole-matrix read it replaced.

    python benchmarks/bench_gctx.py [--signatures 100000] [--baseline-signatures 10000] [--out DIR]

Writes LINCS-shaped GCTX files into a temporary folder (12,328 real HGNC protein-coding genes by
Entrez id, ``pr_is_lm`` on 978 of them; column metadata sig_id, pert_iname, pert_type, cell_id,
pert_idose, pert_itime, is_hiq; float32 z-scores in HDF5 chunks of 1000 signatures x 256 genes,
uncompressed, as cmapPy writes the LINCS releases), then times in fresh subprocesses (so each peak
RSS is its own):

* the chunked reader (``read_gctx``, ``genes=landmark``) on the big file, and with the paper's
  signature selection (``where=is_hiq:1;pert_type:trt_cp|trt_xpr;pert_itime:24 h``);
* the chunked reader and the whole-matrix read it replaced (``h5[...][()]`` then the old
  ``to_experiments``, kept below verbatim as the reference) on the first ``--baseline-signatures``
  signatures, which still fit in memory: landmark genes and all genes;
* optionally (``--cli-signatures N``) ``lpm-kg load`` end to end through the CLI into a throwaway
  Neo4j, on a GCTX of N signatures, landmark genes.

Parsing only: no database except the CLI step. The gene map comes from the shared HGNC table
(``$LPM_KG_SHARED_DATA``). The temporary folder (about 5 GB for 100,000 signatures) is deleted at
the end. Writes ``bench_gctx.json`` and ``bench_gctx.md`` to ``--out``. See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the working tree's lpm_kg and loaders, whatever is installed

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

N_GENES, N_LANDMARK = 12_328, 978
H5_CHUNKS = (1000, 256)  # cmapPy's default for max_chunk_kb=1024: 1000 samples x 256 genes of float32
HGNC = "gene-ids/hgnc_complete_set.txt.gz"
PAPER_WHERE = "is_hiq:1;pert_type:trt_cp|trt_xpr;pert_itime:24 h"
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def shared(relpath: str) -> Path:
    path = Path(os.environ.get("LPM_KG_SHARED_DATA", REPO.parent / "shared" / "data")) / relpath
    if not path.exists():
        sys.exit(f"error: shared data file {path} is missing; set LPM_KG_SHARED_DATA to the shared/data folder")
    return path


# --------------------------------------------------------------------------- the files

def row_meta(seed: int = 0) -> pd.DataFrame:
    genes = pd.read_csv(shared(HGNC), sep="\t", dtype=str, usecols=["symbol", "locus_group", "entrez_id"])
    genes = genes[(genes.locus_group == "protein-coding gene") & genes.entrez_id.notna()]
    genes = genes.sample(n=N_GENES, random_state=seed).reset_index(drop=True)
    lm = np.zeros(N_GENES, dtype=int)
    lm[np.random.default_rng(seed).choice(N_GENES, N_LANDMARK, replace=False)] = 1
    return pd.DataFrame({"id": genes.entrez_id, "pr_gene_id": genes.entrez_id, "pr_gene_symbol": genes.symbol,
                         "pr_is_lm": lm})


def col_meta(n: int, rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """LINCS-like: ~2,000 compounds at 6 doses, CRISPR knockouts of landmark genes, DMSO, 50 cell
    lines, 6 h and 24 h, 70 % high quality; replicates scattered through the file."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(["trt_cp", "trt_xpr", "ctl_vehicle"], size=n, p=[0.85, 0.07, 0.08])
    compounds = np.array([f"cmpd-{i:04d}" for i in range(2000)])
    targets = rows.loc[rows.pr_is_lm == 1, "pr_gene_symbol"].to_numpy()
    name = np.where(kind == "trt_cp", rng.choice(compounds, size=n),
                    np.where(kind == "trt_xpr", rng.choice(targets, size=n), "DMSO"))
    doses = np.array(["0.04 uM", "0.12 uM", "0.37 uM", "1.11 uM", "3.33 uM", "10 uM"])
    cells = np.array(["A375", "MCF7", "PC3", "VCAP", "A549", "HA1E", "HT29", "HEPG2", "NPC", "HCC515"]
                     + [f"CL{i:02d}" for i in range(40)])
    cell = rng.choice(cells, size=n)
    itime = rng.choice(["6 h", "24 h"], size=n)
    sig = [f"BENCH{i // 384:04d}_{c}_{t.replace(' ', '').upper()}:{i % 384:03d}" for i, (c, t) in
           enumerate(zip(cell, itime))]
    return pd.DataFrame({"id": sig, "sig_id": sig, "pert_iname": name, "pert_type": kind, "cell_id": cell,
                         "pert_idose": np.where(kind == "trt_cp", rng.choice(doses, size=n), "-666"),
                         "pert_itime": itime, "is_hiq": (rng.random(n) < 0.7).astype(int)})


def write_file(path: Path, n: int, rows: pd.DataFrame, cols: pd.DataFrame, seed: int = 0) -> None:
    from loaders.gct_files import write_gctx

    block = 5000

    def blocks():
        for b, start in enumerate(range(0, n, block)):  # block b always holds the same values
            rng = np.random.default_rng((seed, b))
            yield rng.standard_normal((min(block, n - start), N_GENES), dtype=np.float32)

    write_gctx(path, rows, cols.iloc[:n], blocks(), chunks=H5_CHUNKS)


# --------------------------------------------------------------------------- the reference (before chunking)
# The whole-matrix read as loaders/gct.py did it before the chunked reader, verbatim but for the
# imports: h5[...][()] of the whole matrix, float64 copies, then the old to_experiments.

from loaders.gct_files import check_unique_ids  # noqa: E402
from loaders.lincs_fields import first_field, perturbation_of, time_h_of  # noqa: E402
from lpm_kg.contract import ExperimentTable, average_replicate_rows  # noqa: E402
from lpm_kg.errors import InputError  # noqa: E402
from lpm_kg.validate import check_matrix_finite  # noqa: E402

def old_parse_gctx(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    import h5py

    file = str(path)
    try:
        with h5py.File(path, "r") as h5:
            data = h5["0/DATA/0/matrix"][()]
            row_meta = _old_h5_meta(h5["0/META/ROW"])
            col_meta = _old_h5_meta(h5["0/META/COL"])
    except (OSError, KeyError) as exc:
        raise InputError(file, f"not a readable GCTX file ({exc})",
                         "pass an HDF5 file with /0/DATA/0/matrix and /0/META/ROW, /0/META/COL") from None
    check_unique_ids(row_meta["id"], file, "row", lambda k: f"/0/META/ROW/id[{k}]")
    check_unique_ids(col_meta["id"], file, "column", lambda k: f"/0/META/COL/id[{k}]")
    # GCTX stores samples x genes (column-major from the GCT's point of view).
    if data.shape == (len(col_meta), len(row_meta)):
        data = data.T
    if data.shape != (len(row_meta), len(col_meta)):
        raise InputError(file, f"matrix {data.shape} does not match {len(row_meta)} row and {len(col_meta)} column ids",
                         "rewrite the file with matching metadata")
    check_matrix_finite(data, file, list(row_meta["id"]), list(col_meta["id"]))
    return pd.DataFrame(data.astype(np.float64), index=row_meta["id"].to_numpy(), columns=col_meta["id"].to_numpy()), \
        row_meta, col_meta


def _old_h5_meta(group) -> pd.DataFrame:
    out = {}
    for key in group.keys():
        v = group[key][()]
        out[key] = [x.decode() if isinstance(x, bytes) else x for x in v]
    df = pd.DataFrame(out)
    return df[["id"] + [c for c in df.columns if c != "id"]]



def old_to_experiments(matrix: pd.DataFrame, row_meta: pd.DataFrame, col_meta: pd.DataFrame, ctx, file: str
                   ) -> ExperimentTable:
    values = matrix.to_numpy(np.float64)
    gene_field = first_field(row_meta, ("pr_gene_id", "pr_gene_symbol", "id"))  # option gene_field unset
    if gene_field not in row_meta.columns:
        raise InputError(file, f"row metadata has no field {gene_field!r}", "pass --option gene_field=<field>",
                         field=gene_field)
    genes = ctx.resolve_genes(row_meta[gene_field].astype(str).tolist(), field=gene_field)
    resolved = pd.Series(genes, dtype=object)
    dup = (resolved.notna() & resolved.duplicated()).to_numpy()
    if dup.any():
        # Two rows of one gene (two probes, or an old and a new symbol): one readout needs one value.
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((resolved == resolved.iat[i]).to_numpy())[0])
        ids = pd.Series(matrix.index, dtype=object)
        a, b = row_meta[gene_field].iat[first], row_meta[gene_field].iat[i]
        raise InputError(file, f"rows {ids.iat[first]!r} and {ids.iat[i]!r} both measure gene {genes[i]}"
                         + (f" ({gene_field} {a!r} and {b!r})" if a != b else ""),
                         "keep one row per gene (or average them) before loading, or pick another "
                         "--option gene_field", row=str(ids.iat[i]), field=gene_field)

    level = None  # option level unset (the bench passes none)
    if level is None:
        level = "3" if (values.min() >= 0 and np.median(values) > 2) else "5"
    if level not in ("3", "5"):
        raise InputError(file, f"option level={level!r}", "pass level=3 or level=5", field="level")

    cell_option = None  # option cell_line unset
    if "cell_id" not in col_meta.columns and not cell_option:
        raise InputError(file, "the column metadata has no cell_id field and the cell line is not recorded",
                         "pass --option cell_line=<name>", field="cell_id")
    cells = [cell_option] * len(col_meta) if cell_option else col_meta["cell_id"].astype(str).tolist()

    gene_cache: dict[str, str] = {}

    def resolve_target(name: str, row: pd.Series) -> str:
        if name not in gene_cache:
            # shRNA plates name the target by an old symbol (TOMM70A); pert_mfc_desc often has the current one.
            candidates = [name] + [str(row[f]) for f in ("pert_mfc_desc",) if f in row.index]
            for cand in candidates:
                sym = ctx.resolver.resolve([cand]).symbols[0]
                if sym:
                    gene_cache[name] = sym
                    break
            else:
                raise InputError(file, f"perturbed gene {name!r} does not resolve to a gene",
                                 "fix pert_iname or load a gene map that knows it", field="pert_iname")
        return gene_cache[name]

    perts = [perturbation_of(row, resolve_target, file, i) for i, (_, row) in enumerate(col_meta.iterrows())]
    times = [time_h_of(row) for _, row in col_meta.iterrows()]

    if level == "3":
        plate_field = first_field(col_meta, ("det_plate", "rna_plate"))  # option plate_field unset
        plates = col_meta[plate_field].astype(str).to_numpy() if plate_field else np.array(["plate"] * len(col_meta))
        is_ctl = np.array([p.kind == "control" for p in perts])
        changes = np.empty_like(values)
        for plate in np.unique(plates):
            cols = plates == plate
            ctl = cols & is_ctl
            if not ctl.any():
                raise InputError(file, f"plate {plate!r} has no control wells to subtract",
                                 "include its vehicle (ctl_vehicle/DMSO) wells, or load level-5 signatures",
                                 field=plate_field or "pert_type")
            changes[:, cols] = values[:, cols] - values[:, ctl].mean(axis=1, keepdims=True)
        values, value_kind = changes, "log2_change_vs_plate_control"
    else:
        value_kind = "zscore"

    keep = np.array([g is not None for g in genes])
    keys = pd.DataFrame({"perturbation": perts, "symbol": [p.symbol for p in perts], "cell_line": cells,
                         "time_h": times})
    exps, means = average_replicate_rows(keys, values[keep].T.astype(np.float32), ["symbol", "cell_line", "time_h"])
    exps["key"] = [f"{s}@{c}" + ("" if t is None or pd.isna(t) else f"@{t:g}h")
                   for s, c, t in zip(exps["symbol"], exps["cell_line"], exps["time_h"])]
    exps = exps.drop(columns=["symbol"])
    return ExperimentTable(exps, [g for g in genes if g is not None], means, value_kind)



# --------------------------------------------------------------------------- one measurement per process

def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def child(mode: str, path: Path, genes: str, chunk: int, where: str) -> dict:
    from loaders.gct import read_gctx
    from loaders.hgnc import read_hgnc
    from lpm_kg.genes import GeneResolver
    from lpm_kg.loading import LoadContext

    resolver = GeneResolver(read_hgnc(shared(HGNC), None).genes)
    options = {"genes": genes, "chunk": str(chunk)} | ({"where": where} if where else {})
    before = rss_mb()
    t = time.perf_counter()
    if mode == "chunked":
        table = read_gctx(path, LoadContext("bench", str(path), options, resolver_=resolver))
    else:  # the old path; it had no genes option, so landmark rows are picked from the whole matrix
        matrix, rows, cols = old_parse_gctx(path)
        if genes == "landmark":
            lm = (rows["pr_is_lm"].astype(str) == "1").to_numpy()
            matrix, rows = matrix.loc[lm], rows[lm].reset_index(drop=True)
        table = old_to_experiments(matrix, rows, cols, LoadContext("bench", str(path), {}, resolver_=resolver),
                                   str(path))
    seconds = time.perf_counter() - t
    with __import__("h5py").File(path, "r") as h5:
        n_sigs = h5["0/DATA/0/matrix"].shape[0]
    n_read = int(table.experiments["n_replicates"].sum())  # signatures averaged into the table
    return {"mode": mode, "genes": genes, "where": where, "file_signatures": n_sigs, "signatures": n_read,
            "genes_out": len(table.genes), "experiments": len(table.experiments),
            "measurements_in": n_read * len(table.genes), "seconds": seconds,
            "signatures_per_s": n_read / seconds, "measurements_per_s": n_read * len(table.genes) / seconds,
            "rss_before_mb": before, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_rss_delta_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before,
            "values_sum": float(np.float64(table.values).sum())}


def measure(mode: str, path: Path, genes: str, chunk: int, where: str = "") -> dict:
    log(f"{mode} read of {path.name}, genes={genes}" + (f", where={where}" if where else ""))
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), genes, str(chunk), where],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"error: the {mode} read failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"  {res['seconds']:.1f} s, {res['signatures_per_s']:,.0f} signatures/s, "
        f"{res['measurements_per_s'] / 1e6:,.1f} M measurements/s, peak RSS {res['peak_rss_mb']:,.0f} MB "
        f"(+{res['peak_rss_delta_mb']:,.0f})")
    return res


# --------------------------------------------------------------------------- end to end through the CLI

def cli_load(path: Path, n_sigs: int, tmp: Path) -> dict:
    from lpm_kg.graph import Graph
    from lpm_kg.loading import load
    from lpm_kg.server import ManagedNeo4j, ensure_jars, free_port
    from lpm_kg.settings import Settings

    log("starting a throwaway Neo4j for the CLI load")
    server = ManagedNeo4j(tmp / "neo4j", ensure_jars(Settings().cache_dir), bolt_port=free_port(),
                          http_port=free_port(), heap="1g", pagecache="512m")
    server.start()
    try:
        with Graph(server.uri, server.auth) as graph:
            load(graph, shared(HGNC), "hgnc", "hgnc", show_progress=False)
        user, password = server.auth
        env = {**os.environ, "NEO4J_URI": server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
               "PYTHONPATH": str(REPO)}
        args = [sys.executable, "-m", "lpm_kg.cli", "load", str(path), "--format", "gctx", "--dataset", "lincs",
                "-o", "genes=landmark"]
        log("lpm-kg load " + " ".join(args[4:]))
        t = time.perf_counter()
        out = subprocess.run(args, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        if out.returncode:
            sys.exit(f"error: lpm-kg load failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        counts = dict(re.findall(r"(n_\w+)=(\d+)", out.stdout))
        t = time.perf_counter()
        again = subprocess.run(args, env=env, capture_output=True, text=True)
        rerun = time.perf_counter() - t
    finally:
        server.stop()
    n_meas = int(counts.get("n_measurements", 0))
    res = {"signatures": n_sigs, "seconds": seconds,
           "n_experiments": int(counts.get("n_experiments", 0)), "n_measurements": n_meas,
           "measurements_per_s": n_meas / seconds, "rerun_seconds": rerun,
           "rerun_output": again.stdout.strip().splitlines()[-1] if again.stdout.strip() else ""}
    log(f"  {seconds:.1f} s, {res['n_experiments']:,} experiments, {n_meas / seconds:,.0f} measurements/s; "
        f"rerun {rerun:.1f} s: {res['rerun_output']}")
    return res


# --------------------------------------------------------------------------- report

def write_md(res: dict, path: Path) -> None:
    c = res["config"]
    lines = [f"# bench_gctx: chunked GCTX read, {c['signatures']:,} x {N_GENES:,} LINCS-shaped file", "",
             f"{res['machine']['cpu_count']} CPUs, {res['machine']['mem_gb']:.0f} GB RAM, load average "
             f"{res['loadavg_start'][0]:.1f} at the start and {res['loadavg_end'][0]:.1f} at the end; file "
             f"{c['file_gb']:.2f} GB, HDF5 chunks {c['h5_chunks']}, reader chunk {c['chunk']:,} signatures. "
             "The file was just written, so it is (partly) in the page cache.", "",
             "| read | file signatures | genes | signatures read | s | signatures/s | M measurements/s | "
             "peak RSS MB (+ over start) |", "|---|---|---|---|---|---|---|---|"]
    for r in res["reads"]:
        label = r["mode"] + (f", where {r['where']}".replace("|", "\\|") if r["where"] else "")
        lines.append(f"| {label} | {r['file_signatures']:,} | {r['genes']} ({r['genes_out']:,}) | "
                     f"{r['signatures']:,} | {r['seconds']:.1f} | {r['signatures_per_s']:,.0f} | "
                     f"{r['measurements_per_s'] / 1e6:.1f} | {r['peak_rss_mb']:,.0f} (+{r['peak_rss_delta_mb']:,.0f}) |")
    lines += ["", "Same-run ratios, chunked over whole-matrix read on the baseline file:", ""]
    for k, v in res["ratios"].items():
        lines.append(f"* {k}: {v:.2f}")
    if res.get("cli"):
        r = res["cli"]
        lines += ["", f"`lpm-kg load --format gctx -o genes=landmark` end to end on {r['signatures']:,} signatures: "
                  f"{r['seconds']:.1f} s, {r['n_experiments']:,} experiments, {r['measurements_per_s']:,.0f} "
                  f"measurements/s; the same command again: {r['rerun_seconds']:.1f} s ({r['rerun_output']})."]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, path, genes, chunk = sys.argv[2], Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
        print(json.dumps(child(mode, path, genes, chunk, sys.argv[6] if len(sys.argv) > 6 else "")))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signatures", type=int, default=100_000, help="signatures in the big file (default 100,000)")
    ap.add_argument("--baseline-signatures", type=int, default=10_000,
                    help="signatures in the file the whole-matrix read is compared on (default 10,000)")
    ap.add_argument("--chunk", type=int, default=10_000, help="the reader's chunk option (default 10,000)")
    ap.add_argument("--cli-signatures", type=int, default=0,
                    help="also time `lpm-kg load` end to end on a GCTX of this many signatures (default: skip)")
    ap.add_argument("--tmp", default=None, help="folder for the temporary files (default: the system's)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()

    need = args.signatures * N_GENES * 4 * 1.15 + args.baseline_signatures * N_GENES * 4
    free = shutil.disk_usage(args.tmp or tempfile.gettempdir()).free
    if free < need + 2e9:
        sys.exit(f"error: the files need {need / 1e9:.1f} GB and {args.tmp or tempfile.gettempdir()} has "
                 f"{free / 1e9:.1f} GB free; pass --tmp or --signatures")
    res: dict = {"config": {"signatures": args.signatures, "baseline_signatures": args.baseline_signatures,
                            "genes": N_GENES, "landmark": N_LANDMARK, "h5_chunks": list(H5_CHUNKS),
                            "chunk": args.chunk, "paper_where": PAPER_WHERE},
                 "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                             "numpy": np.__version__, "h5py": __import__("h5py").__version__,
                             "mem_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30},
                 "loadavg_start": list(os.getloadavg()), "reads": []}
    with tempfile.TemporaryDirectory(prefix="lpm-kg-bench-gctx-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        rows = row_meta()
        cols = col_meta(max(args.signatures, args.baseline_signatures, args.cli_signatures), rows)
        big, small = tmp / "big.gctx", tmp / "baseline.gctx"
        log(f"writing {args.signatures:,} x {N_GENES:,} to {big}")
        t = time.perf_counter()
        write_file(big, args.signatures, rows, cols)
        res["config"]["write_seconds"] = time.perf_counter() - t
        res["config"]["file_gb"] = big.stat().st_size / 1e9
        log(f"  {res['config']['file_gb']:.2f} GB in {res['config']['write_seconds']:.0f} s")
        write_file(small, args.baseline_signatures, rows, cols)

        reads = res["reads"]
        reads.append(measure("chunked", big, "landmark", args.chunk))
        reads.append(measure("chunked", big, "landmark", args.chunk, PAPER_WHERE))
        for genes in ("landmark", "all"):
            reads.append(measure("chunked", small, genes, args.chunk))
            reads.append(measure("whole-matrix", small, genes, args.chunk))
        by = {(r["mode"], r["genes"], r["file_signatures"], r["where"]): r for r in reads}
        res["ratios"] = {}
        for genes in ("landmark", "all"):
            new, old = by[("chunked", genes, args.baseline_signatures, "")], \
                by[("whole-matrix", genes, args.baseline_signatures, "")]
            if not np.isclose(new["values_sum"], old["values_sum"], rtol=1e-5):
                sys.exit(f"error: the chunked and the whole-matrix read disagree ({genes}): "
                         f"{new['values_sum']} vs {old['values_sum']}")
            res["ratios"][f"speed {genes} (signatures/s)"] = new["signatures_per_s"] / old["signatures_per_s"]
            res["ratios"][f"peak RSS delta {genes} (whole / chunked)"] = \
                old["peak_rss_delta_mb"] / max(1.0, new["peak_rss_delta_mb"])
        big_lm = by[("chunked", "landmark", args.signatures, "")]
        res["ratios"]["peak RSS delta, big file over baseline file (chunked, landmark)"] = \
            big_lm["peak_rss_delta_mb"] / max(1.0, by[("chunked", "landmark", args.baseline_signatures, "")]
                                              ["peak_rss_delta_mb"])
        big.unlink()
        if args.cli_signatures:
            cli_file = tmp / "cli.gctx"
            write_file(cli_file, args.cli_signatures, rows, cols)
            res["cli"] = cli_load(cli_file, args.cli_signatures, tmp)
    res["loadavg_end"] = list(os.getloadavg())
    res["total_seconds"] = time.perf_counter() - T0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_gctx.json").write_text(json.dumps(res, indent=2) + "\n")
    write_md(res, out / "bench_gctx.md")
    log(f"wrote {out / 'bench_gctx.json'} and {out / 'bench_gctx.md'}")
    print((out / "bench_gctx.md").read_text())


if __name__ == "__main__":
    main()
