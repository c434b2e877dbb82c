"""Compound to target knockdown on the profiles the LPM predicts (issue 22, part 2).

Compounds and CRISPRi knockdowns were measured in different cells: NeurIPS-2023 compounds in blood
cells (B, myeloid, NK, T), sci-Plex compounds in A549, K562 and MCF7, LJP005 kinase inhibitors in
A375 (6 doses), Replogle 2022 knockdowns (585 genes) in K562 and RPE1. The four sets are pooled in
one LPM (contexts stay apart; the Replogle top lists train with their implied zeros, as in
bench_discovery's network part). For every compound whose annotated targets (Drug Repurposing Hub
and LINCS, united; salt forms and spelling met by bench_discovery.match_key) include a knocked-down
gene, the 585 knockdowns are ranked by

- ``lpm-predicted``: the cosine of the LPM's predicted profiles in every context of the pool, each
  kind centred per context (lpm_kg.discovery.predicted_profiles), averaged over contexts;
- ``lpm-predicted-kd-cells`` / ``lpm-predicted-compound-cells``: the same over the knockdowns'
  contexts only (K562, RPE1), or over the compounds' own contexts only;
- ``lpm-embedding``: the cosine of the perturbation embeddings, each kind centred;
- ``raw-cross``: what a user can do without a model: the measured profiles (centred per context),
  averaged over each perturbation's contexts, compared over the readouts both measured;
- ``raw-same-cell``: `lpm-kg moa`'s raw signatures: the measured values compared only within a
  cell line both were measured in (sci-Plex and Replogle meet in K562), over the readouts both
  measured; a compound with none ranks its targets last;
- ``random``: the expectation of a random order.

A compound measured at several doses is one compound: its similarity row is the mean of its doses'.
Statistic: per compound the best rank of a target knockdown, as a share of the 585 (lower is
better), its mean against 1000 shuffles of the knockdowns' genes (p), and methods paired over
compounds (one-sided Wilcoxon both ways, lpm_kg.eval.stats.verdict).

    python benchmarks/bench_compound_kd.py [--seeds 13] [--ensemble] [--null 1000]

Writes benchmarks/results/bench_compound_kd.{json,md,png}; the trained model is kept in --cache so
a re-run only re-scores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402

from bench_accuracy import log  # noqa: E402
from bench_discovery import (RESULTS, _read, load_or_fit, genetic_targets, implicit_zeros, match_key,  # noqa: E402
                             mean_profiles, pooled_tuples, short)
from bench_priors import REFERENCES  # noqa: E402

from lpm_kg.discovery.inference import cosine_matrix, shared_cosine  # noqa: E402
from lpm_kg.discovery.predicted_profiles import predicted_similarity, target_rank_test  # noqa: E402
from lpm_kg.eval.stats import verdict, wilcoxon_greater  # noqa: E402

SETS = ["replogle", "neurips", "sciplex", "ljp005"]
KNOCKDOWN_SET = "replogle"
DOSE = re.compile(r"-[0-9.]+uM$")  # LJP005 symbols are '<compound>-<dose>uM'
LEADERS = ("lpm-predicted", "lpm-embedding")  # each against every other method


def compound_targets() -> dict[str, set[str]]:
    """match_key of a compound's name or alias -> its annotated target genes (Hub and LINCS united)."""
    out: dict[str, set] = {}
    for fmt, rel in REFERENCES:
        if fmt in ("repurposing-hub", "lincs-compounds"):
            for r in _read(fmt, rel).compounds.itertuples():
                if len(r.targets):
                    for name in [r.name, *r.aliases]:
                        out.setdefault(match_key(name), set()).update(r.targets)
    return out


