"""End-to-end time of a sync on the largest real set here (NeurIPS-2023 PBMC, 3.4M tuples), split
into its parts: load, pull, train, write-back; and memory per million tuples.

Runs against a throwaway Neo4j in a temporary folder on free ports, with the sync's own steps
(lpm_kg.loading.load, lpm_kg.graph.pull, lpm_kg.model.LPM, lpm_kg.graph.runs, embeddings and predictions), each timed.

    python benchmarks/bench_sync.py [--epochs 3] [--preset l1000] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LPM_KG_SHARED_DATA", REPO.parent / "shared" / "data"))


def reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (Linux), so each step's peak is its own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--preset", default="l1000")
    ap.add_argument("--seeds", default="13")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()

    import lpm_kg
    from lpm_kg.graph import Graph
    from lpm_kg.graph.embeddings import write_embeddings
    from lpm_kg.graph.predictions import write_predictions
    from lpm_kg.graph.pull import average_replicate_tuples, pull_tuples
    from lpm_kg.graph.runs import complete_model_run, create_model_run
    from lpm_kg.loading import load
    from lpm_kg.model import LPM, Vocabulary
    from lpm_kg.model.config import preset
    from lpm_kg.server import ManagedNeo4j, ensure_jars, free_port
    from lpm_kg.settings import Settings
    from lpm_kg.sync import unperformed_experiments
    from lpm_kg.training import data_fingerprint, validation_mask

    parts: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as home:
        server = ManagedNeo4j(Path(home), ensure_jars(Settings().cache_dir), bolt_port=free_port(),
                              http_port=free_port(), heap="2g", pagecache="1g")
        server.start()
        try:
            graph = Graph(server.uri, server.auth)
            t = time.perf_counter()
            load(graph, SHARED / "gene-ids/hgnc_complete_set.txt.gz", "hgnc", "hgnc", show_progress=False)
            parts["gene map (once per graph)"] = time.perf_counter() - t
            t = time.perf_counter()
            report = load(graph, SHARED / "sigrecon-signatures/neurips2023_ranked_signatures_long.parquet",
                          "ranked-signatures", "neurips", unmapped="skip", show_progress=True)
            parts["load"] = time.perf_counter() - t
            print(f"load: {report.counts['n_measurements']:,} measurements in {parts['load']:.1f}s")

            rss0 = rss_mib()
            reset_peak()
            t = time.perf_counter()
            tuples = average_replicate_tuples(pull_tuples(graph, ["neurips"]))
            parts["pull"] = time.perf_counter() - t
            rss_pull = peak_mib()
            n = len(tuples)
            print(f"pull: {n:,} tuples in {parts['pull']:.1f}s")

            cfg = preset(args.preset, max_epochs=args.epochs, patience=None,
                         seeds=[int(s) for s in args.seeds.split(",")])
            vocab = Vocabulary(tuples.perturbations, tuples.readouts, tuples.contexts)
            val = validation_mask(tuples, 0.1, 0)
            arrays = (tuples.perturbation, tuples.readout, tuples.context, tuples.value)
            reset_peak()
            t = time.perf_counter()
            model = LPM(cfg, vocab).fit(tuple(a[~val] for a in arrays), tuple(a[val] for a in arrays))
            parts["train"] = time.perf_counter() - t
            rss_train = peak_mib()
            tps = np.mean([h["tuples_per_s"] for s in model.states.values() for h in s.history])
            print(f"train: {parts['train']:.1f}s ({tps:,.0f} tuples/s)")

            t = time.perf_counter()
            fingerprint, names = data_fingerprint(graph, ["neurips"])
            run_id = "bench-" + fingerprint[:8]
            create_model_run(graph, run_id=run_id, config=cfg.model_dump(), data_fingerprint=fingerprint,
                             datasets=names, versions={"lpm_kg": lpm_kg.__version__})
            write_embeddings(graph, run_id, model)
            todo = unperformed_experiments(tuples, 200)
            n_pred = 0
            if len(todo):
                import pandas as pd

                mean, std = model.predict_ids(todo.p.to_numpy(), todo.r.to_numpy(), todo.c.to_numpy())
                frame = pd.DataFrame({"perturbation": np.asarray(vocab.perturbations, dtype=object)[todo.p],
                                      "context": np.asarray(vocab.contexts, dtype=object)[todo.c],
                                      "readout": np.asarray(vocab.readouts, dtype=object)[todo.r],
                                      "value": mean, "std": std})
                write_predictions(graph, run_id, frame)
                n_pred = len(frame)
            complete_model_run(graph, run_id)
            parts["write-back"] = time.perf_counter() - t
            print(f"write-back: {parts['write-back']:.1f}s ({n_pred:,} predicted values)")
            graph.close()
        finally:
            server.stop()

    out = {
        "dataset": "NeurIPS-2023 PBMC (sigrecon, signed rank scores)", "n_tuples": n, "epochs": args.epochs,
        "preset": args.preset, "seeds": args.seeds, "seconds": parts,
        "sync_seconds_excluding_gene_map": sum(v for k, v in parts.items() if not k.startswith("gene map")),
        "train_tuples_per_s": float(tps),
        "memory": {"rss_mib_before_pull": rss0, "peak_rss_mib_during_pull": rss_pull,
                   "peak_rss_mib_during_train": rss_train,
                   "pull_peak_mib_per_million_tuples": (rss_pull - rss0) / (n / 1e6),
                   "train_peak_mib_per_million_tuples": (rss_train - rss0) / (n / 1e6),
                   "tupleset_bytes_per_tuple": tuples.nbytes / n},
        "loadavg": os.getloadavg(), "cpu_count": os.cpu_count(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_sync.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
