"""Mechanism of action with graph priors, on real data: sci-Plex compounds and Replogle CRISPRi
knockdowns in one graph (they meet in K562), with STRING, CORUM, gene sets, regulons and the Drug
Repurposing Hub as the reference knowledge. `lpm-kg moa`'s scoring (lpm_kg.discovery.moa) ranks,
for each compound with an annotated target among the knockdowns, the knockdowns by

- the paper's LPM embeddings (`lpm`),
- a graph-informed LPM whose compound priors leave HAS_TARGET out (`graph-lpm`, priors.annotations
  = ["HAS_MOA"]): genetic perturbations get their gene's prior, compounds only a free part and their
  MOA, so a hit is found, not given,
- the graph-informed LPM fed the targets (`graph-lpm-fed-targets`, the default annotations): its
  compound embedding is built from the very targets scored, so it is reported as circular, an
  upper reference rather than a discovery,
- the raw measured signatures and a random ranking,

all in one call on the same compounds and candidates. Each model is trained by `lpm_kg.sync.sync`
(the path of `lpm-kg sync`) on every readout of both sets.

    python benchmarks/bench_moa.py [--home /tmp/moa-neo4j] [--epochs 20] [--seeds 13] [--threads 2]

``--home`` keeps the Neo4j store between runs: loads and trained runs are then reused (sync is
idempotent), so a second call only re-scores. Writes benchmarks/results/bench_moa.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LPM_KG_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"

# (dataset, format, file, options): the references first, the measurements last.
SOURCES = [
    ("hgnc", "hgnc", "gene-ids/hgnc_complete_set.txt.gz", {}),
    ("string", "string", "string/string_v12_human_entrez_ntm700_top3_400.tsv.gz", {}),
    ("corum", "corum", "corum/coreComplexes.txt", {}),
    ("dorothea", "dorothea", "dorothea/dorothea_hs_ABC.csv", {}),
    ("trrust", "trrust", "trrust/trrust_rawdata.human.tsv", {}),
    ("hallmark", "gmt", "genesets/h.all.v7.0.symbols.gmt", {}),
    ("reactome", "gmt", "genesets/Human_Reactome_November_17_2020_symbol.gmt", {}),
    ("drughub", "repurposing-hub", "repurposing-hub/repurposing_drugs_20200324.txt", {}),
    ("sciplex", "ranked-signatures", "sigrecon-signatures/sciplex_ranked_signatures_long.parquet", {}),
    ("replogle", "ranked-signatures", "sigrecon-signatures/perturbseq_ranked_signatures_long.parquet",
     {"perturbation_type": "CRISPRi", "scoring": "top"}),
]
MEASUREMENTS = ["sciplex", "replogle"]
# name -> (preset, overrides): the three models scored side by side.
MODELS = {
    "lpm": ("l1000", {}),
    "graph-lpm": ("graph-l1000", {"priors": {"annotations": ["HAS_MOA"]}}),
    "graph-lpm-fed-targets": ("graph-l1000", {}),
}
K = (1, 5, 10, 20, 50)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, help="Neo4j home to keep between runs (default: a temporary one)")
    ap.add_argument("--epochs", type=int, default=20, help="max epochs per model (early stopping as configured)")
    ap.add_argument("--seeds", default="13", help="comma-separated LPM seeds per model")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (LPM_KG_TORCH_THREADS)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, of " + ", ".join(MODELS))
    ap.add_argument("--stem", default="bench_moa")
    args = ap.parse_args()
    if args.threads:
        os.environ["LPM_KG_TORCH_THREADS"] = str(args.threads)

    if args.home is not None:
        args.home.mkdir(parents=True, exist_ok=True)
        run(args, args.home)
    else:
        with tempfile.TemporaryDirectory() as home:
            run(args, Path(home))


def run(args, home: Path) -> None:
    from lpm_kg.commands.discovery_moa import plot_recall
    from lpm_kg.discovery.moa import moa_ranks, recall_table, table_to_json
    from lpm_kg.graph import Graph
    from lpm_kg.server import ManagedNeo4j, ensure_jars, free_port
    from lpm_kg.settings import Settings
    from lpm_kg.sync import PredictConfig, SourceConfig, SyncConfig, sync
    from lpm_kg.training import TrainConfig

    seeds = [int(s) for s in args.seeds.split(",")]
    names = [m for m in args.models.split(",") if m]
    server = ManagedNeo4j(home / "neo4j", ensure_jars(Settings().cache_dir), bolt_port=free_port(),
                          http_port=free_port(), heap="3g", pagecache="1g")
    server.start()
    try:
        graph = Graph(server.uri, server.auth)
        # Gene ids outside the gene map (5,889 of sci-Plex's 25,745 Ensembl ids) are dropped, and counted on the Dataset.
        sources = [SourceConfig(path=SHARED / rel, format=fmt, dataset=name, options=opts,
                                unmapped="skip" if name in MEASUREMENTS else "auto")
                   for name, fmt, rel, opts in SOURCES]
        times, runs = {}, {}
        for i, name in enumerate(names):
            preset, overrides = MODELS[name]
            model = TrainConfig(datasets=MEASUREMENTS, preset=preset,
                                overrides={**overrides, "seeds": seeds, "max_epochs": args.epochs})
            config = SyncConfig(sources=sources if i == 0 else [], model=model, predict=PredictConfig(unperformed=False))
            t = time.perf_counter()
            log(f"sync {name} ({preset}, {overrides or 'preset as is'})")
            report = sync(graph, config, checkpoint_dir=home / "runs", show_progress=True, echo=log)
            times[name] = {"seconds": round(time.perf_counter() - t, 1), "trained": bool(report.trained)}
            runs[name] = report.run_id
            log(f"{name}: run {report.run_id} in {times[name]['seconds']} s")

        t = time.perf_counter()
        ranks = moa_ranks(graph, [runs[n] for n in names])
        table = recall_table(ranks, K)
        times["moa scoring"] = {"seconds": round(time.perf_counter() - t, 1)}
        label = dict(zip(table.attrs["methods"], [*names, "raw-signature", "random"]))
        table["method"] = table["method"].map(label)
        sizes = {r["d"]: r["n"] for r in graph.read(
            "MATCH (e:Experiment) WHERE e.dataset IN $d RETURN e.dataset AS d, count(*) AS n", {"d": MEASUREMENTS})}
    finally:
        server.stop()

    result = {**table_to_json(table), "runs_by_model": runs, "models": {n: MODELS[n] for n in names},
              "seeds": seeds, "max_epochs": args.epochs, "times": times, "experiments": sizes,
              "compounds": [{"perturbation": r["perturbation"], "compound": r["compound"], "targets": r["targets"],
                             "annotated_targets": r["annotated_targets"],
                             "ranks": {label[m]: r[f"target_ranks:{m}"] for m in table.attrs["methods"][:-1]}}
                            for _, r in ranks.iterrows()]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.stem}.json").write_text(json.dumps(result, indent=1, default=str))
    plot_recall(table, RESULTS / f"{args.stem}.png")
    (RESULTS / f"{args.stem}.md").write_text(markdown(result, table))
    log(f"wrote {RESULTS / args.stem}.{{json,md,png}}")
    print(table.to_string(index=False))


def markdown(result: dict, table) -> str:
    methods = list(dict.fromkeys(table["method"]))
    ks = sorted(table["k"].unique())
    lines = ["# Mechanism of action with graph priors (benchmarks/bench_moa.py)", "",
             f"{result['n_compounds']} compound perturbations ({result['n_distinct_compounds']} compounds) scored "
             f"against {result['n_genetic']} genetic perturbations; datasets {', '.join(result['datasets'] or [])} "
             f"({', '.join(f'{k}: {v:,} experiments' for k, v in result['experiments'].items())}); "
             f"seeds {result['seeds']}, at most {result['max_epochs']} epochs.", ""]
    if result["note"]:
        lines += [f"Note: {result['note']}", ""]
    lines += ["recall@k: share of compounds with an annotated target among their k nearest knockdowns "
              "(target recall in brackets).", "",
              "| method | " + " | ".join(f"k={k}" for k in ks) + " |", "|---" * (len(ks) + 1) + "|"]
    at = table.set_index(["method", "k"])
    for m in methods:
        cells = [f"{at.loc[(m, k), 'recall']:.3f} ({at.loc[(m, k), 'target_recall']:.3f})" for k in ks]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    ranked = [m for m in methods if m != "random"]
    lines += ["", "Best rank of an annotated target per compound (1 = nearest):", "",
              "| compound | targets among the knockdowns | " + " | ".join(ranked) + " |",
              "|---|---" + "|---" * len(ranked) + "|"]
    for c in result["compounds"]:
        cells = [str(min(c["ranks"][m].values())) for m in ranked]
        lines.append(f"| {c['perturbation']} | {', '.join(c['targets'])} | " + " | ".join(cells) + " |")
    lines += ["", "Models: " + "; ".join(f"`{n}` = preset {p} {o or ''}" for n, (p, o) in result["models"].items()),
              "Runs: " + ", ".join(f"{n} `{r}`" for n, r in result["runs_by_model"].items()),
              "Time: " + ", ".join(f"{n} {t['seconds']} s" for n, t in result["times"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