def queries(tuples, genetic: set[str], genes: set[str], targets: dict[str, set[str]]) -> list[dict]:
    """One query per compound and the contexts it was measured in (a compound in two sets is two
    queries; its doses in one set are one): its perturbation ids, its targets among ``genes`` and
    the contexts it was measured in."""
    n_contexts = len(tuples.contexts)
    pairs = np.unique(tuples.perturbation.astype(np.int64) * n_contexts + tuples.context)  # one pass over the tuples
    contexts_of: dict[int, list[str]] = {}
    for p, c in zip((pairs // n_contexts).tolist(), (pairs % n_contexts).tolist()):
        contexts_of.setdefault(p, []).append(tuples.contexts[c])
    by: dict[tuple, list[int]] = {}
    for k, s in enumerate(tuples.perturbations):
        if s.lower() != "control" and s not in genetic:
            by.setdefault((DOSE.sub("", s), tuple(sorted(contexts_of[k]))), []).append(k)
    out = []
    for (name, contexts), rows in sorted(by.items()):
        hit = sorted(targets.get(match_key(name), set()) & genes)
        if hit:
            out.append({"compound": name, "rows": rows, "targets": hit, "contexts": list(contexts)})
    return out


def raw_cross(tuples, comp_rows: list[int], kd_rows: list[int]) -> np.ndarray:
    """Cosine over the readouts both measured (at least 10) of each perturbation's centred profile
    averaged over its contexts (bench_discovery.mean_profiles; [comp_rows, kd_rows]; NaN where
    fewer are shared)."""
    x = mean_profiles(tuples, comp_rows + kd_rows)
    return shared_cosine(x[:len(comp_rows)], x[len(comp_rows):], 10)


def raw_same_cell(tuples, comp_rows: list[int], kd_rows: list[int]) -> np.ndarray:
    """`lpm-kg moa`'s raw-signature (lpm_kg.discovery.moa.signature_similarity): the measured values,
    not centred, compared within a cell line both were measured in (sci-Plex K562 against Replogle
    K562) over the readouts both measured (a top list's unlisted genes are not measured), at least
    10, averaged over such cell lines; NaN (ranks last) where there is none."""
    def dense(rows: list[int], c: int) -> np.ndarray:
        m = (tuples.context == c) & np.isin(tuples.perturbation, rows)
        at = {p: k for k, p in enumerate(rows)}
        out = np.full((len(rows), len(tuples.readouts)), np.nan)
        out[[at[p] for p in tuples.perturbation[m]], tuples.readout[m]] = tuples.value[m]
        return out

    total, count = np.zeros((len(comp_rows), len(kd_rows))), np.zeros((len(comp_rows), len(kd_rows)))
    for ca in np.unique(tuples.context[np.isin(tuples.perturbation, comp_rows)]):
        for cb in np.unique(tuples.context[np.isin(tuples.perturbation, kd_rows)]):
            if short(tuples.contexts[ca]) != short(tuples.contexts[cb]):
                continue
            cos = shared_cosine(dense(comp_rows, ca), dense(kd_rows, cb), 10)
            ok = np.isfinite(cos)
            total += np.where(ok, cos, 0.0)
            count += ok
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def centred_kinds(vectors: np.ndarray, a: list[int], b: list[int]) -> np.ndarray:
    va, vb = vectors[a] - vectors[a].mean(axis=0), vectors[b] - vectors[b].mean(axis=0)
    return cosine_matrix(va, vb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="13")
    ap.add_argument("--null", type=int, default=1000)
    ap.add_argument("--max-epochs", type=int, default=None, help="cap the preset's epochs (a smoke test)")
    ap.add_argument("--ensemble", action="store_true",
                    help="one model per seed (each cached), their similarities averaged, instead of one model of all seeds")
    ap.add_argument("--cache", type=Path, default=RESULTS / ".discovery_cache")
    ap.add_argument("--out", default="bench_compound_kd")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    tuples = pooled_tuples(SETS)
    genetic = genetic_targets(tuples)
    kd_symbols = sorted(genetic)
    kd_rows = [tuples.perturbations.index(s) for s in kd_symbols]
    kd_genes = [genetic[s] for s in kd_symbols]
    qs = queries(tuples, set(genetic), set(kd_genes), compound_targets())
    log(f"pooled {', '.join(SETS)}: {len(tuples):,} tuples, contexts {list(tuples.contexts)}; {len(kd_symbols)} "
        f"knockdowns; {len(qs)} compounds with a knocked-down target")
    kd_contexts = [c for c in tuples.contexts if c.startswith("Replogle")]
    train = implicit_zeros(tuples, kd_contexts)
    # One model of all the seeds, or with --ensemble one model per seed (each cached on its own, so
    # seeds trained one at a time join without retraining) whose similarities are averaged.
    fits = [load_or_fit(train, "l1000", group, args.cache / "compound-kd-l1000", args.max_epochs)
            for group in ([[s] for s in seeds] if args.ensemble else [seeds])]
    models = [m for m, _ in fits]
    training = {"train_seconds": sum(t.get("train_seconds") or 0 for _, t in fits) or None,
                "epochs": {k: v for _, t in fits for k, v in t["epochs"].items()}}

    comp_rows = sorted({r for q in qs for r in q["rows"]})
    at = {r: k for k, r in enumerate(comp_rows)}

    def per_query(sim: np.ndarray) -> np.ndarray:  # [compound perturbations, kd] -> [queries, kd]
        return np.stack([sim[[at[r] for r in q["rows"]]].mean(axis=0) for q in qs])

    sims, seconds = {}, {}
    readouts_of = {c: np.unique(tuples.readout[tuples.context == c]) for c in range(len(tuples.contexts))}
    groups = {"lpm-predicted": list(readouts_of),
              "lpm-predicted-kd-cells": [c for c in readouts_of if tuples.contexts[c] in kd_contexts],
              "lpm-predicted-compound-cells": [c for c in readouts_of if tuples.contexts[c] not in kd_contexts]}
    t0 = time.perf_counter()
    per_model = [predicted_similarity(model.predict_ids, comp_rows, kd_rows,
                                      [(c, readouts_of[c]) for c in readouts_of])[1] for model in models]
    seconds["predicting"] = round(time.perf_counter() - t0, 1)
    by_context = {c: np.mean([pm[k] for pm in per_model], axis=0) for k, c in enumerate(readouts_of)}
    for name, cs in groups.items():
        sims[name] = per_query(np.mean([by_context[c] for c in cs], axis=0))
    sims["lpm-embedding"] = per_query(np.mean([centred_kinds(model.embeddings("perturbations", s), comp_rows, kd_rows)
                                               for model in models for s in model.states], axis=0))
    t0 = time.perf_counter()
    sims["raw-cross"] = per_query(raw_cross(tuples, comp_rows, kd_rows))
    sims["raw-same-cell"] = per_query(raw_same_cell(tuples, comp_rows, kd_rows))
    seconds["raw"] = round(time.perf_counter() - t0, 1)

    targets = [q["targets"] for q in qs]
    tests = {m: target_rank_test(m, s, kd_genes, targets, n_null=args.null) for m, s in sims.items()}
    n = len(kd_rows)
    # A random order: the best of m target knockdowns among n sits at (n + 1) / (m + 1) on average.
    m_per = [sum(g in q["targets"] for g in kd_genes) for q in qs]
    random_share = float(np.mean([(n + 1) / (m + 1) / n for m in m_per]))
    rows = [{"method": m, "mean_share": t.mean_share, "median_rank": float(np.median(t.best_rank)),
             "null_mean": t.null_mean, "p": t.p, **{f"hit@{k}": float((t.best_rank <= k).mean()) for k in (10, 50)}}
            for m, t in tests.items()]
    compare, done = [], set()
    for leader in LEADERS:
        for other in [m for m in tests if m != leader and frozenset((leader, m)) not in done]:
            done.add(frozenset((leader, other)))
            a, b = -tests[leader].share, -tests[other].share  # lower share is better
            pg, pl = wilcoxon_greater(a, b), wilcoxon_greater(b, a)
            compare.append({"leader": leader, "other": other, "mean_share_leader": tests[leader].mean_share,
                            "mean_share_other": tests[other].mean_share, "p_better": pg, "p_worse": pl,
                            "verdict": verdict(pg, pl, difference=float(np.mean(a - b)))})
    per_compound = [{"compound": q["compound"], "targets": q["targets"], "doses": len(q["rows"]),
                     "contexts": q["contexts"],
                     **{m: int(t.best_rank[i]) for m, t in tests.items()}} for i, q in enumerate(qs)]
    result = {"meta": {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.uname().machine}, {os.cpu_count()} CPUs",
                       "seeds": seeds, "ensemble": args.ensemble, "sets": SETS, "tuples": len(tuples), "train_tuples": len(train),
                       "contexts": list(tuples.contexts), "n_knockdowns": n, "n_compounds": len(qs),
                       "train_seconds": training.get("train_seconds"), "epochs": training["epochs"], **{f"{k}_seconds": v for k, v in seconds.items()},
                       "null": args.null, "max_epochs": args.max_epochs, "random_share": random_share},
              "table": rows, "compare": compare, "per_compound": per_compound}
    out = RESULTS / args.out
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float))
    out.with_suffix(".md").write_text(markdown(result))
    plot(result, out.with_suffix(".png"))
    log(f"wrote {out.with_suffix('.md')}")


