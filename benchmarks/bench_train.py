"""Training speed of the LPM: the tensor-resident shuffle-and-slice loop (lpm_kg.model.train)
against a plain PyTorch DataLoader over a TensorDataset training the same model, in the same run,
on the real Replogle K562 CRISPRi signatures (sigrecon top-1000 lists, `top` scores).

Reports tuples/s for both, their ratio, the validation MSE each reaches (the fast path must reach
the same accuracy), and the fraction of the machine's measured float32 matmul peak that the
training reaches (about 1.9 MFLOP per tuple for the Replogle preset). No database is needed: the
file is parsed by the same loader the graph load uses.

    python benchmarks/bench_train.py [--epochs 3] [--preset replogle-k562] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LPM_KG_SHARED_DATA", REPO.parent / "shared" / "data"))


def replogle_k562():
    from loaders.hgnc import read_hgnc
    from loaders.signatures import read_ranked
    from lpm_kg.genes import GeneResolver
    from lpm_kg.loading import LoadContext

    for f in ("gene-ids/hgnc_complete_set.txt.gz", "sigrecon-signatures/perturbseq_ranked_signatures_long.parquet"):
        if not (SHARED / f).exists():
            raise SystemExit(f"missing {SHARED / f}: set LPM_KG_SHARED_DATA to the shared data folder")
    resolver = GeneResolver(read_hgnc(SHARED / "gene-ids/hgnc_complete_set.txt.gz", None).genes)
    path = SHARED / "sigrecon-signatures/perturbseq_ranked_signatures_long.parquet"
    ctx = LoadContext("bench", str(path), {"perturbation_type": "CRISPRi", "scoring": "top"}, None, "auto", resolver)
    table = read_ranked(path, ctx)
    k562 = (table.experiments["cell_line"].str.upper() == "K562").to_numpy()
    values = table.values[k562]
    e, g = np.nonzero(np.isfinite(values))
    p_codes, perts = np.unique([table.experiments["perturbation"].iat[i].symbol for i in np.flatnonzero(k562)],
                               return_inverse=True)
    return perts[e], g, np.zeros(len(e), np.int64), values[e, g], len(p_codes), len(table.genes)


def mflop_per_tuple(cfg) -> float:
    widths = [3 * cfg.embedding_dim, *cfg.hidden, 1]
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return 3 * 2 * macs / 1e6  # forward + backward (about twice the forward)


def peak_gflops(device) -> float:
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(5):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(5):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 5 * 2 * 2048 ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def dataloader_loop(module, train, val, cfg, epochs, seed):
    """The baseline: torch.utils.data.DataLoader over a TensorDataset, same model and optimiser."""
    from torch.utils.data import DataLoader, TensorDataset

    from lpm_kg.model.train import evaluate_loss

    torch.manual_seed(seed)
    loader = DataLoader(TensorDataset(train.p, train.r, train.c, train.y), batch_size=cfg.batch_size, shuffle=True)
    opt = torch.optim.AdamW(module.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay)
    t = time.perf_counter()
    for _ in range(epochs):
        module.train()
        for p, r, c, y in loader:
            loss = torch.mean((module(p, r, c) - y) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    seconds = time.perf_counter() - t
    return len(train) * epochs / seconds, evaluate_loss(module, val), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--preset", default="replogle-k562")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()

    from lpm_kg.model.config import preset
    from lpm_kg.model.module import LPMModule
    from lpm_kg.model.train import SeedState, Tensors, resolve_device, train_seed

    device = resolve_device("auto")
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    t = time.perf_counter()
    p, r, c, y, n_p, n_r = replogle_k562()
    print(f"parsed {len(y):,} Replogle K562 tuples ({n_p} perturbations x {n_r} readouts) in "
          f"{time.perf_counter() - t:.1f}s")
    rng = np.random.default_rng(0)
    val_perts = rng.choice(n_p, n_p // 10, replace=False)
    is_val = np.isin(p, val_perts)
    train = Tensors.from_numpy(p[~is_val], r[~is_val], c[~is_val], y[~is_val], device)
    val = Tensors.from_numpy(p[is_val], r[is_val], c[is_val], y[is_val], device)
    cfg = preset(args.preset, max_epochs=args.epochs, patience=None, seeds=[13])

    def fresh():
        torch.manual_seed(13)
        return LPMModule(1, n_p, n_r, torch.arange(n_p).view(-1, 1), embedding_dim=cfg.embedding_dim,
                         hidden=cfg.hidden, dropout=cfg.dropout, embedding_init_std=cfg.embedding_init_std).to(device)

    results = {}
    for name in ("dataloader", "fast"):
        module = fresh()
        if name == "fast":
            start = time.perf_counter()
            state = train_seed(module, train, val, cfg, SeedState(13),
                               progress=lambda rec: print(f"  fast epoch {rec['epoch']}: {rec['tuples_per_s']:,.0f} "
                                                          f"tuples/s, val mse {rec['val_mse']:.5f}"))
            seconds = time.perf_counter() - start
            tps = np.mean([h["tuples_per_s"] for h in state.history])
            val_mse = state.history[-1]["val_mse"]
        else:
            tps, val_mse, seconds = dataloader_loop(module, train, val, cfg, args.epochs, 13)
            print(f"  dataloader: {tps:,.0f} tuples/s, val mse {val_mse:.5f}")
        results[name] = {"tuples_per_s": float(tps), "val_mse": float(val_mse), "seconds": seconds}

    peak = peak_gflops(device)
    flop = mflop_per_tuple(cfg)
    out = {
        "dataset": "Replogle 2022 K562 CRISPRi (sigrecon top-1000 up, top scores)", "n_train": len(train),
        "n_val": len(val), "preset": args.preset, "config": cfg.model_dump(), "epochs": args.epochs,
        "device": str(device), "torch": torch.__version__, "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "results": results, "speedup_fast_vs_dataloader": results["fast"]["tuples_per_s"] / results["dataloader"]["tuples_per_s"],
        "mflop_per_tuple": flop, "peak_gflops_matmul": peak,
        "fraction_of_peak": {k: v["tuples_per_s"] * flop / 1e3 / peak for k, v in results.items()},
        "loadavg": os.getloadavg(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"bench_train_{device.type}.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: out[k] for k in ("results", "speedup_fast_vs_dataloader", "mflop_per_tuple",
                                          "peak_gflops_matmul", "fraction_of_peak")}, indent=2))


if __name__ == "__main__":
    main()
