"""Training memory per tuple: training and validation as index views of one set of pulled arrays
(what ``train_from_graph`` does now) against copied subsets (what it did before), each in its own
process, on a generated set of tuples shaped as ``pull_tuples`` returns them (int32 ids, float32
values, 16 bytes a tuple). One epoch of the LPM trains in each; peak RSS comes from the kernel's
high-water mark (``ru_maxrss``), minus the RSS before the tuples existed. The figures extrapolate
to a LINCS-size pull (about 700 M tuples) in the output.

    python benchmarks/bench_memory.py [--tuples 20000000] [--batch 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def child(mode: str, n: int, batch: int) -> dict:
    import numpy as np
    import torch

    from lpm_kg.model import LPM, LPMConfig, Vocabulary

    n_p, n_r, n_c = 20_000, 978, 50  # LINCS-like vocabulary: compounds x landmark genes x cell lines
    vocab = Vocabulary([f"CMP{i}" for i in range(n_p)], [f"R{i}" for i in range(n_r)], [f"C{i}" for i in range(n_c)])
    cfg = LPMConfig(embedding_dim=128, hidden=[256, 256], batch_size=batch, max_epochs=1, patience=None, seeds=[13],
                    device="cpu")
    torch.zeros(1)
    base = rss_mb()
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, n_p, n, dtype=np.int32), rng.integers(0, n_r, n, dtype=np.int32),
              rng.integers(0, n_c, n, dtype=np.int32), rng.standard_normal(n, dtype=np.float32))
    pulled = rss_mb() - base
    val = rng.random(n) < 0.1
    t = time.perf_counter()
    model = LPM(cfg, vocab)
    if mode == "views":
        rows = tuple(np.flatnonzero(m).astype(np.int32) for m in (~val, val))  # as train_from_graph makes them
        del val
        model.fit(arrays, rows=rows, show_progress=False)
    else:
        train, valid = tuple(a[~val] for a in arrays), tuple(a[val] for a in arrays)  # as it did before
        del val
        model.fit(train, valid, show_progress=False)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    return {"mode": mode, "tuples": n, "pulled_mb": pulled, "peak_mb": peak, "peak_bytes_per_tuple": peak * 2 ** 20 / n,
            "train_seconds": seconds, "tuples_per_s": n * 0.9 / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tuples", type=int, default=20_000_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--child", default=None)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.tuples, args.batch)))
        return
    results = []
    for mode in ("copies", "views"):
        run = subprocess.run([sys.executable, __file__, "--child", mode, "--tuples", str(args.tuples), "--batch",
                              str(args.batch)], capture_output=True, text=True, check=True)
        results.append(json.loads(run.stdout.strip().splitlines()[-1]))
        print(results[-1], flush=True)
    lincs = 700e6
    out = {"results": results, "loadavg": os.getloadavg(),
           "view_vs_copy_peak": results[0]["peak_mb"] / results[1]["peak_mb"],
           "extrapolated_lincs_gb": {r["mode"]: r["peak_bytes_per_tuple"] * lincs / 2 ** 30 for r in results}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_memory.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: out[k] for k in ("view_vs_copy_peak", "extrapolated_lincs_gb")}, indent=2))


if __name__ == "__main__":
    main()