def _p(p: float) -> str:
    return f"{p:.1g}" if p < 0.01 else f"{p:.3f}"


def markdown(r: dict) -> str:
    m = r["meta"]
    train = f"{m['train_seconds']:.0f} s" if m.get("train_seconds") else "time not recorded"
    epochs = "; ".join(f"seed {s}: {e['run']} epochs, best {e['best']}" for s, e in m.get("epochs", {}).items())
    lines = [
        "# Compound to target knockdown on predicted profiles (benchmarks/bench_compound_kd.py)", "",
        f"{m['n_compounds']} compounds with an annotated target among {m['n_knockdowns']} CRISPRi knockdowns; "
        + (f"{len(m['seeds'])} LPMs, one per seed (preset l1000, seeds {m['seeds']}; their similarities averaged) "
           if m.get("ensemble") else f"one LPM (preset l1000, seeds {m['seeds']}) ") + f"trained on {', '.join(m['sets'])} pooled "
        f"({m['train_tuples']:,} tuples with the top lists' implied zeros, at most {m.get('max_epochs') or 50} epochs "
        f"({epochs}); training {train}, predicting "
        f"{m['predicting_seconds']:.0f} s). {m['date']}, {m['machine']}.", "",
        "Per compound the best rank of a target knockdown as a share of the knockdowns (lower is better; a "
        f"random order gives {m['random_share']:.3f} on these compounds). p: {m['null']} shuffles of the "
        "knockdowns' genes.", "",
        "| method | mean share | median rank | hit@10 | hit@50 | null mean | p |", "|---|---|---|---|---|---|---|"]
    for t in r["table"]:
        lines.append(f"| {t['method']} | {t['mean_share']:.3f} | {t['median_rank']:.0f} | {t['hit@10']:.2f} | "
                     f"{t['hit@50']:.2f} | {t['null_mean']:.3f} | {_p(t['p'])} |")
    lines += ["", "Paired over compounds (one-sided Wilcoxon on the share, both ways):", "",
              "| leader | other | leader share | other share | p better | p worse | verdict |", "|---|---|---|---|---|---|---|"]
    for c in r["compare"]:
        lines.append(f"| {c['leader']} | {c['other']} | {c['mean_share_leader']:.3f} | {c['mean_share_other']:.3f} | "
                     f"{_p(c['p_better'])} | {_p(c['p_worse'])} | {c['verdict']} |")
    methods = [t["method"] for t in r["table"]]
    lines += ["", "Best target rank per compound (1 = nearest):", "",
              "| compound | targets | measured in | " + " | ".join(methods) + " |",
              "|---|---|---|" + "---|" * len(methods)]
    for q in r["per_compound"]:
        cells = ", ".join(sorted({c.split("_")[0] for c in q["contexts"]}))
        lines.append(f"| {q['compound']} | {', '.join(q['targets'])} | {cells} | "
                     + " | ".join(str(q[k]) for k in methods) + " |")
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = r["meta"]["n_knockdowns"]
    ks = np.arange(1, n + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for t in r["table"]:
        ranks = np.array([q[t["method"]] for q in r["per_compound"]])
        ax.step(ks, [(ranks <= k).mean() for k in ks], where="post", label=f"{t['method']} (p {_p(t['p'])})")
    ax.plot(ks, ks / n, "k:", label="random")
    ax.set_xscale("log")
    ax.set_xlabel("k (knockdowns)")
    ax.set_ylabel("share of compounds with a target in the top k")
    ax.set_title(f"Compound -> target knockdown, {r['meta']['n_compounds']} compounds", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
