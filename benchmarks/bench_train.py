"""Training speed of the LPM: the fast loop (``loop="fast"``, lpm_kg.model.fast) against the
paper's reference loop (``loop="reference"``), in the same run, on real shared sets at full size,
with each speed-up measured alone so that what does not win can be dropped.

Variants (all train the same module from the same initial weights, on the same tuples):

- ``reference``: concatenation per tuple, per-parameter AdamW, ``nn.Dropout`` (the paper's loop);
- ``+fused-adamw``: the reference module with the fused AdamW kernel;
- ``+factorized``: and the first layer computed once per distinct symbol of a batch;
- ``fast``: and CPU dropout masks from 16-bit draws (what ``loop="fast"`` is);
- ``fast+bf16``: ``fast`` under ``torch.autocast(bfloat16)``;
- ``fast+compile``: ``fast`` through ``torch.compile`` (compile time reported apart);
- ``fast-1thread``: ``fast`` with one intra-op thread instead of all.

Epochs are interleaved across variants (epoch 1 of each, then epoch 2 of each, ...), so that a
burst of load on this shared machine hits every variant alike. The ratio of each variant to the
reference is the median of the per-epoch ratios. Each variant also reports the validation MSE
after the last epoch (15 % of perturbations held out, seeded): the speed-ups must not cost
accuracy. No database: each shared file is parsed by its loader, as in bench_accuracy.py.

    python benchmarks/bench_train.py [--sets l1000,replogle,neurips] [--epochs 3] [--variants ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

PRESET = {"l1000": "l1000", "sciplex": "l1000", "neurips": "l1000", "replogle": "replogle-k562"}
VARIANTS = ["reference", "+fused-adamw", "+factorized", "fast", "fast+bf16", "fast+compile", "fast-1thread"]


def tuples(name: str):
    from bench_accuracy import build

    ts, note = build(name, 0)  # 0: every readout (full size)
    return ts, note


class Autocast(torch.nn.Module):
    """A module run under bfloat16 autocast (the loss stays float32)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, p, r, c):
        with torch.autocast(device_type=p.device.type, dtype=torch.bfloat16):
            return self.inner(p, r, c).float()


@contextlib.contextmanager
def variant_settings(variant: str, threads: int):
    """Thread count and dropout kernel for one variant's epochs."""
    import lpm_kg.model.fast as fast

    cheap = fast.cheap_dropout
    if variant in ("reference", "+fused-adamw", "+factorized"):
        fast.cheap_dropout = lambda x, p: torch.nn.functional.dropout(x, p, True)
    torch.set_num_threads(1 if variant == "fast-1thread" else threads)
    try:
        yield
    finally:
        fast.cheap_dropout = cheap
        torch.set_num_threads(threads)


def make(variant: str, cfg, n_c: int, n_p: int, n_r: int, device):
    from lpm_kg.model.module import LPMModule

    torch.manual_seed(13)
    module = LPMModule(n_c, n_p, n_r, torch.arange(n_p).view(-1, 1), embedding_dim=cfg.embedding_dim,
                       hidden=cfg.hidden, dropout=cfg.dropout, embedding_init_std=cfg.embedding_init_std,
                       factorized=variant not in ("reference", "+fused-adamw")).to(device)
    vcfg = cfg.model_copy(update={"loop": "reference" if variant == "reference" else "fast"})
    if variant == "fast+bf16":
        module = Autocast(module)
    if variant == "fast+compile":
        module = torch.compile(module, dynamic=True)
    return module, vcfg


