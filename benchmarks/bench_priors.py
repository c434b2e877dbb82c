"""Unseen perturbations: the graph-informed LPM against the baselines that can answer for a
perturbation never measured (docs/lpm-model.md; issue "The graph informs the model").

The perturbation split (lpm_kg.eval.split.split_perturbations) holds a seeded 15 % / 15 % of the
perturbations out of every context for validation / test, so a test perturbation was never
measured anywhere in training. Every readout is kept (no subsampling). Models:

- ``context-readout-mean``: what an unknown perturbation gets without a prior (the centered
  metric's reference: it scores 0 by construction);
- ``graph-neighbour-transfer``, ``linear-priors``: lpm_kg.eval.graph_models;
- ``lpm``: the paper's LPM, which gives a never-trained perturbation the mean trained embedding;
- ``graph-lpm``: the graph-informed LPM (its preset's ``graph-`` twin);
- ``graph-lpm-gcn`` (``--encoders fitted,gcn``): the same with ``priors.encoder = "gcn"``, a GCN
  along the gene relations trained with the LPM on top of the fitted priors.

Reference knowledge: the real STRING (score >= 700 file), CORUM core complexes, TRRUST, DoRothEA
A-C, the Hallmark and Reactome gene sets, and compound targets from the Drug Repurposing Hub and
the LINCS compound table (their union, as loading both into the graph gives), read with lpm-kg's
own loaders (no database needed). Each result's meta lists the tables it used. The simulator
uses its own true network and compound table.

    python benchmarks/bench_priors.py [--sets sim,replogle] [--seeds 0]

Writes benchmarks/results/bench_priors.{json,md,png}.
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

from bench_accuracy import PRESET, build, log, require, resolver  # noqa: E402
from lpm_kg.jsonsafe import frame_records  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
MODELS = ["context-readout-mean", "graph-neighbour-transfer", "linear-priors", "lpm", "graph-lpm"]
REFERENCES = [("string", "string/string_v12_human_entrez_ntm700_top3_400.tsv.gz"), ("corum", "corum/coreComplexes.txt"),
              ("trrust", "trrust/trrust_rawdata.human.tsv"), ("dorothea", "dorothea/dorothea_hs_ABC.csv"),
              ("gmt", "genesets/h.all.v7.0.symbols.gmt"), ("gmt", "genesets/Human_Reactome_November_17_2020_symbol.gmt"),
              ("repurposing-hub", "repurposing-hub/repurposing_drugs_20200324.txt"),
              ("lincs-compounds", "signatureSearch/lincs_pert_info2.csv.gz")]


def reference_knowledge(left_out=(), annotations=None):
    """The real references as lpm_kg.priors.Knowledge, through the loaders' readers, and the rows
    each file gave; ``left_out``: files of REFERENCES to leave out; ``annotations``: the compound
    annotations kept (default all)."""
    from lpm_kg.loading import LoadContext
    from lpm_kg.priors import Knowledge
    from lpm_kg.priors.knowledge import ANNOTATIONS
    from lpm_kg.registry import get_loader

    genes = sorted(resolver().symbols)
    interacts, regulates, members, complexes, targets, moas = [], [], [], [], {}, {}
    sizes = {}
    for fmt, rel in REFERENCES:
        if rel in left_out:
            continue
        path = require(rel)
        ctx = LoadContext("bench", str(path), {}, None, "skip", resolver())
        table = get_loader(fmt).read(path, ctx)
        if hasattr(table, "rel_type"):
            pairs = list(zip(table.edges["source"], table.edges["target"]))
            (interacts if table.rel_type == "INTERACTS_WITH" else regulates).extend(pairs)
            sizes[rel] = len(pairs)
        elif hasattr(table, "members"):
            prefix = "complex:" if table.label == "Complex" else "set:"
            rows = [(g, prefix + str(s)) for s, g in zip(table.members["group"], table.members["gene"])]
            members.extend(rows)
            if table.label == "Complex":
                complexes.extend(s for _, s in rows)
            sizes[rel] = len(rows)
        else:
            for r in table.compounds.itertuples():
                if len(r.targets):
                    targets.setdefault(r.name, []).extend(r.targets)
                if len(r.moa):
                    moas.setdefault(r.name, []).extend(r.moa)
            sizes[rel] = len(table.compounds)
    genes = genes or sorted({g for pair in interacts + regulates for g in pair} | {g for g, _ in members})
    kn = Knowledge.from_tables(genes, interacts=interacts, regulates=regulates, members=members, complexes=complexes,
                               compound_targets=targets, compound_moas=moas,
                               annotations=tuple(annotations or ANNOTATIONS))
    return kn, sizes


def lpm_overrides(lpm_seeds: str | None, max_epochs: int | None) -> dict:
    """The LPM preset overrides of ``--lpm-seeds 13,14`` and ``--max-epochs N``."""
    out: dict = {}
    if lpm_seeds:
        out["seeds"] = [int(x) for x in lpm_seeds.split(",")]
    if max_epochs:
        out["max_epochs"] = max_epochs
    return out


def run_set(name: str, seeds: list[int], kn_real, split: str = "perturbation", overrides: dict | None = None,
            publish=None, encoders: tuple[str, ...] = ("fitted",), only: list[str] | None = None) -> dict:
    """One set, split seed after split seed; ``publish(result)`` gets the result so far after each,
    so a run cut off by the clock keeps the seeds it finished. ``encoders``: the graph LPM's prior
    encoders to run ("fitted" is ``graph-lpm``, "gcn" adds ``graph-lpm-gcn``); ``only``: a subset
    of MODELS (the context-readout mean is always run: it is the centered metric's reference)."""
    import pandas as pd

    from lpm_kg.eval.benchmark import run_benchmark, summary
    from lpm_kg.eval.graph_models import GraphLPMModel
    from lpm_kg.eval.models import resolve_models
    from lpm_kg.model.config import preset

    t0 = time.perf_counter()
    tuples, note = build(name, 0)  # every readout
    if name == "sim":
        from lpm_kg.simulate import simulate

        knowledge = simulate().knowledge()
    else:
        knowledge = kn_real
    log(f"{name}: {len(tuples.value):,} tuples, {len(tuples.perturbations)} perturbations, "
        f"{len(tuples.readouts)} readouts, {len(tuples.contexts)} contexts ({time.perf_counter() - t0:.0f} s)")
    perts = [p for p in tuples.perturbations if p != "Control"]
    from lpm_kg.eval.graph_models import perturbation_genes

    with_genes = sum(bool(perturbation_genes(knowledge, p)) for p in perts)
    models = MODELS if split == "perturbation" else [m for m in MODELS if m not in (
        "graph-neighbour-transfer", "linear-priors")]  # both answer for perturbations, not readouts
    targets = None if split == "perturbation" else [tuples.contexts[0]]
    config = preset(PRESET[name], **(overrides or {}))
    if only:
        models = [m for m in models if m in only or m == "context-readout-mean"]
    if "fitted" not in encoders:
        models = [m for m in models if m != "graph-lpm"]
    factories = resolve_models(models, config, knowledge)
    if "gcn" in encoders:
        gcn = preset(PRESET[name], **(overrides or {}), priors={"encoder": "gcn"})
        factories["graph-lpm-gcn"] = lambda: GraphLPMModel(gcn, knowledge=knowledge)
    frames, result = [], {}
    for seed in seeds:
        frames.append(run_benchmark(tuples, targets, seeds=[seed], models=factories, split=split, knowledge=knowledge,
                                    lpm_config=config, show_progress=True))
        df = pd.concat(frames, ignore_index=True)
        s = summary(df, by=("model",))
        result = {"set": name, "split": split, "target": targets, "note": note, "n_tuples": int(len(tuples.value)),
                  "n_readouts": len(tuples.readouts), "n_perturbations": len(perts),
                  "perturbations_with_graph_targets": with_genes, "split_seeds_done": seeds[:len(frames)],
                  "rows": frame_records(df), "summary": frame_records(s),
                  "seconds": time.perf_counter() - t0}
        if publish:
            publish(result)
    return result


def _score(row: dict) -> float:
    """The centered per-experiment Pearson; on the readout split, where a held-out readout has no
    training mean in its context (so no centered reference), the plain per-experiment Pearson."""
    value = row["pearson_centered_per_experiment"]
    return row["pearson_per_experiment"] if value is None else value


def markdown(results: list[dict], meta: dict) -> str:
    split = results[0].get("split", "perturbation") if results else "perturbation"
    lines = [f"# Unseen {split}s ({split} split, every readout)", "",
             f"Run {meta['date']} on {meta['machine']}; split seeds {meta['seeds']}; LPM settings: the set's "
             f"preset with {meta.get('lpm_overrides') or 'no overrides'} (both LPMs alike). Centered per-experiment "
             "Pearson (first metric; the per-(context, readout) mean scores 0), then per-experiment Pearson and RMSE.",
             ""]
    for res in results:
        lines += [f"## {res['set']}: {res['n_tuples']:,} tuples, {res['n_readouts']:,} readouts, "
                  f"{res['n_perturbations']} perturbations ({res['perturbations_with_graph_targets']} with graph "
                  f"targets), split seeds {res.get('split_seeds_done', meta['seeds'])}, {res['seconds']:.0f} s", "",
                  "| model | centered Pearson | Pearson per experiment | RMSE | fit s |", "|---|---|---|---|---|"]
        fit = {}
        for row in res["rows"]:
            fit.setdefault(row["model"], []).append(row["fit_seconds"])
        for row in sorted(res["summary"], key=lambda r: -_score(r)):
            centered = "n/a" if row["pearson_centered_per_experiment"] is None else (
                f"{row['pearson_centered_per_experiment']:.3f} ± {row['pearson_centered_per_experiment_std']:.3f}")
            lines.append(f"| {row['model']} | {centered} | {row['pearson_per_experiment']:.3f} ± "
                         f"{row['pearson_per_experiment_std']:.3f} | {row['rmse']:.4f} | "
                         f"{np.mean(fit[row['model']]):.0f} |")
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    from lpm_kg.plots import figure, save_figure

    fig = figure(4.8 * len(results), 3.6)
    for i, res in enumerate(results):
        ax = fig.add_subplot(1, len(results), i + 1)
        rows = sorted(res["summary"], key=_score)
        centered = rows[0]["pearson_centered_per_experiment"] is not None
        key = "pearson_centered_per_experiment" if centered else "pearson_per_experiment"
        ax.barh([r["model"] for r in rows], [r[key] for r in rows], xerr=[r[key + "_std"] for r in rows],
                color="#4c72b0")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"{res['set']}: unseen {res.get('split', 'perturbation')}s")
        ax.set_xlabel(("centered " if centered else "") + "per-experiment Pearson")
    save_figure(fig, path)


