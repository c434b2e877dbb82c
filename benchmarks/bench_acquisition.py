"""Retrospective acquisition benchmark: does choosing experiments by the model's uncertainty learn
faster than choosing them at random, on real sets?

For each set and seed, 20 % of the (perturbation, context) experiments are a fixed test set that no
strategy can acquire, 20 % are revealed at the start, the rest is the pool. Each round trains the
LPM seed ensemble on what is revealed (warm-started from the previous round), scores the test set
and the still-hidden pool (centered Pearson per experiment, RMSE), lets the strategy pick a batch
from the pool and reveals it. Every strategy of one seed starts from the same split: the
comparison with random is paired (lpm_kg.design.acquisition.compare_to_random).

Every readout and every experiment of a set is used (no subsampling). Sets come from
../shared/data through the same builders as bench_accuracy.py.

    python benchmarks/bench_acquisition.py --sets sciplex,neurips,replogle --seeds 0,1
    python benchmarks/bench_acquisition.py --warm-check sciplex   # warm start against retraining
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench_accuracy import DESCRIPTION, PRESET, build, log, parse_settings  # noqa: E402
from lpm_kg.design.acquisition import AcquisitionSetup, compare_to_random, run_acquisition  # noqa: E402
from lpm_kg.design.strategies import STRATEGIES  # noqa: E402
from lpm_kg.graph.pull import average_replicate_tuples  # noqa: E402
from lpm_kg.model.config import preset  # noqa: E402

COLOURS = {"random": "black", "uncertainty": "tab:orange", "related": "tab:green", "diverse": "tab:blue",
           "coverage": "tab:red"}
METRICS = {"test_pearson_centered": "test centered r", "test_pearson_fixed": "test centered r, fixed reference",
           "test_rmse": "test RMSE", "pool_pearson_centered": "pool centered r"}
# The two test scores strategies are compared on: centered on this round's training means (the
# paper's metric), and on one reference per seed that stays put (lpm_kg.design.acquisition).
TEST_SCORES = {"test_pearson_centered": ("compare", "centered on each round's training means"),
               "test_pearson_fixed": ("compare_fixed", "centered on one reference per seed (every experiment "
                                                       "outside the test set), which does not move between rounds")}


def learner_config(name: str, seeds: list[int], batch_size: int | None, preset_name: str | None,
                   settings: dict | None = None):
    updates = {**(settings or {}), "seeds": seeds}
    if batch_size:
        updates["batch_size"] = batch_size
    return preset(preset_name or PRESET[name], **updates)


def comparisons(frame: pd.DataFrame) -> dict[str, list[dict]]:
    """compare_to_random under each test score every row of ``frame`` has (runs before the fixed
    reference have only the first)."""
    return {key: compare_to_random(frame, score).to_dict(orient="records")
            for score, (key, _) in TEST_SCORES.items() if score in frame and frame[score].notna().all()}


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    metric_cols = [m for m in METRICS if m in frame]
    return frame.groupby(["set", "strategy", "round"])[["n_acquired", *metric_cols]].agg(["mean", "std"])


def markdown(result: dict) -> str:
    lines = ["# Retrospective acquisition benchmark", "",
             f"Run {result['meta']['date']} on {result['meta']['machine']}; learner: the LPM seed ensemble "
             f"(preset {result['meta'].get('preset') or 'per set'}, seeds {result['meta']['lpm_seeds']}, "
             f"batch {result['meta']['batch_size']}"
             + "".join(f", {k} {v}" for k, v in result["meta"].get("lpm_settings", {}).items())
             + f"), setup `{json.dumps(result['setup'])}`.", "",
             "Share of random = experiments a strategy acquires to reach random's final test accuracy, over "
             "random's (goal <= 0.6; inf: never reached within the rounds). Gain = mean test centered r "
             "minus random's after the same number of experiments, paired over (seed, round); p from a "
             "one-sided Wilcoxon signed-rank test.", ""]
    for name, res in result["sets"].items():
        lines += [f"## {name}: {DESCRIPTION.get(name, name)}", "",
                  f"{res['n_experiments']} experiments, {res['n_tuples']:,} tuples, {res['n_readouts']:,} readouts; "
                  f"batch {res['batch']} experiments a round; seeds {res['seeds']}; wall {res['wall_seconds']:.0f}s"
                  + (" (partial)" if res.get("partial") else ""), "",
                  "| strategy | share of random (per seed) | gain in test centered r | p better | p worse |",
                  "|---|---|---|---|---|"]
        frame = pd.DataFrame(res["rows"])
        # Seeds every strategy has finished (a partial run's means would mix seeds).
        done = frame.groupby("seed")["strategy"].nunique()
        frame = frame[frame["seed"].isin(done[done == frame["strategy"].nunique()].index)]
        for n_score, (key, how) in enumerate(v for v in TEST_SCORES.values() if v[0] in res):
            if n_score:
                lines += ["", f"The same, with the test set {how}:", "",
                          "| strategy | share of random (per seed) | gain | p better | p worse |", "|---|---|---|---|---|"]
            for row in res.get(key, []):
                per_seed = ", ".join(f"{s:.2f}" for s in row["share_per_seed"])
                lines.append(f"| {row['strategy']} | {row['share_of_random']:.2f} ({per_seed}) | "
                             f"{row['mean_gain']:+.4f} | {row['p_better']:.3g} | {row['p_worse']:.3g} |")
        for score, (_, how) in TEST_SCORES.items():
            if score not in frame or frame[score].isna().any():
                continue
            lines += ["", f"Test centered r, {how} (mean over seeds {sorted(frame['seed'].unique().tolist())}), "
                      "by experiments acquired:", ""]
            piv = frame.pivot_table(index="n_acquired", columns="strategy", values=score)
            lines += ["| acquired | " + " | ".join(piv.columns) + " |", "|---" * (len(piv.columns) + 1) + "|"]
            for n, vals in piv.iterrows():
                lines.append(f"| {n:.0f} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
        piv = frame.pivot_table(index="n_acquired", columns="strategy", values="pool_pearson_centered")
        lines += ["", "Still-hidden pool centered r (biased: each strategy leaves a different pool):", "",
                  "| acquired | " + " | ".join(piv.columns) + " |", "|---" * (len(piv.columns) + 1) + "|"]
        for n, vals in piv.iterrows():
            lines.append(f"| {n:.0f} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
        secs = frame.groupby("round")[["train_seconds", "score_seconds"]].mean()
        lines += ["", "Seconds per round (mean over strategies and seeds): " + ", ".join(
            f"r{int(k)} train {v.train_seconds:.0f} + score {v.score_seconds:.0f}" for k, v in secs.iterrows()), ""]
    if result.get("warm_check"):
        w = result["warm_check"]
        lines += ["## Warm start against retraining from scratch", "",
                  f"{w['set']}, random strategy, seed {w['seed']}: final test centered r warm {w['warm_final']:.4f} "
                  f"vs cold {w['cold_final']:.4f}; training seconds over all rounds warm {w['warm_seconds']:.0f} vs "
                  f"cold {w['cold_seconds']:.0f} (ratio {w['cold_seconds'] / max(w['warm_seconds'], 1e-9):.1f}x).", ""]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    from lpm_kg.plots import figure, save_figure

    sets = list(result["sets"])
    frames = {name: pd.DataFrame(result["sets"][name]["rows"]) for name in sets}
    scores = [k for k in TEST_SCORES if any(k in f for f in frames.values())]
    fig = figure(5 * max(1, len(sets)), 4 * len(scores))
    for j, score in enumerate(scores):
        for i, name in enumerate(sets):
            ax = fig.add_subplot(len(scores), len(sets), j * len(sets) + i + 1)
            if score not in frames[name]:
                ax.set_axis_off()
                continue
            for strategy, grp in frames[name].groupby("strategy"):
                g = grp.groupby("n_acquired")[score]
                m, lo, hi = g.mean(), g.min(), g.max()
                ax.plot(m.index, m.values, marker="o", ms=3, label=strategy, lw=2 if strategy == "random" else 1.2,
                        color=COLOURS.get(strategy))
                ax.fill_between(m.index, lo.values, hi.values, alpha=0.12, color=COLOURS.get(strategy))
            ax.set_title(name if score == "test_pearson_centered" else f"{name}, fixed reference")
            ax.set_xlabel("experiments acquired")
            ax.set_ylabel("test centered Pearson (band: seeds' range)")
            ax.legend(fontsize=8)
    fig.tight_layout()  # two rows: keep a row's axis label clear of the next row's title
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="sciplex,neurips,replogle")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--seeds", default="0,1", help="split seeds (each a different hidden 80 %%)")
    ap.add_argument("--lpm-seeds", default="13,14,15", help="the LPM ensemble's seeds")
    ap.add_argument("--preset", default="small", help="the learner's LPM preset (empty: bench_accuracy's per set); "
                    "small keeps a round of the largest set within minutes on 2 CPUs")
    ap.add_argument("--batch-size", type=int, default=5000, help="LPM tuples per batch (0: the preset's)")
    for field, info in AcquisitionSetup.model_fields.items():
        kind = {int: int, float: float, bool: lambda s: s.lower() in ("1", "true", "yes")}.get(info.annotation, int)
        ap.add_argument(f"--{field.replace('_', '-')}", type=kind, default=info.default, help=info.description)
    ap.add_argument("--lpm", action="append", default=[], metavar="KEY=VALUE",
                    help="a learner setting over the preset's (JSON value), e.g. shared_rank=32; repeatable")
    ap.add_argument("--warm-check", default=None, help="a set: compare warm starts with retraining (random strategy)")
    ap.add_argument("--out", default="bench_acquisition")
    ap.add_argument("--merge", default=None, help="comma-separated stems of runs to join into --out (no run)")
    args = ap.parse_args()
    setup = AcquisitionSetup(**{f: getattr(args, f) for f in AcquisitionSetup.model_fields})
    lpm_seeds = [int(s) for s in args.lpm_seeds.split(",")]
    args.lpm = parse_settings(args.lpm)
    out = RESULTS / args.out
    result = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    result.setdefault("sets", {})
    result.update({"setup": setup.model_dump(), "meta": {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.node()} ({os.cpu_count()} CPUs)",
        "torch_threads": os.environ.get("LPM_KG_TORCH_THREADS"), "lpm_seeds": lpm_seeds,
        "batch_size": args.batch_size, "preset": args.preset, "lpm_settings": args.lpm}})

    if args.merge:  # sets (or strategies and seeds of one set) run in parallel processes, one file each
        learners = []
        for stem in args.merge.split(","):
            part = json.loads((RESULTS / stem).with_suffix(".json").read_text())
            learners.append((part["setup"], part["meta"].get("lpm_settings", {}), part["meta"].get("preset")))
            if learners[-1] != learners[0]:
                raise SystemExit(f"--merge: {stem} ran another learner or setup than the stems before it; "
                                 "merge only runs of one learner")
            for name, entry in part.get("sets", {}).items():
                have = result["sets"].get(name)
                if have is None:
                    result["sets"][name] = entry
                    continue
                rows = pd.DataFrame(have["rows"] + entry["rows"]).drop_duplicates(["strategy", "seed", "round"])
                added = len(rows) > len(have["rows"])  # a part merged twice (or into itself) adds no time
                have.pop("compare_fixed", None)
                have.update({"rows": rows.to_dict(orient="records"), **comparisons(rows),
                             "seeds": sorted(set(have["seeds"]) | set(entry["seeds"])),
                             "wall_seconds": have["wall_seconds"] + (entry["wall_seconds"] if added else 0),
                             "partial": bool(have.get("partial") or entry.get("partial"))})
            result["setup"], result["meta"] = part["setup"], part["meta"]
            if part.get("warm_check"):
                result["warm_check"] = part["warm_check"]

    def save():
        out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float))
        out.with_suffix(".md").write_text(markdown(result))
        plot(result, out.with_suffix(".png"))

    if args.merge:
        save()
        log(f"wrote {out.with_suffix('.md')}")
        return
    if args.warm_check:
        name = args.warm_check
        tuples = average_replicate_tuples(build(name, 0)[0])
        cfg = learner_config(name, lpm_seeds, args.batch_size, args.preset, args.lpm)
        runs = {}
        for warm in (True, False):
            s = setup.model_copy(update={"warm_start": warm})
            runs[warm] = run_acquisition(tuples, ["random"], [0], s, cfg, log=log)
        result["warm_check"] = {"set": name, "seed": 0,
                                "warm_final": float(runs[True]["test_pearson_centered"].iloc[-1]),
                                "cold_final": float(runs[False]["test_pearson_centered"].iloc[-1]),
                                "warm_seconds": float(runs[True]["train_seconds"].sum()),
                                "cold_seconds": float(runs[False]["train_seconds"].sum())}
        save()
        log(f"wrote {out.with_suffix('.md')}")
        return

    seeds = [int(s) for s in args.seeds.split(",")]
    strategies = args.strategies.split(",")
    for name in args.sets.split(","):
        started = time.perf_counter()
        tuples, notes = build(name, 0)
        tuples = average_replicate_tuples(tuples)
        n_exp = len(np.unique(tuples.perturbation.astype(np.int64) * len(tuples.contexts) + tuples.context))
        log(f"== {name}: {len(tuples):,} tuples, {n_exp} experiments, {len(tuples.readouts):,} readouts")
        cfg = learner_config(name, lpm_seeds, args.batch_size, args.preset, args.lpm)
        entry = {"n_experiments": n_exp, "n_tuples": len(tuples), "n_readouts": len(tuples.readouts),
                 "batch": max(1, round(setup.batch_fraction * n_exp)), "seeds": seeds, "notes": notes,
                 "lpm_config": cfg.model_dump()}

        def publish(frame, entry=entry, started=started, name=name):
            entry.update({"rows": frame.assign(set=name).to_dict(orient="records"),
                          **comparisons(frame),
                          "wall_seconds": time.perf_counter() - started, "partial": True})
            result["sets"][name] = entry
            save()

        frame = run_acquisition(tuples, strategies, seeds, setup, cfg, log=log, publish=publish)
        publish(frame)
        entry["partial"] = False
        save()
        log(f"   {name} done in {entry['wall_seconds']:.0f}s")
    log(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