def run_set(name: str, args, device) -> dict:
    from lpm_kg.model.config import preset
    from lpm_kg.model.train import SeedState, Tensors, evaluate_loss, train_seed

    t0 = time.perf_counter()
    ts, note = tuples(name)
    p, r, c, y = ts.perturbation, ts.readout, ts.context, ts.value
    n_p, n_r, n_c = len(ts.perturbations), len(ts.readouts), len(ts.contexts)
    rng = np.random.default_rng(0)
    held = rng.choice(n_p, max(1, int(0.15 * n_p)), replace=False)
    is_val = np.isin(p, held)
    train = Tensors.from_numpy(p[~is_val], r[~is_val], c[~is_val], y[~is_val], device)
    val = Tensors.from_numpy(p[is_val], r[is_val], c[is_val], y[is_val], device)
    print(f"[{name}] {len(ts):,} tuples ({n_p} perturbations x {n_r} readouts x {n_c} contexts), "
          f"{len(train):,} train / {len(val):,} val, parsed in {time.perf_counter() - t0:.0f}s", flush=True)
    cfg = preset(PRESET[name], patience=None, seeds=[13])
    threads = torch.get_num_threads()
    runs = {}
    for v in args.variants:
        module, vcfg = make(v, cfg, n_c, n_p, n_r, device)
        runs[v] = {"module": module, "cfg": vcfg, "state": SeedState(13), "epochs": [], "compile_s": None}
    if "fast+compile" in runs:  # compile outside the timed epochs: one step's forward and backward
        run = runs["fast+compile"]
        t = time.perf_counter()
        try:
            out = run["module"](train.p[:cfg.batch_size], train.r[:cfg.batch_size], train.c[:cfg.batch_size])
            out.sum().backward()
            run["module"].zero_grad(set_to_none=True)
            run["compile_s"] = time.perf_counter() - t
        except Exception as e:  # noqa: BLE001 - a compiler failure is a result, not a crash
            print(f"  fast+compile: failed ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
            run["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
    for epoch in range(1, args.epochs + 1):
        for v, run in runs.items():
            if "error" in run:
                continue
            run["state"].done = False  # train_seed marks a state done at its max_epochs; go one further
            with variant_settings(v, threads):
                train_seed(run["module"], train, None, run["cfg"].model_copy(update={"max_epochs": epoch}),
                           run["state"])
            rec = run["state"].history[-1]
            run["epochs"].append(rec["tuples_per_s"])
            print(f"  epoch {epoch} {v:>14}: {rec['tuples_per_s']:>10,.0f} tuples/s  train mse {rec['train_mse']:.5f}",
                  flush=True)
    ref = runs.get("reference")
    out = {"set": name, "preset": PRESET[name], "config": cfg.model_dump(), "n_tuples": len(ts),
           "n_train": len(train), "n_val": len(val), "n_perturbations": n_p, "n_readouts": n_r, "n_contexts": n_c,
           "note": note, "variants": {}}
    for v, run in runs.items():
        row = {"compile_s": run["compile_s"]}
        if "error" in run:
            row["error"] = run["error"]
        else:
            with variant_settings(v, threads):
                row["val_mse"] = evaluate_loss(run["module"], val)
            row["train_mse"] = run["state"].history[-1]["train_mse"]
            row["tuples_per_s_per_epoch"] = run["epochs"]
            row["tuples_per_s"] = float(np.median(run["epochs"]))
            if ref is not None and "error" not in ref:
                row["speedup_vs_reference"] = float(np.median(np.array(run["epochs"]) / np.array(ref["epochs"])))
        out["variants"][v] = row
    return out


def markdown(results: list[dict], meta: dict) -> str:
    lines = ["# LPM training speed: fast loop vs the paper's reference loop (same run)", "",
             f"{meta['device']}, torch {meta['torch']}, {meta['cpu_count']} CPUs ({meta['cpu']}), "
             f"{meta['threads']} threads, {meta['epochs']} epochs per variant, interleaved; load average "
             f"{meta['loadavg_start'][0]:.1f} at the start, {meta['loadavg_end'][0]:.1f} at the end.", "",
             "Speed-up = median over epochs of (variant tuples/s) / (reference tuples/s) in the same epoch round. "
             "Validation MSE after the last epoch, 15 % of perturbations held out.", ""]
    for res in results:
        lines += [f"## {res['set']} (preset `{res['preset']}`): {res['n_tuples']:,} tuples, "
                  f"{res['n_perturbations']} perturbations x {res['n_readouts']} readouts x {res['n_contexts']} contexts",
                  "", "| variant | tuples/s | speed-up | train MSE | val MSE | compile s |", "|---|---:|---:|---:|---:|---:|"]
        for v, row in res["variants"].items():
            if "error" in row:
                lines.append(f"| {v} | failed: {row['error']} | | | | |")
                continue
            comp = f"{row['compile_s']:.0f}" if row["compile_s"] else ""
            lines.append(f"| {v} | {row['tuples_per_s']:,.0f} | {row.get('speedup_vs_reference', float('nan')):.2f}x | "
                         f"{row['train_mse']:.5f} | {row['val_mse']:.5f} | {comp} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="l1000,replogle")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--tag", default="cpu")
    args = ap.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; known: {VARIANTS}")

    from lpm_kg.model.train import resolve_device
    from lpm_kg.settings import Settings

    if Settings().torch_threads:
        torch.set_num_threads(Settings().torch_threads)
    device = resolve_device("auto")
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    meta = {"device": str(device), "torch": torch.__version__, "cpu_count": os.cpu_count(), "cpu": cpu,
            "threads": torch.get_num_threads(), "epochs": args.epochs, "platform": platform.platform(),
            "loadavg_start": os.getloadavg()}
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)
    results = [run_set(s, args, device) for s in args.sets.split(",")]
    meta["loadavg_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"bench_train_{args.tag}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    md = markdown(results, meta)
    (args.out / f"bench_train_{args.tag}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