def render(name: str) -> None:
    """Rewrite the markdown and plot of a saved result."""
    saved = json.loads((RESULTS / f"{name}.json").read_text())
    (RESULTS / f"{name}.md").write_text(markdown(saved["results"], saved["meta"]))
    plot(saved["results"], RESULTS / f"{name}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render", help="only rewrite the .md and .png of this saved result")
    ap.add_argument("--sets", default="sim,replogle")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--split", default="perturbation", choices=["perturbation", "readout"],
                    help="readout: readouts held out in the first context (graph baselines left out)")
    ap.add_argument("--lpm-seeds", help="override the preset's seed ensemble of both LPMs, e.g. 13,14")
    ap.add_argument("--max-epochs", type=int, help="override the preset's max_epochs of both LPMs")
    ap.add_argument("--encoders", default="fitted",
                    help="the graph LPM's prior encoders: fitted (graph-lpm), gcn (graph-lpm-gcn), or both: fitted,gcn")
    ap.add_argument("--models", help=f"a subset of {','.join(MODELS)} (default all)")
    ap.add_argument("--out", default="bench_priors")
    args = ap.parse_args()
    if args.render:
        return render(args.render)
    seeds = [int(s) for s in args.seeds.split(",")]
    sets = args.sets.split(",")
    kn = None
    overrides = lpm_overrides(args.lpm_seeds, args.max_epochs)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} CPUs", "seeds": seeds,
            "lpm_overrides": overrides, "encoders": args.encoders.split(","),
            "models": args.models.split(",") if args.models else MODELS}
    if any(s != "sim" for s in sets):
        t0 = time.perf_counter()
        kn, sizes = reference_knowledge()
        from lpm_kg.priors import fit_gene_priors

        t1 = time.perf_counter()
        pri = fit_gene_priors(kn)
        meta["knowledge"] = {**kn.sizes(), "tables": sizes, "read_seconds": t1 - t0,
                             "prior_fit_seconds": time.perf_counter() - t1, "genes_with_prior": int(pri.has_prior.sum())}
        log(f"knowledge: {meta['knowledge']}")
    results: list[dict] = []

    def publish(result: dict) -> None:
        done = results + [result]
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.out}.json").write_text(json.dumps({"meta": meta, "results": done}, indent=1))
        (RESULTS / f"{args.out}.md").write_text(markdown(done, meta))
        plot(done, RESULTS / f"{args.out}.png")
        log(markdown([result], meta))

    for name in sets:
        results.append(run_set(name, seeds, kn, args.split, overrides, publish, tuple(args.encoders.split(",")),
                               args.models.split(",") if args.models else None))


if __name__ == "__main__":
    main()
