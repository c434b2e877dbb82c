"""LPM training speed on a GPU, as one short script for a machine that has one: tuples/s of the
paper's reference loop and the fast loop (and the fast loop through ``torch.compile``) on CUDA,
for the Replogle K562 (`replogle-k562` preset) and L1000 (`l1000` preset) shared sets at full
size, with the fast loop's CPU figure measured in the same run for the ratio.

It reuses benchmarks/bench_train.py (same data, same variants, interleaved epochs). Without a CUDA
device it stops with exit status 2 and says so.

    python benchmarks/bench_gpu.py [--epochs 2] [--sets replogle,l1000] [--cpu-epochs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="replogle,l1000")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--cpu-epochs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: bench_gpu.py needs a GPU (benchmarks/bench_train.py measures the CPU)")
        raise SystemExit(2)
    from bench_train import run_set

    started = time.perf_counter()
    meta = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cpu_count": os.cpu_count(), "cpu_threads": torch.get_num_threads()}
    print(json.dumps(meta), flush=True)
    results = []
    for name in args.sets.split(","):
        gpu = run_set(name, argparse.Namespace(epochs=args.epochs, variants=["reference", "fast", "fast+compile"]),
                      torch.device("cuda"))
        cpu = run_set(name, argparse.Namespace(epochs=args.cpu_epochs, variants=["fast"]), torch.device("cpu"))
        row = {"set": name, "gpu": gpu, "cpu": cpu}
        cpu_tps = cpu["variants"]["fast"]["tuples_per_s"]
        row["gpu_vs_cpu_fast"] = {v: r.get("tuples_per_s", float("nan")) / cpu_tps for v, r in gpu["variants"].items()}
        results.append(row)
        print(f"[{name}] GPU/CPU (fast loop on CPU = {cpu_tps:,.0f} tuples/s): "
              + ", ".join(f"{v} {x:.1f}x" for v, x in row["gpu_vs_cpu_fast"].items()), flush=True)
    meta["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_gpu.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
