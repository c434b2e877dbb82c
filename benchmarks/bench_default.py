"""lpm-kg's default model against the field's bar, on every real set in ../shared/data: both the
paper's split (unseen (perturbation, context) experiments) and the perturbation split (never
measured perturbations), at full size (every readout), with the field's metrics and paired tests.

Models: ``lpm-stack`` (the default: lpm_kg.eval.stack), the bar ``linear``, ``linear-priors`` and
``additive-transfer``, the per-(context, readout) mean (the centered metric's zero) and median (a typical perturbation), and the
stack's neural experts scored alone (``lpm`` and ``graph-lpm``; not refitted: the experts the stack
fitted, their fit times being the stack's time for them).

Metrics (lpm_kg.eval, the targeted gene of a genetic perturbation left out of all): the centered
per-experiment Pearson first, perturbation discrimination, top-20 readout overlap and direction,
RMSE. Paired one-sided Wilcoxon signed-rank tests over test experiments (pooled over split seeds
and target contexts) of the default against each bar model; p >= 0.05 both ways is a tie.

``--pool A,B`` adds "train on all, test one set": the sets A, B, ... are concatenated (contexts
stay apart, a symbol shared by two sets is one perturbation) and, for each set of ``--sets``,
the held-out perturbations are drawn among that set's and scored in its contexts only.

    python benchmarks/bench_default.py [--sets sciplex,replogle] [--splits context,perturbation] [--seeds 0,1,2]

Writes benchmarks/results/<out>.{json,md,png} after every (set, split), so a run cut off by the
clock keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench_accuracy import DESCRIPTION, PRESET, build, log  # noqa: E402
from bench_priors import lpm_overrides, reference_knowledge  # noqa: E402
from lpm_kg.jsonsafe import frame_records  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
REAL_SETS = ["sciplex", "neurips", "replogle", "l1000", "l1000-kd", "ljp005", "papalexi"]
DEFAULT = "lpm-stack"
BAR = ["linear", "linear-priors", "additive-transfer"]
MIN_PERTURBATIONS = {"l1000": 6}
METRICS = ["pearson_centered_per_experiment", "discrimination", "top_de_overlap", "top_de_direction", "rmse"]


class ExpertView:
    """The neural expert of the last fitted stack, scored as a model of its own (no refit)."""

    def __init__(self, holder: dict, expert: str):
        self.holder, self.expert = holder, expert

    def fit(self, *args, **kwargs):
        self.model_ = self.holder["stack"].models_[self.expert]
        return self

    def predict(self, p, r, c):
        return self.model_.predict(p, r, c)


def neural_experts(knowledge) -> list[str]:
    return ["lpm"] + (["graph-lpm"] if knowledge is not None else [])


def factories(config, knowledge, holder: dict, traces: list, split: str, name: str = "set") -> dict:
    from lpm_kg.eval.models import resolve_models
    from lpm_kg.eval.stack import StackedLPM

    cache = os.environ.get("BENCH_STACK_CACHE")  # a folder: every split's expert predictions, to re-weigh offline
    if cache:
        cache = Path(cache) / name
        cache.mkdir(parents=True, exist_ok=True)

    class TracedStack(StackedLPM):
        def fit(self, p, r, c, y, *sizes, vocab=None, val=None):
            super().fit(p, r, c, y, *sizes, vocab=vocab, val=val)
            holder["stack"] = self
            self.cache_n_ = len(traces)
            if cache and val is not None:
                m = self.base_.predict(*val[:3])
                np.savez_compressed(Path(cache) / f"{split}-{len(traces)}-val.npz", p=val[0], r=val[1], c=val[2],
                                    y=val[3], m=m, X=self._deviations(*val[:3], m), names=list(self.models_))
            traces.append({"weights": self.weights(), "fit_seconds": self.fit_seconds_})
            log(f"    stack weights {json.dumps({k: {n: round(w, 3) for n, w in v.items()} for k, v in self.weights().items()})}"
                f"; fit s {json.dumps({k: round(v, 1) for k, v in self.fit_seconds_.items()})}")
            return self

        def predict(self, p, r, c):
            if cache and not getattr(self, "cached_test_", False):  # the first call: the test tuples
                self.cached_test_ = True
                m = self.base_.predict(p, r, c)
                np.savez_compressed(Path(cache) / f"{split}-{self.cache_n_}-test.npz", p=p, r=r, c=c, m=m,
                                    X=self._deviations(p, r, c, m), trained=self.trained_)
            return super().predict(p, r, c)

    out = {DEFAULT: lambda: TracedStack(config, knowledge=knowledge)}
    for neural in neural_experts(knowledge):
        out[neural] = lambda neural=neural: ExpertView(holder, neural)
    bar = [m for m in BAR if knowledge is not None or m != "linear-priors"]
    out.update(resolve_models(bar + ["context-readout-median", "context-readout-mean"], config, knowledge))
    return out


def paired(experiments: pd.DataFrame) -> list[dict]:
    from lpm_kg.eval.stats import paired_tests

    out = []
    others = [m for m in experiments["model"].unique() if m not in (DEFAULT, "context-readout-mean")]
    for metric in ("pearson_centered", "discrimination"):
        out += paired_tests(experiments, DEFAULT, others, metric=metric).to_dict("records")
    return out


def run_one(name: str, split: str, seeds: list[int], knowledge, overrides: dict, pool: list[str] | None,
            publish) -> dict:
    from lpm_kg.eval.benchmark import run_benchmark, summary
    from lpm_kg.eval.split import eligible_target_contexts
    from lpm_kg.model.config import preset

    started = time.perf_counter()
    tuples, note = build(name, 0)
    test_contexts = None
    label = name
    if pool:
        tuples, test_contexts = pooled(name, pool, tuples)
        label = f"{name} (pooled with {', '.join(s for s in pool if s != name)})"
    n_perts = len([p for p in tuples.perturbations if p != "Control"])
    result = {"set": name, "label": label, "split": split, "description": DESCRIPTION.get(name, name),
              "n_tuples": int(len(tuples.value)), "n_readouts": len(tuples.readouts),
              "n_perturbations": n_perts, "n_contexts": len(tuples.contexts), "note": note, "pool": pool}
    targets = None
    if split == "context":
        targets = eligible_target_contexts(tuples, MIN_PERTURBATIONS.get(name, 10))
        if not targets:
            result["not_applicable"] = ("one context, or no context with enough perturbations also measured "
                                        "elsewhere: the paper's split needs the perturbation seen in another context")
            publish(result)
            return result
        targets = [tuples.contexts[t] for t in targets]
    config = preset(PRESET[name], **overrides)
    holder, traces = {}, []
    frames, exps = [], []
    for seed in seeds:
        df = run_benchmark(tuples, targets, seeds=[seed], models=factories(config, knowledge, holder, traces, split, name),
                           split=split, knowledge=knowledge, lpm_config=config, show_progress=False,
                           min_perturbations=MIN_PERTURBATIONS.get(name, 10), test_contexts=test_contexts)
        exps.append(df.attrs.pop("experiments"))  # pandas compares attrs on concat: a frame there cannot be
        frames.append(df)
        for tr, row in zip(traces[-len(df[df.model == DEFAULT]):], df[df.model == DEFAULT].itertuples()):
            tr.update({"target_context": row.target_context, "seed": row.seed})
        all_rows = pd.concat(frames, ignore_index=True)
        for neural in neural_experts(knowledge):
            for tr, idx in zip(traces, all_rows.index[all_rows.model == neural]):
                all_rows.loc[idx, "fit_seconds"] = tr["fit_seconds"].get(neural, np.nan)
                all_rows.loc[idx, "fit_cpu_seconds"] = np.nan  # inside the stack's CPU time
        experiments = pd.concat(exps, ignore_index=True)
        if split == "perturbation" and name in CALIBRATED_SETS and not pool:
            calibrate(result, tuples, replicate_source(name), experiments, seeds[:len(frames)])
        result.update({"split_seeds_done": seeds[:len(frames)], "lpm_config": config.model_dump(mode="json"),
                       "rows": frame_records(all_rows),
                       "summary": frame_records(summary(all_rows, by=("model",))),
                       "tests": paired(experiments), "stack": traces,
                       "experiments": frame_records(experiments),
                       "seconds": time.perf_counter() - started})
        publish(result)
        log(f"  {label} {split} seed {seed}: " + ", ".join(
            f"{r['model']} {r['pearson_centered_per_experiment']:.3f}" for r in result["summary"]))
    return result


def records(rows: list[dict]) -> pd.DataFrame:
    """Records saved with ``frame_records`` as the frame they came from (null back to NaN, not None)."""
    import io

    return pd.read_json(io.StringIO(json.dumps(rows)), orient="records", convert_dates=False, precise_float=True)


def join_seeds(a: dict, b: dict) -> dict:
    """One result from two runs of a (set, split) over disjoint split seeds (parts run in parallel,
    or a run cut off by the clock and resumed): their rows, experiments and stack traces side by
    side, the summary and the paired tests computed again over all of them. Runs over overlapping
    seeds do not join: the later replaces the earlier."""
    from lpm_kg.eval.benchmark import summary

    seeds_a, seeds_b = a.get("split_seeds_done") or [], b.get("split_seeds_done") or []
    if not seeds_a or not seeds_b or set(seeds_a) & set(seeds_b):
        return b
    out = {**a}
    for key in ("rows", "experiments", "stack"):
        out[key] = a.get(key, []) + b.get(key, [])
    out["split_seeds_done"] = sorted(seeds_a + seeds_b)
    out["seconds"] = a.get("seconds", 0) + b.get("seconds", 0)
    out["summary"] = frame_records(summary(records(out["rows"]), by=("model",)))
    out["tests"] = paired(records(out["experiments"]))
    out.pop("calibration", None)  # rendering computes it again over the joined seeds
    return out


def pooled(name: str, pool: list[str], own):
    """Every set of ``pool`` (and ``name``) as one TupleSet; the contexts of ``name`` to test in."""
    from lpm_kg.eval.benchmark import tuples_from_frame

    frames = []
    for other in dict.fromkeys([name, *pool]):
        t = own if other == name else build(other, 0)[0]
        frames.append(pd.DataFrame({"perturbation": np.asarray(t.perturbations, dtype=object)[t.perturbation],
                                    "readout": np.asarray(t.readouts, dtype=object)[t.readout],
                                    "context": np.asarray(t.contexts, dtype=object)[t.context], "value": t.value}))
    return tuples_from_frame(pd.concat(frames, ignore_index=True), "pooled"), list(own.contexts)


# --------------------------------------------------------------------------- replicates

CALIBRATED_SETS = ("papalexi", "ljp005")


def replicate_source(name: str):
    """What a replicate experiment of ``name`` is made of: for Papalexi, the pseudobulk profiles of
    two seeded halves of every target's cells (and of the non-targeting cells), as long frames A and
    B; for LJP005, the per-readout variance of its DMSO wells (one well per treatment)."""
    import tempfile

    from bench_accuracy import require, resolver, table_frame
    from lpm_kg.loading import LoadContext
    from lpm_kg.symbols import readout_symbol

    if name == "papalexi":
        import anndata

        from loaders.h5ad import read_h5ad

        path = require("papalexi2021-sceptre/papalexi2021_thp1_lowmoi_299genes.h5ad")
        cells = anndata.read_h5ad(path)
        rng = np.random.default_rng(0)
        half = np.zeros(cells.n_obs, bool)
        for _, idx in cells.obs.groupby(["target", "bio_rep"], observed=True).indices.items():
            half[rng.permutation(idx)[: len(idx) // 2]] = True
        frames = []
        with tempfile.TemporaryDirectory() as tmp:
            for k, mask in enumerate((half, ~half)):
                part = Path(tmp) / f"half{k}.h5ad"
                cells[mask].copy().write_h5ad(part)
                ctx = LoadContext("bench", str(part), {"method": "CRISPR-KO", "cell_line": "THP-1"}, None, "skip",
                                  resolver())
                frames.append(table_frame(read_h5ad(part, ctx), "Papalexi21", 0)[0])
        return {"kind": "split-half", "a": frames[0], "b": frames[1]}
    if name == "ljp005":
        from loaders.gct_files import parse_gct
        from loaders.lincs_fields import is_control

        matrix, row_meta, col_meta = parse_gct(require("l1000-ljp005-a375/LJP005_A375_24H_level3_n377x978.gct"))
        dmso = is_control(col_meta)
        genes = resolver().resolve(row_meta["pr_gene_id"].astype(str).tolist()).symbols
        var = np.asarray(matrix, np.float64)[:, dmso].var(axis=1, ddof=1)
        noise = pd.Series(var, index=[readout_symbol(g) if g else None for g in genes]).groupby(level=0).mean()
        return {"kind": "control-noise", "noise": noise, "n_control_wells": int(dmso.sum())}
    return None


def calibrate(result: dict, tuples, source, experiments: pd.DataFrame, seeds: list[int]) -> None:
    """Add to ``result`` each model's calibrated score (0 the mean, 1 a replicate experiment) over the
    test experiments of the perturbation split that have a replicate score."""
    from lpm_kg.eval.baselines import context_readout_means
    from lpm_kg.eval.calibration import control_noise_replicate, split_half_replicate
    from lpm_kg.eval.field_metrics import experiment_ids, targeted_mask
    from lpm_kg.eval.split import split_perturbations
    from lpm_kg.eval.stats import calibrated

    P, R, C = (np.asarray(getattr(tuples, k), dtype=object) for k in ("perturbations", "readouts", "contexts"))
    reps = []
    for seed in seeds:
        parts = split_perturbations(tuples, seed)
        te = parts.test & ~targeted_mask(tuples.perturbations, tuples.readouts, tuples.perturbation, tuples.readout)
        p, r, c, y = tuples.perturbation[te], tuples.readout[te], tuples.context[te], tuples.value[te]
        tr = parts.train
        m = context_readout_means(tuples.readout[tr], tuples.context[tr], tuples.value[tr], len(R), len(C))[c, r]
        keys = pd.MultiIndex.from_arrays([P[p], R[r]])
        if source["kind"] == "split-half":
            # Each half against its own training mean: a half's control cells are shared by all its
            # profiles, so their noise cancels there (against the full data's mean, the two halves'
            # control noise would enter with opposite signs).
            train_perts = set(P[parts.train_perturbations])
            halves = []
            for f in (source["a"], source["b"]):
                own = f[f["perturbation"].isin(train_perts)].groupby(["context", "readout"])["value"].mean()
                value = f.groupby(["perturbation", "readout"])["value"].mean().reindex(keys).to_numpy()
                halves.append(value - own.reindex(pd.MultiIndex.from_arrays([C[c], R[r]])).to_numpy())
            score = split_half_replicate(halves[0], halves[1], p, c, np.zeros(len(p)))
        else:
            score = control_noise_replicate(y, source["noise"].reindex(R[r]).to_numpy(), p, c, m)
        _exp, ep, ec = experiment_ids(p, c)
        reps.append(pd.DataFrame({"seed": seed, "perturbation": P[ep], "context": C[ec], "replicate": score}))
    rep = pd.concat(reps, ignore_index=True)
    joined = experiments.merge(rep, on=["seed", "perturbation", "context"])
    joined = joined[np.isfinite(joined["replicate"])]
    result["calibration"] = {
        "replicate": source["kind"], "n_experiments": int(joined.groupby("model").size().max()),
        "replicate_mean": float(rep["replicate"].mean()),
        "models": {model: calibrated(g["pearson_centered"], g["replicate"]) for model, g in joined.groupby("model")}}


# --------------------------------------------------------------------------- report

def _fmt_p(p) -> str:
    return "n/a" if p is None or not np.isfinite(p) else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def markdown(results: list[dict], meta: dict) -> str:
    lines = ["# The default model against the bar: every real set, both splits, full size", "",
             f"Run {meta['date']} on {meta['machine']}; split seeds {meta['seeds']}; LPM settings: each set's preset "
             f"with {meta.get('lpm_overrides') or 'no overrides'}. Default model `{DEFAULT}`. Metrics leave a genetic "
             "perturbation's own gene out. Centered = per-experiment Pearson of deviations from the per-(context, "
             "readout) training mean (the mean predictor scores 0); discrimination: 1 perfect, 0.5 the mean predictor. "
             "p: one-sided paired Wilcoxon over test experiments that the default is better; a tie when neither "
             "direction has p < 0.05.", "", "## Against the bar", "",
             "Centered per-experiment Pearson, mean over the paired test experiments (all split seeds and target "
             "contexts), the default first; each bar model's cell gives its mean, the one-sided p that the default "
             "is better, and the verdict.", "",
             "| set | split | n | default | " + " | ".join(BAR) + " | discrimination: default vs best of the bar |",
             "|---|---|---|---|" + "---|" * len(BAR) + "---|"]
    for res in results:
        if res.get("not_applicable") or "tests" not in res:
            continue
        tests = {(t["other"], t["metric"]): t for t in res["tests"]}
        first = next((t for (o, m), t in tests.items() if m == "pearson_centered"), None)
        if first is None:
            continue
        cells = []
        for other in BAR:
            t = tests.get((other, "pearson_centered"))
            cells.append("n/a" if t is None else f"{t['other_mean']:.3f} (p {_fmt_p(t['p_value'])}, {t['verdict']})")
        disc = [tests[(o, "discrimination")] for o in BAR if (o, "discrimination") in tests
                and tests[(o, "discrimination")]["n_pairs"]]
        best = max(disc, key=lambda t: t["other_mean"]) if disc else None
        dtext = "n/a (one test experiment per context)" if best is None else (
            f"{best['leader_mean']:.3f} vs {best['other_mean']:.3f} ({best['other']}; p {_fmt_p(best['p_value'])}, "
            f"{best['verdict']})")
        lines.append(f"| {res['label']} | {res['split']} | {first['n_pairs']} | {first['leader_mean']:.3f} | "
                     + " | ".join(cells) + f" | {dtext} |")
    lines += ["", "## Every model, paired with the default", "",
             "| set | split | vs | n | default | other | p (centered) | verdict | p (discrimination) | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        if res.get("not_applicable") or "tests" not in res:
            continue
        by = {}
        for t in res["tests"]:
            by.setdefault(t["other"], {})[t["metric"]] = t
        for other, t in by.items():
            c, d = t.get("pearson_centered", {}), t.get("discrimination", {})
            lines.append(f"| {res['label']} | {res['split']} | {other} | {c.get('n_pairs', 0)} | "
                         f"{c.get('leader_mean', float('nan')):.3f} | {c.get('other_mean', float('nan')):.3f} | "
                         f"{_fmt_p(c.get('p_value'))} | **{c.get('verdict', '')}** | {_fmt_p(d.get('p_value'))} | "
                         f"{d.get('verdict', '')} |")
    lines.append("")
    for res in results:
        head = f"## {res['label']}, {res['split']} split"
        if res.get("not_applicable"):
            lines += [head, "", f"Not applicable: {res['not_applicable']}.", ""]
            continue
        if "summary" not in res:
            continue
        lines += [head, "", f"{res['description']}. {res['n_tuples']:,} tuples, {res['n_readouts']:,} readouts, "
                  f"{res['n_perturbations']} perturbations, {res['n_contexts']} contexts; split seeds "
                  f"{res['split_seeds_done']}; {res['seconds']:.0f} s.", "",
                  "| model | centered Pearson | discrimination | top-20 overlap | top-20 direction | RMSE | fit s | fit CPU s |",
                  "|---|---|---|---|---|---|---|---|"]
        fits = {}
        for row in res["rows"]:
            fits.setdefault(row["model"], []).append((row["fit_seconds"], row.get("fit_cpu_seconds")))
        for row in sorted(res["summary"], key=lambda r: -(r["pearson_centered_per_experiment"] or 0)):
            f = fits[row["model"]]
            cpu = [x[1] for x in f if x[1] is not None]
            cells = [f"{row[m]:.3f} ± {row[m + '_std']:.3f}" if row.get(m) is not None else "n/a" for m in METRICS]
            cpu_text = f"{np.nanmean(cpu):.1f}" if cpu and np.isfinite(cpu).any() else "in the stack's"
            lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {np.mean([x[0] for x in f]):.1f} | "
                         f"{cpu_text} |")
        cal = res.get("calibration")
        if cal:
            lines += ["", f"Calibrated score (0: the per-(context, readout) mean; 1: a replicate experiment, "
                      f"{'from split halves of the cells' if cal['replicate'] == 'split-half' else 'from the DMSO wells noise'}; "
                      f"replicate centered Pearson {cal['replicate_mean']:.3f} over {cal['n_experiments']} test experiments): "
                      + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cal['models'].items(), key=lambda kv: -kv[1]))
                      + "."]
        question = "seen" if res["split"] == "context" else "unseen"
        weights = [t["weights"][question] for t in res.get("stack", []) if question in t["weights"]]
        if weights:
            lines += ["", f"Stack weights for {question} perturbations (pooled over contexts; mean over splits): " +
                      ", ".join(f"{n} {np.mean([w[n] for w in weights]):.2f}" for n in weights[0]) + "."]
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    from lpm_kg.plots import figure, save_figure

    done = [r for r in results if r.get("summary")]
    if not done:
        return
    fig = figure(11, 0.5 + 0.9 * len(done))
    for k, metric in enumerate(("discrimination", "pearson_centered_per_experiment")):
        ax = fig.add_subplot(1, 2, k + 1)
        models = [DEFAULT, "graph-lpm", "lpm", *BAR]
        colours = dict(zip(models, ["#c44e52", "#dd8452", "#dd8452", "#4c72b0", "#55a868", "#8172b3"]))
        height = 0.8 / len(models)
        for i, res in enumerate(done):
            by = {r["model"]: r for r in res["summary"]}
            for j, m in enumerate(x for x in models if x in by):
                value, spread = by[m][metric], by[m][metric + "_std"]
                ax.barh(i + j * height, np.nan if value is None else value, height,
                        xerr=0 if spread is None else spread, color=colours[m], label=m if i == 0 else None)
        ax.set_yticks([i + 0.35 for i in range(len(done))], [f"{r['set']} ({r['split']})" for r in done])
        ax.axvline(0.5 if metric == "discrimination" else 0, color="k", lw=0.8, ls="--")
        ax.set_xlabel("perturbation discrimination (0.5: the mean)" if metric == "discrimination" else
                      "centered per-experiment Pearson")
        if k == 0:
            ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(REAL_SETS))
    ap.add_argument("--splits", default="context,perturbation")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--lpm-seeds", help="the LPM expert's seed ensemble, e.g. 13 (default: the preset's)")
    ap.add_argument("--max-epochs", type=int)
    ap.add_argument("--pool", help="train on these sets too, test each of --sets (perturbation split)")
    ap.add_argument("--no-graph", action="store_true", help="no reference knowledge (no linear-priors, paper LPM)")
    ap.add_argument("--out", default="bench_default")
    ap.add_argument("--render", action="store_true", help="only rewrite the .md and .png from the .json")
    ap.add_argument("--merge", help="comma-separated result stems (runs of parts in parallel) to merge into --out; "
                                    "a later stem's (set, split) replaces an earlier one's, or joins it when "
                                    "their split seeds are disjoint")
    args = ap.parse_args()
    out = RESULTS / args.out
    if args.merge:
        merged, metas = {}, []
        for stem in args.merge.split(","):
            saved = json.loads((RESULTS / f"{stem}.json").read_text())
            metas.append(saved["meta"])
            for res in saved["results"]:
                key = (res["set"], res["split"], json.dumps(res.get("pool")))
                merged[key] = join_seeds(merged[key], res) if key in merged else res
        order = {s: i for i, s in enumerate(REAL_SETS)}
        results = sorted(merged.values(), key=lambda r: (order.get(r["set"], 99), r["split"] != "context"))
        meta = {**metas[0], "merged_from": args.merge.split(","), "seeds": sorted({x for m in metas for x in m["seeds"]})}
        out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}))
        args.render = True
    if args.render:
        saved = json.loads(out.with_suffix(".json").read_text())
        for res in saved["results"]:  # results from before calibration existed get it now
            if res["split"] == "perturbation" and res["set"] in CALIBRATED_SETS and "calibration" not in res \
                    and res.get("experiments") and not res.get("pool"):
                calibrate(res, build(res["set"], 0)[0], replicate_source(res["set"]),
                          pd.DataFrame(res["experiments"]), res["split_seeds_done"])
        out.with_suffix(".json").write_text(json.dumps(saved))
        out.with_suffix(".md").write_text(markdown(saved["results"], saved["meta"]))
        plot(saved["results"], out.with_suffix(".png"))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    overrides = lpm_overrides(args.lpm_seeds, args.max_epochs)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} CPUs", "seeds": seeds,
            "lpm_overrides": overrides, "pool": args.pool}
    knowledge = None
    if not args.no_graph:

        knowledge, sizes = reference_knowledge()
        meta["knowledge"] = {**knowledge.sizes(), "tables": sizes}
    pool = args.pool.split(",") if args.pool else None
    results: list[dict] = []
    existing = json.loads(out.with_suffix(".json").read_text())["results"] if out.with_suffix(".json").exists() else []

    def publish(result: dict) -> None:
        done = [r for r in results if (r["set"], r["split"], r.get("pool")) != (result["set"], result["split"],
                                                                                 result.get("pool"))] + [result]
        keep = [r for r in existing if (r["set"], r["split"], r.get("pool")) not in
                {(d["set"], d["split"], d.get("pool")) for d in done}]
        RESULTS.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": keep + done}))
        out.with_suffix(".md").write_text(markdown(keep + done, meta))
        plot(keep + done, out.with_suffix(".png"))

    for name in args.sets.split(","):
        for split in args.splits.split(","):
            if pool and split != "perturbation":
                continue
            log(f"== {name}, {split} split")
            results.append(run_one(name, split, seeds, knowledge, overrides, pool, publish))


if __name__ == "__main__":
    main()
