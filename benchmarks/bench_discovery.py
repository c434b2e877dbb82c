"""Discoveries against raw signatures and nulls, on the real sets in ../shared/data (issue 22).

1. **Gene relationships** (``--part genes``): for the knock-downs of Replogle 2022 (K562 + RPE1,
   585 CRISPRi genes) and the L1000 shRNA plate (85 genes), the cosine similarity of every pair of
   perturbed genes under each map:

   - ``raw-<context>``: the measured profiles of one context; ``raw-mean``: the per-context cosines
     averaged; ``raw-concat``: the profiles of every context side by side. Readouts a top-list set
     leaves out count 0 (not among the top genes). Each readout is centred over the perturbations of
     its context first, so a response every knock-down shares does not make every pair similar;
   - ``lpm``: the paper's LPM perturbation embeddings (centred), trained on every measurement of
     the set; the cosines of its seeds averaged (seeds' spaces are not aligned, their cosines are);
   - ``graph-lpm``: the graph LPM, trained the same way, whose gene priors **leave out the
     reference it is scored on** (one run per reference: a relation that fed the priors cannot
     score them);
   - ``priors``: the graph priors alone (the same left-out knowledge), no measurement at all.

   Scored (lpm_kg.discovery.relations) against CORUM core complexes, STRING (combined score >= 700),
   Reactome and Hallmark co-membership (sets of at most 500 genes, as the priors use): tail recall
   (top and bottom 5 %) and AUPRC, each against 200 degree-preserving rewirings of the reference,
   on the genes the reference annotates; per-gene AP paired over genes for map against map.

2. **Compound mechanisms** (``--part moa``): NeurIPS-2023 (135 compounds, 4 PBMC cell types) and
   sci-Plex (23 compounds, 3 lines). MOAs from the Drug Repurposing Hub and the LINCS compound table
   (a compound's MOAs are the union, names lower-cased). Leave-one-out same-MOA retrieval
   (lpm_kg.discovery.mechanisms): mAP and recall@k against 1000 MOA shuffles, AP paired over
   queries. Maps: raw per context averaged and concatenated, the paper's LPM embeddings, the graph
   LPM with HAS_MOA left out of the compound priors (its targets stay: they are not the label).

3. **Networks by the paper's route** (``--part network``): Replogle and the shRNA plate pooled in one
   set (a gene knocked down in both is one perturbation); the LPM trained on all of it imputes
   every unmeasured (genetic perturbation, context); the network over every perturbed gene is the
   correlation of the observed-plus-imputed profiles, beside the raw-only network (pairs never
   measured in a shared context score nothing), scored as in 1.

4. **Networks where screens barely overlap** (``--part masked``): Replogle's K562 and RPE1 screens
   with each gene kept in one of the two (seeded): half the gene pairs are never measured in a
   shared context. The raw map, cross-context raw cosines, the LPM's observed-plus-imputed and
   observed-first maps, against the unmasked screens' raw map as the ceiling.

5. **A ceiling for embeddings learned from the measurements alone** (``--part lowrank``): the
   raw-concat map against the cosines of its first k principal components (scaled by their
   singular values, and whitened), k = 8 ... 256, scored as in 1. An embedding trained on the
   measurements only is such a compression; if none of these beats the raw signatures, the LPM's
   embedding size is not what holds it back.

    python benchmarks/bench_discovery.py [--part genes,moa,network,masked,lowrank] [--sets replogle,l1000-kd]
        [--seeds 13,14,15] [--null 200]

Writes benchmarks/results/bench_discovery.{json,md,png}; trained embeddings are cached in
``--cache`` (default benchmarks/results/.discovery_cache, not in git) so a re-run only re-scores.
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
import pandas as pd  # noqa: E402

from bench_accuracy import PRESET, build, log, parse_settings, require, resolver  # noqa: E402
from bench_priors import REFERENCES, reference_knowledge  # noqa: E402

from lpm_kg.discovery import mechanisms, relations  # noqa: E402
from lpm_kg.discovery.inference import cosine_matrix, observed_first, shared_effect_correlation  # noqa: E402
from lpm_kg.gene_network import GeneNetwork  # noqa: E402
from lpm_kg.eval.stats import verdict  # noqa: E402
from lpm_kg.jsonsafe import frame_records  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
GENE_SETS = ["replogle", "l1000-kd"]
MOA_SETS = ["neurips", "sciplex"]
# The references scored, by the file that loads them (REFERENCES of bench_priors feeds the priors).
SCORED = {"corum": "corum/coreComplexes.txt",
          "string": "string/string_v12_human_entrez_ntm700_top3_400.tsv.gz",
          "reactome": "genesets/Human_Reactome_November_17_2020_symbol.gmt",
          "hallmark": "genesets/h.all.v7.0.symbols.gmt"}
MAX_GROUP = 500
STRING_MIN = 700
LEADERS = ("lpm", "graph-lpm", "graph-lpm-strict")
TIMES: list[dict] = []  # every LPM fit of this run: model, tuples, seeds, seconds


# --------------------------------------------------------------------------- references

def _read(fmt: str, rel: str, options: dict | None = None):
    from lpm_kg.loading import LoadContext
    from lpm_kg.registry import get_loader

    path = require(rel)
    return get_loader(fmt).read(path, LoadContext("bench", str(path), options or {}, None, "skip", resolver()))


def reference_pairs() -> dict[str, tuple[set, set]]:
    """name -> (universe genes, pairs): STRING's edges >= 700; co-membership of one complex or set
    (of at most MAX_GROUP genes) for the others."""
    out = {}
    for name, rel in SCORED.items():
        if name == "string":
            edges = _read("string", rel, {"min_score": STRING_MIN}).edges
            pairs = set(zip(edges["source"], edges["target"]))
        else:
            members = _read("corum" if name == "corum" else "gmt", rel).members
            pairs = set()
            for _, genes in members.groupby("group")["gene"]:
                genes = sorted(set(genes))
                if 2 <= len(genes) <= MAX_GROUP:
                    pairs.update((a, b) for k, a in enumerate(genes) for b in genes[k + 1:])
        universe = {g for p in pairs for g in p}
        out[name] = (universe, pairs)
    return out


def knowledge_without(left_out: set[str], annotations=None):
    """lpm_kg.priors.Knowledge from every reference of bench_priors except the files in
    ``left_out``; ``annotations`` limits the compound annotations (e.g. ("HAS_TARGET",))."""
    return reference_knowledge(left_out, annotations)[0]


# --------------------------------------------------------------------------- maps

def genetic_targets(tuples) -> dict[str, str]:
    """Perturbation symbol -> its gene, for the genetic perturbations (one gene each)."""
    from lpm_kg.symbols import parse_perturbation

    out = {}
    for s in tuples.perturbations:
        try:
            p = parse_perturbation(s, lambda g: g)
        except ValueError:
            continue
        if p.kind == "genetic" and "+" not in s:
            out[s] = p.gene
    return out


def profile_matrices(tuples, rows: list[int]) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per context measured by any of the perturbations ``rows``: (context id, its readout ids, the
    [len(rows), readouts] profile matrix), zero where a measured perturbation's value is missing
    (a top-list set leaves the rest of the genes out), each readout centred over the perturbations
    measured there; a perturbation never measured in the context gets a NaN row."""
    at = {p: k for k, p in enumerate(rows)}
    out = []
    for c in range(len(tuples.contexts)):
        m = (tuples.context == c) & np.isin(tuples.perturbation, rows)
        if not m.any():
            continue
        readouts, col = np.unique(tuples.readout[m], return_inverse=True)
        row = np.array([at[p] for p in tuples.perturbation[m]])
        mat = np.zeros((len(rows), len(readouts)), np.float64)
        mat[row, col] = tuples.value[m]
        measured = np.zeros(len(rows), bool)
        measured[row] = True
        mat[measured] -= mat[measured].mean(axis=0)
        mat[~measured] = np.nan
        out.append((c, readouts, mat))
    return out


def context_cosines(mats: list[np.ndarray]) -> list[np.ndarray]:
    """Per context, the cosine of every pair of rows; NaN for a row with no measurement there."""
    sims = []
    for mat in mats:
        missing = np.isnan(mat).any(axis=1)
        sim = cosine_matrix(np.nan_to_num(mat))
        sim[missing] = np.nan
        sim[:, missing] = np.nan
        sims.append(sim)
    return sims


def mean_of(sims: list[np.ndarray]) -> np.ndarray:
    """Per-context cosines averaged over the contexts where both perturbations were measured (NaN
    where they share none)."""
    stack = np.stack(sims)
    n = np.isfinite(stack).sum(axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, np.nansum(stack, axis=0) / np.maximum(n, 1), np.nan)


def _network(name: str, genes: list[str], sim: np.ndarray) -> GeneNetwork:
    order = np.argsort(genes)
    s = np.array(sim, np.float64)[np.ix_(order, order)]  # float64: observed-first's tie breaks survive
    np.fill_diagonal(s, np.nan)
    return GeneNetwork(name, [genes[k] for k in order], s)


def centred_cosine(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, np.float64)
    return cosine_matrix(v - v.mean(axis=0))


def raw_maps(tuples, symbols: list[str]) -> dict[str, np.ndarray]:
    """raw-<context>, raw-mean, raw-concat similarity matrices over ``symbols`` (perturbations);
    ``raw`` alone for a one-context set."""
    index = {s: k for k, s in enumerate(tuples.perturbations)}
    found = profile_matrices(tuples, [index[s] for s in symbols])
    sims = context_cosines([mat for _, _, mat in found])
    if len(sims) == 1:
        return {"raw": sims[0]}
    out = {f"raw-{short(tuples.contexts[c])}": sim for (c, _, _), sim in zip(found, sims)}
    out["raw-mean"] = mean_of(sims)
    out["raw-concat"] = cosine_matrix(np.concatenate([np.nan_to_num(m) for _, _, m in found], axis=1))
    return out


def imputed_maps(tuples, symbols: list[str], model) -> tuple[dict[str, np.ndarray], dict]:
    """The paper's route: every (perturbation, context) never measured is filled with the LPM's
    prediction over the context's readouts (centred like the measured rows); ``imputed``: the
    per-context cosines averaged over every context; ``raw-mean``: the same over the measured ones
    only (a pair never measured in a shared context scores nothing)."""
    found, filled, counts = imputed_profiles(tuples, symbols, model)
    raw = mean_of(context_cosines([mat for _, _, mat in found]))
    return {"raw-mean": raw, "imputed": mean_of(context_cosines(filled))}, counts


def imputed_profiles(tuples, symbols: list[str], model) -> tuple[list, list[np.ndarray], dict]:
    """:func:`profile_matrices` of ``symbols`` (``found``) and the same matrices with every
    unmeasured row filled by the LPM's prediction (``filled``), and the counts."""
    index = {s: k for k, s in enumerate(tuples.perturbations)}
    rows = np.array([index[s] for s in symbols])
    found = profile_matrices(tuples, rows.tolist())
    filled, n_imputed = [], 0
    for c, readouts, mat in found:
        missing = np.flatnonzero(np.isnan(mat).any(axis=1))
        out = mat.copy()
        if len(missing):
            measured = ~np.isnan(mat).any(axis=1)
            p = np.repeat(rows[missing], len(readouts))
            r = np.tile(readouts, len(missing))
            mean, _ = model.predict_ids(p, r, np.full(len(p), c))
            pred = np.asarray(mean, np.float64).reshape(len(missing), len(readouts))
            # Centred by the measured rows' raw column mean, the same shift the measured rows had.
            m = (tuples.context == c) & np.isin(tuples.perturbation, rows)
            raw_mean = np.zeros(len(readouts))
            _, col = np.unique(tuples.readout[m], return_inverse=True)
            np.add.at(raw_mean, col, tuples.value[m])
            out[missing] = pred - raw_mean / measured.sum()
            n_imputed += len(missing)
        filled.append(out)
    return found, filled, {"experiments_imputed": n_imputed,
                           "experiments_measured": int(sum((~np.isnan(m).any(axis=1)).sum() for _, _, m in found))}


def short(context: str) -> str:
    parts = context.split("_")
    return parts[1] if len(parts) > 2 else context


def fit_lpm(tuples, preset_name: str, seeds: list[int], knowledge=None, max_epochs: int | None = None,
            settings: dict | None = None):
    """An LPM (a graph LPM with ``knowledge``) trained on every tuple, 5 % held out at random for
    early stopping; ``settings`` override the preset's."""
    from lpm_kg.model import LPM, Vocabulary
    from lpm_kg.model.config import preset

    overrides = {**(settings or {}), "seeds": seeds}
    if max_epochs:
        overrides["max_epochs"] = max_epochs
    cfg = preset(("graph-" if knowledge is not None else "") + preset_name, **overrides)
    priors = None
    if knowledge is not None:
        from lpm_kg.priors import fit_gene_priors
        from lpm_kg.priors.inputs import PriorSource

        priors = PriorSource(knowledge, fit_gene_priors(knowledge, cfg.priors))
    val = np.random.default_rng(0).random(len(tuples)) < 0.05
    arr = lambda m: (tuples.perturbation[m], tuples.readout[m], tuples.context[m], tuples.value[m])  # noqa: E731
    t0 = time.perf_counter()
    model = LPM(cfg, Vocabulary(list(tuples.perturbations), list(tuples.readouts), list(tuples.contexts)),
                priors=priors).fit(arr(~val), arr(val))
    TIMES.append({"model": ("graph-" if knowledge is not None else "") + preset_name, "tuples": len(tuples),
                  "seeds": len(seeds), "seconds": round(time.perf_counter() - t0, 1)})
    log(f"  trained {TIMES[-1]['model']} on {len(tuples):,} tuples, seeds {seeds}, in {TIMES[-1]['seconds']:.0f} s")
    return model


def load_or_fit(train, preset_name: str, seeds: list[int], stem: Path, max_epochs: int | None = None,
                settings: dict | None = None) -> tuple:
    """:func:`fit_lpm`'s model, kept at ``<stem>[-<setting><value>...]-s<seeds>[-e<max>].pt`` and
    loaded from there when it holds this vocabulary (a re-run only re-scores), and its training
    record: seconds (kept beside the checkpoint), epochs run and best epoch per seed."""
    from lpm_kg.model import LPM

    cap = f"-e{max_epochs}" if max_epochs else ""
    tag = "".join(f"-{k}{v}" for k, v in sorted((settings or {}).items()))
    path = stem.parent / f"{stem.name}{tag}-s{'-'.join(map(str, seeds))}{cap}.pt"
    record = path.with_suffix(".json")
    model = None
    if path.exists():
        model = LPM.load(path)
        if list(model.vocab.perturbations) != list(train.perturbations):
            model = None
        else:
            log(f"loaded {path}")
    if model is None:
        t0 = time.perf_counter()
        model = fit_lpm(train, preset_name, seeds, max_epochs=max_epochs, settings=settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
        record.write_text(json.dumps({"train_seconds": round(time.perf_counter() - t0, 1)}))
    info = json.loads(record.read_text()) if record.exists() else {}
    info["epochs"] = {s: {"run": st.epoch, "best": st.best_epoch} for s, st in model.states.items()}
    return model, info


def train_lpm(tuples, preset_name: str, seeds: list[int], knowledge=None, cache: Path | None = None,
              max_epochs: int | None = None) -> dict[int, np.ndarray]:
    """Perturbation embeddings per seed of :func:`fit_lpm`'s model, cached in ``cache`` per seed
    (``<cache>.s<seed>.npz``), so a seed trained once is reused and only missing seeds train."""
    out: dict[int, np.ndarray] = {}
    for s in seeds:
        path = cache.with_suffix(f".s{s}.npz") if cache is not None else None
        if path is not None and path.exists():
            z = np.load(path, allow_pickle=False)
            if list(z["symbols"]) == list(tuples.perturbations):
                out[s] = z["vectors"]
    missing = [s for s in seeds if s not in out]
    if missing:
        model = fit_lpm(tuples, preset_name, missing, knowledge, max_epochs)
        for s in missing:
            out[s] = model.embeddings("perturbations", s)
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cache.with_suffix(f".s{s}.npz"), symbols=np.array(tuples.perturbations), vectors=out[s])
    return {s: out[s] for s in seeds}


def implicit_zeros(tuples, contexts=None, ratio: float = 1.0, seed: int = 0):
    """The set with the zeros its top lists imply added (lpm_kg.graph.pull.implicit_zeros, what
    ``implicit_zeros`` in an LPM config does in training): a top list says of every readout it does
    not list that it was not among the top. Trained on the listed values alone, the LPM never learns
    which genes a knock-down leaves unchanged. ``contexts``: the top-list contexts (default all)."""
    from lpm_kg.graph.pull import TupleSet
    from lpm_kg.graph.pull import implicit_zeros as zeros_of

    extra = zeros_of(tuples, tuples.contexts if contexts is None else contexts, ratio, seed)
    cat = [np.concatenate([a, z.astype(a.dtype)]) for a, z in
           zip((tuples.perturbation, tuples.readout, tuples.context, tuples.value), extra)]
    return TupleSet(*cat, tuples.perturbations, tuples.readouts, tuples.contexts, tuples.datasets)


TOP_LISTS = {"replogle"}  # sets whose values are top lists: the LPM trains with implicit zeros


def embedding_map(embeddings: dict[int, np.ndarray], rows: list[int]) -> np.ndarray:
    """Cosine of centred embeddings, averaged over seeds."""
    return np.mean([centred_cosine(e[rows]) for e in embeddings.values()], axis=0)


def prior_map(knowledge, genes: list[str]) -> np.ndarray:
    from lpm_kg.priors import PriorSpec, fit_gene_priors

    priors = fit_gene_priors(knowledge, PriorSpec())
    v = np.stack([priors.vector(g) if priors.vector(g) is not None else np.zeros(priors.vectors.shape[1])
                  for g in genes])
    sim = cosine_matrix(v)  # a gene without a relation has no direction: NaN
    return sim


def target_prior_map(knowledge, symbols: list[str]) -> np.ndarray:
    """The graph LPM's compound input without a measurement: each compound's annotated targets'
    gene priors averaged, centred over the compounds, cosine; NaN (ranks last) for a compound
    none of whose targets has a prior. What the graph LPM's map owes to the targets alone."""
    from lpm_kg.priors import PriorSpec, fit_gene_priors
    from lpm_kg.symbols import parse_perturbation

    priors = fit_gene_priors(knowledge, PriorSpec())
    rows = []
    for s in symbols:
        compound = parse_perturbation(s, lambda g: g).compound
        found = [v for v in (priors.vector(g) for g in knowledge.compound_targets.get(compound, [])) if v is not None]
        rows.append(np.mean(found, axis=0) if found else np.full(priors.vectors.shape[1], np.nan))
    v = np.array(rows, np.float64)
    ok = np.isfinite(v).all(axis=1)
    sim = np.full((len(symbols), len(symbols)), np.nan)
    sim[np.ix_(ok, ok)] = centred_cosine(v[ok])
    log(f"  target priors: {int(ok.sum())} of {len(symbols)} compounds have a target with a gene prior")
    return sim


# --------------------------------------------------------------------------- part 1

def one_perturbation_per_gene(targets: dict[str, str]) -> tuple[list[str], list[str]]:
    """(perturbation symbols, their genes), sorted by symbol; of two perturbations of one gene the
    first is kept (stated in the output)."""
    symbols, seen = [], set()
    for s in sorted(targets):
        if targets[s] not in seen:
            seen.add(targets[s])
            symbols.append(s)
    return symbols, [targets[s] for s in symbols]


def run_genes(name: str, args, refs: dict) -> dict:
    tuples, _ = build(name, 0)
    targets = genetic_targets(tuples)
    symbols, genes = one_perturbation_per_gene(targets)
    index = {s: k for k, s in enumerate(tuples.perturbations)}
    rows = [index[s] for s in symbols]
    log(f"{name}: {len(genes)} perturbed genes, {len(tuples):,} tuples, contexts {tuples.contexts}")
    shared = {k: _network(k, genes, v) for k, v in raw_maps(tuples, symbols).items()}
    train = implicit_zeros(tuples) if name in TOP_LISTS else tuples
    tag = f"{name}-zeros" if name in TOP_LISTS else name
    lpm = train_lpm(train, PRESET[name], args.seeds, cache=args.cache / f"{tag}-lpm.npz", max_epochs=args.max_epochs)
    shared["lpm"] = _network("lpm", genes, embedding_map(lpm, rows))
    if name in TOP_LISTS:  # the same LPM trained on the listed values alone, for the record
        listed = train_lpm(tuples, PRESET[name], args.seeds, cache=args.cache / f"{name}-lpm.npz",
                           max_epochs=args.max_epochs)
        shared["lpm-listed-only"] = _network("lpm-listed-only", genes, embedding_map(listed, rows))
    out = {"set": name, "n_genes": len(genes), "contexts": list(tuples.contexts), "references": [],
           "implicit_zeros": name in TOP_LISTS}
    strict = None
    if "strict" in args.graph:  # one graph LPM whose priors none of the scored references fed
        kn = knowledge_without(set(SCORED.values()))
        strict = (_network("graph-lpm-strict", genes, embedding_map(
            train_lpm(train, PRESET[name], args.seeds, knowledge=kn, cache=args.cache / f"{tag}-graph-lpm-strict.npz",
                      max_epochs=args.max_epochs), rows)), _network("priors-strict", genes, prior_map(kn, genes)))
    for ref, (universe, pairs) in refs.items():
        maps = dict(shared)
        if ref in args.graph:  # a graph LPM whose priors leave out only the reference scored
            kn = knowledge_without({SCORED[ref]})
            graph = train_lpm(train, PRESET[name], args.seeds, knowledge=kn,
                              cache=args.cache / f"{tag}-graph-lpm-no-{ref}.npz", max_epochs=args.max_epochs)
            maps["graph-lpm"] = _network("graph-lpm", genes, embedding_map(graph, rows))
            maps["priors"] = _network("priors", genes, prior_map(kn, genes))
        if strict is not None:
            maps["graph-lpm-strict"], maps["priors-strict"] = strict
        t0 = time.perf_counter()
        report = relations.score_maps(maps, pairs, ref, universe=universe, n_null=args.null, seed=0)
        comps = pd.concat([relations.compare(report, leader) for leader in LEADERS if leader in maps],
                          ignore_index=True)
        log(f"  {ref}: {report.info['genes']} genes, {report.table['n_known'].iloc[0]} known pairs, "
            f"scored in {time.perf_counter() - t0:.1f} s")
        print(report.table[["map", "tail_recall", "tail_recall_null", "tail_recall_p", "auprc", "auprc_null",
                            "auprc_p", "gene_ap"]].to_string(index=False), flush=True)
        out["references"].append({
            "reference": ref, "table": frame_records(report.table),
            "compare": frame_records(comps), "info": report.info,
            "curve_x": report.curve_x.tolist(), "curves": {k: v.tolist() for k, v in report.curves.items()},
            "null_band": {k: v.tolist() for k, v in report.null_band.items()},
            "left_out_of_priors": SCORED[ref]})
    return out


LOWRANK_K = (8, 16, 32, 64, 128, 256)


def lowrank_maps(tuples, symbols: list[str]) -> dict[str, np.ndarray]:
    """``raw-concat`` and, per k of LOWRANK_K (below the number of genes), the cosines of its first k
    principal components: ``pca<k>`` scaled by their singular values (the best rank-k
    approximation of the signatures), ``pca<k>-white`` unscaled (every direction weighs alike)."""
    index = {s: k for k, s in enumerate(tuples.perturbations)}
    x = np.concatenate([np.nan_to_num(m) for _, _, m in profile_matrices(tuples, [index[s] for s in symbols])], axis=1)
    u, sv, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    out = {"raw-concat": cosine_matrix(x)}
    for k in (k for k in LOWRANK_K if k < len(symbols)):
        out[f"pca{k}"] = cosine_matrix(u[:, :k] * sv[:k])
        out[f"pca{k}-white"] = cosine_matrix(u[:, :k])
    return out


def run_lowrank(name: str, args, refs: dict) -> dict:
    tuples, _ = build(name, 0)
    symbols, genes = one_perturbation_per_gene(genetic_targets(tuples))
    maps = {k: _network(k, genes, v) for k, v in lowrank_maps(tuples, symbols).items()}
    out = {"set": name, "n_genes": len(genes), "contexts": list(tuples.contexts), "references": []}
    for ref, (universe, pairs) in refs.items():
        report = relations.score_maps(maps, pairs, ref, universe=universe, n_null=args.null, seed=0)
        out["references"].append({"reference": ref, "table": frame_records(report.table),
                                  "compare": frame_records(relations.compare(report, "raw-concat"))})
        log(f"  {name} {ref}: scored {len(maps)} maps on {report.info['genes']} genes")
    return out


# --------------------------------------------------------------------------- part 2

_SALTS = ("calcium", "sodium", "potassium", "hydrochloride", "hcl", "mesylate", "maleate", "malate", "tosylate",
          "citrate", "sulfate", "tartrate", "fumarate", "acetate", "phosphate", "besylate", "succinate")


def match_key(name: str) -> str:
    """Letters and digits only, a trailing salt word dropped: 'ABT-199' and 'abt199' meet, and
    'pitavastatin-calcium' meets 'pitavastatin' (the salt form of one drug is that drug)."""
    words = re.split(r"[^a-z0-9]+", str(name).lower())
    while len(words) > 1 and (words[-1] in _SALTS or not words[-1]):
        words.pop()
    return "".join(words)


def compound_moas() -> dict[str, list[str]]:
    """match_key of a compound's name or any alias -> its MOAs (lower case), the Drug Repurposing
    Hub and LINCS united (a key two records share gets the union)."""
    out: dict[str, set] = {}
    for fmt, rel in REFERENCES:
        if fmt not in ("repurposing-hub", "lincs-compounds"):
            continue
        for r in _read(fmt, rel).compounds.itertuples():
            if len(r.moa):
                for name in [r.name, *r.aliases]:
                    out.setdefault(match_key(name), set()).update(str(m).strip().lower() for m in r.moa)
    return {k: sorted(v) for k, v in out.items()}


def run_moa(name: str, args, moas: dict) -> dict:
    tuples, _ = build(name, 0)
    symbols = [s for s in tuples.perturbations if s.lower() != "control"]
    labelled = [s for s in symbols if moas.get(match_key(s))]
    index = {s: k for k, s in enumerate(tuples.perturbations)}
    rows = [index[s] for s in symbols]
    log(f"{name}: {len(symbols)} compounds, {len(labelled)} with a MOA")
    maps = {k: (symbols, v) for k, v in raw_maps(tuples, symbols).items()}
    lpm = train_lpm(tuples, PRESET[name], args.seeds, cache=args.cache / f"{name}-lpm.npz", max_epochs=args.max_epochs)
    maps["lpm"] = (symbols, embedding_map(lpm, rows))
    if args.graph:
        kn = knowledge_without(set(), annotations=("HAS_TARGET",))
        graph = train_lpm(tuples, PRESET[name], args.seeds, knowledge=kn, cache=args.cache / f"{name}-graph-lpm-no-moa.npz",
                          max_epochs=args.max_epochs)
        maps["graph-lpm"] = (symbols, embedding_map(graph, rows))
        maps["target-priors"] = (symbols, target_prior_map(kn, symbols))
    labels = {s: moas[match_key(s)] for s in labelled}
    report = mechanisms.score_retrieval(maps, labels, n_null=args.moa_null)
    comps = pd.concat([mechanisms.compare(report, leader) for leader in LEADERS if leader in maps], ignore_index=True)
    print(report.table.to_string(index=False), flush=True)
    print(comps.to_string(index=False), flush=True)
    return {"set": name, "n_compounds": len(symbols), "table": frame_records(report.table),
            "compare": frame_records(comps), "info": report.info}


# --------------------------------------------------------------------------- part 3

def pooled_tuples(names: list[str]):
    """The sets ``names`` as one TupleSet (contexts stay apart; a symbol two sets share is one
    perturbation)."""
    from lpm_kg.eval.benchmark import tuples_from_frame

    frames = []
    for name in names:
        t = build(name, 0)[0]
        frames.append(pd.DataFrame({"perturbation": np.asarray(t.perturbations, dtype=object)[t.perturbation],
                                    "readout": np.asarray(t.readouts, dtype=object)[t.readout],
                                    "context": np.asarray(t.contexts, dtype=object)[t.context], "value": t.value}))
    return tuples_from_frame(pd.concat(frames, ignore_index=True), "pooled")


def one_per_gene(tuples, targets: dict[str, str]) -> list[str]:
    """One perturbation symbol per gene: the one with the most measurements (a gene knocked down by
    CRISPRi in one set and by shRNA in another keeps its larger set; the count of such genes is
    reported)."""
    counts = np.bincount(tuples.perturbation, minlength=len(tuples.perturbations))
    best: dict[str, str] = {}
    index = {s: k for k, s in enumerate(tuples.perturbations)}
    for sym, gene in sorted(targets.items()):
        if gene not in best or counts[index[sym]] > counts[index[best[gene]]]:
            best[gene] = sym
    return sorted(best.values())


def score_references(maps: dict, genes: list[str], refs: dict, n_null: int, leaders: dict[str, list[str]]) -> list[dict]:
    """The network parts' scoring: per reference, every map over the perturbed genes it knows
    (raw-mean's unscored pairs rank last), ``leaders`` (map -> maps it is paired with over genes),
    and how many pairs, and known pairs, raw-mean cannot score (what imputation can add at most)."""
    out = []
    for ref, (universe, pairs) in refs.items():
        genes_ref = sorted(set(genes) & set(universe))
        report = relations.score_maps(maps, pairs, ref, genes=genes_ref, n_null=n_null, seed=0)
        comps = pd.concat([relations.compare(report, leader, others) for leader, others in leaders.items()],
                          ignore_index=True)
        print(report.table[["map", "n_known", "tail_recall", "tail_recall_p", "auprc", "auprc_null", "auprc_p",
                            "gene_ap"]].to_string(index=False), flush=True)
        at = [maps["raw-mean"].genes.index(g) for g in genes_ref]
        raw_ref = maps["raw-mean"].scores[np.ix_(at, at)]
        pos = {g: k for k, g in enumerate(genes_ref)}
        unscored = int(np.isnan(raw_ref).sum() - len(genes_ref)) // 2
        known_unscored = sum(1 for a, b in pairs if a in pos and b in pos and np.isnan(raw_ref[pos[a], pos[b]]))
        out.append({"reference": ref, "table": frame_records(report.table),
                    "compare": frame_records(comps),
                    "raw_unscored_pairs": unscored, "known_unscored_pairs": known_unscored, "info": report.info,
                    "curve_x": report.curve_x.tolist(), "curves": {k: v.tolist() for k, v in report.curves.items()},
                    "null_band": {k: v.tolist() for k, v in report.null_band.items()}})
    return out


def run_network(args, refs: dict) -> dict:
    names = GENE_SETS
    tuples = pooled_tuples(names)
    targets = genetic_targets(tuples)
    symbols = one_per_gene(tuples, targets)
    genes = [targets[s] for s in symbols]
    twice = len(targets) - len(symbols)
    log(f"network: {' + '.join(names)} pooled, {len(genes)} perturbed genes ({twice} perturbed in both sets), "
        f"{len(tuples):,} tuples, contexts {tuples.contexts}")
    train = implicit_zeros(tuples, [c for c in tuples.contexts if c.startswith("Replogle")])  # the top-list set's
    model, training = load_or_fit(train, PRESET[names[0]], args.seeds, args.cache / f"network-{'-'.join(names)}",
                                  args.max_epochs, args.lpm)
    t0 = time.perf_counter()
    sims, counts = imputed_maps(tuples, symbols, model)
    seconds = time.perf_counter() - t0
    raw = sims["raw-mean"]
    sims["imputed-shared-pairs"] = np.where(np.isfinite(raw), sims["imputed"], np.nan)
    # Measured evidence first, imputation only where a pair has none (lpm-kg network's observed-first).
    sims["observed-first"], fill = observed_first(raw, sims["imputed"])
    sims.update(lpm_maps(model, symbols, targets, args.seeds))
    maps = {k: _network(k, genes, v) for k, v in sims.items()}
    out = {"sets": names, "lpm_settings": args.lpm, "n_genes": len(genes), "genes_in_both": twice,
           "contexts": list(tuples.contexts), "seconds_imputing": round(seconds, 1), "training": training,
           "observed_first": fill, **counts}
    leaders = {"imputed": ["raw-mean"], "observed-first": ["raw-mean", "imputed"]}
    if "lpm-shared" in sims:
        leaders["lpm-shared"] = ["raw-mean", "observed-first", "lpm"]
    out["references"] = score_references(maps, genes, refs, args.null, leaders)
    return out


def lpm_maps(model, symbols: list[str], targets: dict[str, str], seeds: list[int]) -> dict[str, np.ndarray]:
    """The LPM's own maps of ``symbols``: ``lpm``, its embeddings' centred cosine (seeds averaged),
    and, for a model with the context-free term, ``lpm-shared``: its effects correlated, as
    ``lpm-kg network --method shared-effect`` computes them."""
    rows = [model.vocab.perturbations.index(x) for x in symbols]
    out = {"lpm": np.mean([centred_cosine(model.embeddings("perturbations", s)[rows]) for s in seeds], axis=0)}
    if model.has_shared_term:
        net = shared_effect_correlation(symbols, model.shared_effects(rows), targets)
        at = [net.genes.index(targets[x]) for x in symbols]  # its genes come sorted; the maps follow symbols
        out["lpm-shared"] = net.scores[np.ix_(at, at)]
    return out


def mask_one_context(tuples, rows: list[int], seed: int) -> tuple[np.ndarray, dict]:
    """Rows of ``tuples`` kept when each perturbation of ``rows`` measured in several contexts keeps
    one of them, chosen at random (seeded): pairs that land in different contexts are then never
    measured together, as in a graph of screens that barely overlap."""
    rng = np.random.default_rng(seed)
    keep = np.ones(len(tuples), bool)
    kept_in = {}
    for p in rows:
        m = tuples.perturbation == p
        contexts = np.unique(tuples.context[m])
        if len(contexts) > 1:
            c = int(rng.choice(contexts))
            keep &= ~(m & (tuples.context != c))
            kept_in[p] = c
        elif len(contexts):
            kept_in[p] = int(contexts[0])
    counts = np.bincount(list(kept_in.values()), minlength=len(tuples.contexts))
    return keep, {"kept_in": {tuples.contexts[c]: int(n) for c, n in enumerate(counts) if n}}


def mean_profiles(tuples, rows: list[int]) -> np.ndarray:
    """Each perturbation of ``rows``'s profile (centred per context, as in :func:`profile_matrices`)
    averaged over the contexts it was measured in: [rows, all readouts], NaN for a readout none of
    its contexts has."""
    total = np.zeros((len(rows), len(tuples.readouts)))
    count = np.zeros_like(total)
    for _, readouts, mat in profile_matrices(tuples, rows):
        have = np.isfinite(mat)
        total[:, readouts] += np.where(have, mat, 0.0)
        count[:, readouts] += have
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def cross_context_map(tuples, symbols: list[str]) -> np.ndarray:
    """What a user without a model can do for two genes never measured in one context: compare
    their profiles across contexts (:func:`mean_profiles`), every pair's cosine over the readouts
    both have."""
    from lpm_kg.discovery.inference import shared_cosine

    index = {s: k for k, s in enumerate(tuples.perturbations)}
    profiles = mean_profiles(tuples, [index[s] for s in symbols])
    return shared_cosine(profiles, profiles, min_shared=3)


def hidden_accuracy(full: list, found: list, filled: list) -> dict:
    """How well the hidden experiments are recovered, without any reference: per hidden (gene,
    context), the Pearson r with its measured profile (``full``: :func:`profile_matrices` of the
    unmasked set) of the LPM's imputed profile and of the gene's profile in the context it kept
    (the no-model transfer: copy the other cell line), over the readouts all three share; the two
    paired over experiments (one-sided Wilcoxon both ways)."""
    from lpm_kg.eval.stats import wilcoxon_greater

    def r(a, b):
        a, b = a - a.mean(), b - b.mean()
        den = np.sqrt((a ** 2).sum() * (b ** 2).sum())
        return float(a @ b / den) if den > 0 else np.nan

    imputed, copied = [], []
    for k, (_, readouts_full, truth) in enumerate(full):
        _, readouts_here, mat_here = found[k]
        other = [j for j in range(len(found)) if j != k]
        hidden = np.flatnonzero(np.isnan(mat_here).any(axis=1) & ~np.isnan(truth).any(axis=1))
        for row in hidden:
            kept = [j for j in other if not np.isnan(found[j][2][row]).any()]
            if not kept:
                continue
            _, readouts_kept, mat_kept = found[kept[0]]
            common = np.intersect1d(np.intersect1d(readouts_full, readouts_here), readouts_kept)
            at = lambda ids: np.searchsorted(ids, common)  # noqa: E731
            t = truth[row, at(readouts_full)]
            imputed.append(r(filled[k][row, at(readouts_here)], t))
            copied.append(r(mat_kept[row, at(readouts_kept)], t))
    a, b = np.array(imputed), np.array(copied)
    ok = np.isfinite(a) & np.isfinite(b)
    pg, pl = wilcoxon_greater(a[ok], b[ok]), wilcoxon_greater(b[ok], a[ok])
    return {"n": int(ok.sum()), "imputed_r": float(a[ok].mean()), "copy_r": float(b[ok].mean()),
            "p_imputed_better": pg, "p_imputed_worse": pl,
            "verdict": verdict(pg, pl, difference=float(np.mean(a[ok] - b[ok]))),
            # per hidden experiment, in a fixed order (context, then row): another LPM's run on the
            # same mask pairs with these (--paired-with)
            "imputed_per_experiment": [float(x) for x in a]}


def paired_lpms(accuracy: dict, other: dict) -> dict:
    """This run's imputed r per hidden experiment against another LPM's on the same mask (paired
    Wilcoxon both ways)."""
    from lpm_kg.eval.stats import wilcoxon_greater

    a, b = np.array(accuracy["imputed_per_experiment"]), np.array(other["imputed_per_experiment"])
    if len(a) != len(b):
        raise SystemExit("--paired-with: that run hid other experiments (another mask seed?)")
    ok = np.isfinite(a) & np.isfinite(b)
    pg, pl = wilcoxon_greater(a[ok], b[ok]), wilcoxon_greater(b[ok], a[ok])
    return {"n": int(ok.sum()), "this_r": float(a[ok].mean()), "other_r": float(b[ok].mean()),
            "p_better": pg, "p_worse": pl, "verdict": verdict(pg, pl, difference=float(np.mean(a[ok] - b[ok])))}


def run_masked_network(args, refs: dict) -> dict:
    """Replogle's K562 and RPE1 screens with each gene kept in one of the two (seeded at random):
    half the pairs of genes are then never measured in a shared context, the case the paper's
    route is for. Maps: ``raw-mean`` of what is left (those pairs rank last), ``raw-cross``
    (observed-first filled from cross-context cosines: the no-model way to score them), ``imputed``
    and ``observed-first`` from an LPM trained on what is left, and ``raw-full``, the raw map of
    the unmasked screens: the ceiling, what the hidden experiments would have said."""
    tuples = pooled_tuples(["replogle"])
    targets = genetic_targets(tuples)
    symbols = one_per_gene(tuples, targets)
    genes = [targets[s] for s in symbols]
    index = {s: k for k, s in enumerate(tuples.perturbations)}
    keep, kept = mask_one_context(tuples, [index[s] for s in symbols], args.mask_seed)
    masked = tuples.rows(keep)
    log(f"masked network: replogle, {len(genes)} genes, each kept in one context {kept['kept_in']}; "
        f"{len(masked):,} of {len(tuples):,} tuples")
    train = implicit_zeros(masked, list(masked.contexts))
    model, training = load_or_fit(train, PRESET["replogle"], args.seeds,
                                  args.cache / f"network-masked{args.mask_seed}-replogle", args.max_epochs, args.lpm)
    t0 = time.perf_counter()
    found, filled, counts = imputed_profiles(masked, symbols, model)
    seconds = time.perf_counter() - t0
    raw = mean_of(context_cosines([mat for _, _, mat in found]))
    sims = {"raw-mean": raw, "imputed": mean_of(context_cosines(filled))}
    accuracy = hidden_accuracy(profile_matrices(tuples, [index[s] for s in symbols]), found, filled)
    log(f"  hidden experiments: imputed r {accuracy['imputed_r']:.3f}, the other cell line's profile "
        f"r {accuracy['copy_r']:.3f} ({accuracy['verdict']})")
    if args.paired_with:
        other = json.loads((RESULTS / args.paired_with).with_suffix(".json").read_text())["masked_network"]
        if other["mask_seed"] != args.mask_seed:
            raise SystemExit(f"--paired-with {args.paired_with}: mask seed {other['mask_seed']}, not {args.mask_seed}")
        accuracy["against"] = {"stem": args.paired_with, "lpm_settings": other.get("lpm_settings", {}),
                               **paired_lpms(accuracy, other["hidden_accuracy"])}
        log(f"  against {args.paired_with}'s LPM: r {accuracy['against']['this_r']:.3f} vs "
            f"{accuracy['against']['other_r']:.3f} ({accuracy['against']['verdict']})")
    sims["observed-first"], fill = observed_first(raw, sims["imputed"])
    sims["raw-cross"], fill_raw = observed_first(raw, cross_context_map(masked, symbols))
    sims["raw-full"] = raw_maps(tuples, symbols)["raw-mean"]
    sims.update(lpm_maps(model, symbols, targets, args.seeds))
    leaders = {"observed-first": ["raw-mean", "raw-cross", "imputed"], "raw-full": ["observed-first"]}
    if "lpm-shared" in sims:
        leaders["lpm-shared"] = ["raw-cross", "observed-first", "lpm"]
    maps = {k: _network(k, genes, v) for k, v in sims.items()}
    out = {"sets": ["replogle"], "mask_seed": args.mask_seed, "lpm_settings": args.lpm, "n_genes": len(genes), **kept,
           "contexts": list(tuples.contexts), "tuples": len(tuples), "tuples_kept": len(masked),
           "seconds_imputing": round(seconds, 1), "training": training, "observed_first": fill,
           "raw_cross_fill": fill_raw, "hidden_accuracy": accuracy, **counts}
    out["references"] = score_references(maps, genes, refs, args.null, leaders)
    return out


# --------------------------------------------------------------------------- output

def _p(p) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    # 0 is below what was kept: results written before lpm_kg.jsonsafe.frame_records lost p values
    # under 5e-11 to DataFrame.to_json's 10 decimals; since then only an underflow gives 0.
    return "<1e-10" if p == 0 else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


RELATION_HEADER = ["| reference | genes | known pairs | map | tail recall | null | p | AUPRC | null | p | gene AP |",
                   "|---|---|---|---|---|---|---|---|---|---|---|"]


def _against(net: dict) -> str:
    a = net["hidden_accuracy"].get("against")
    if not a:
        return ""
    settings = ", ".join(f"{k} = {v}" for k, v in a["lpm_settings"].items()) or "the preset"
    return (f"Against the LPM of `{a['stem']}` ({settings}) on the same hidden experiments: r {a['this_r']:.3f} vs "
            f"{a['other_r']:.3f} ({a['verdict']}, paired p {_p(a['p_better'])} better, {_p(a['p_worse'])} worse). ")


def _verdict(c: dict) -> str:
    """A win needs the mean on the leader's side too (lpm_kg.eval.stats.verdict)."""
    leader, other = (c["ap_leader"], c["ap_other"]) if "ap_leader" in c else (c["gene_ap_leader"], c["gene_ap_other"])
    return verdict(c["p_better"], c["p_worse"], 0.05, leader - other)


def relation_rows(references: list[dict]) -> list[str]:
    """One markdown row per (reference, map) of a relation scoring."""
    return [f"| {r['reference']} | {row['n_genes']} | {row['n_known']} | {row['map']} | {row['tail_recall']:.3f} | "
            f"{row['tail_recall_null']:.3f} | {_p(row['tail_recall_p'])} | {row['auprc']:.4f} | {row['auprc_null']:.4f} | "
            f"{_p(row['auprc_p'])} | {row['gene_ap']:.4f} |" for r in references for row in r["table"]]


def compare_rows(references: list[dict], keep=lambda c: True) -> list[str]:
    """One markdown row per paired comparison (per-gene AP) kept by ``keep``."""
    return [f"| {r['reference']} | {c['leader']} | {c['other']} | {c['n_genes']} | {c['gene_ap_leader']:.4f} | "
            f"{c['gene_ap_other']:.4f} | {_p(c['p_better'])} | {_p(c['p_worse'])} | {_verdict(c)} |"
            for r in references for c in r["compare"] if keep(c)]


COMPARE_HEADER = ["| reference | leader | against | genes | leader AP | other AP | p better | p worse | verdict |",
                  "|---|---|---|---|---|---|---|---|---|"]


def markdown(result: dict) -> str:
    lines = ["# Discoveries against raw signatures and nulls", "",
             f"Measured {result['meta']['date']} on {result['meta']['machine']}, LPM seeds {result['meta']['seeds']}; "
             "`python benchmarks/bench_discovery.py` (its docstring says what each map and score is).", ""]
    for g in result.get("genes", []):
        lines += [f"## Gene relationships: {g['set']} ({g['n_genes']} perturbed genes; {', '.join(g['contexts'])})", "",
                  "Tail recall: share of known pairs in the top or bottom 5 % of all pairs (a map that knows nothing: "
                  "0.10). Null: 200 degree-preserving rewirings of the reference; p = share of rewirings scoring as "
                  "high. Gene AP: mean over genes of the AP of a gene's known partners.", "", *RELATION_HEADER,
                  *relation_rows(g["references"]),
                  "", "Paired over genes (per-gene AP, one-sided Wilcoxon; a tie unless p < 0.05 either way); "
                  "the graph LPM and the priors of each row leave the scored reference out:", "", *COMPARE_HEADER,
                  *compare_rows(g["references"], lambda c: c["other"].startswith(("raw", "priors", "lpm-listed"))), ""]
    for g in result.get("lowrank", []):
        lines += [f"## A ceiling for learned embeddings: {g['set']}'s raw signatures compressed ({g['n_genes']} genes)",
                  "", "`pca<k>`: the cosines of the first k principal components of the raw-concat profiles, scaled by "
                  "their singular values; `-white`: unscaled. Null and p as above.", "", *RELATION_HEADER,
                  *relation_rows(g["references"]), "", "Paired over genes (per-gene AP) against raw-concat:", "",
                  *COMPARE_HEADER, *compare_rows(g["references"]), ""]
    for m in result.get("moa", []):
        lines += [f"## Compound mechanisms: {m['set']} ({m['n_compounds']} compounds, "
                  f"{m['table'][0]['n_compounds']} with a MOA, {m['info']['n_moas']} MOAs)", "",
                  "| map | queries | mAP | null mAP | p | recall@1 | recall@5 | recall@10 |", "|---|---|---|---|---|---|---|---|"]
        for row in m["table"]:
            lines.append(f"| {row['map']} | {row['n_queries']} | {row['map_score']:.3f} | {row['map_null']:.3f} | "
                         f"{_p(row['p_value'])} | {row['recall@1']:.3f} | {row['recall@5']:.3f} | {row['recall@10']:.3f} |")
        lines += ["", "| leader | against | queries | leader AP | other AP | p better | p worse | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in m["compare"]:
            lines.append(f"| {c['leader']} | {c['other']} | {c['n_queries']} | {c['ap_leader']:.3f} | "
                         f"{c['ap_other']:.3f} | {_p(c['p_better'])} | {_p(c['p_worse'])} | {_verdict(c)} |")
        lines.append("")
    net = result.get("network")
    if net:
        lines += [f"## Networks by the paper's route: {' + '.join(net['sets'])} pooled "
                  f"({net['n_genes']} perturbed genes, {net['genes_in_both']} in both; contexts {', '.join(net['contexts'])})",
                  "", f"The LPM trained on all of it imputed {net['experiments_imputed']} unmeasured (genetic perturbation, "
                  f"context) experiments beside {net['experiments_measured']} measured ones in {net['seconds_imputing']} s. "
                  "`imputed`: per-context cosines of the observed-plus-imputed profiles averaged over every context; "
                  "`raw-mean`: over the contexts both genes were measured in (a pair never measured in a shared "
                  "context scores nothing and ranks last); `imputed-shared-pairs`: the imputed map on raw's pairs "
                  "only; `observed-first`: raw-mean where it scores a pair, elsewhere the imputed score placed on "
                  "raw's scale (an isotonic fit of raw on imputed over the pairs both score; no reference used; "
                  "`lpm-kg network --method observed-first`); `lpm`: the pooled model's embeddings"
                  + (f" (LPM settings {net['lpm_settings']}; `lpm-shared`: its context-free effects correlated, "
                     "`lpm-kg network --method shared-effect`)" if net.get("lpm_settings") else "")
                  + ". Pairs raw cannot score (known among them): "
                  + ", ".join(f"{r['reference']} {r['raw_unscored_pairs']} ({r.get('known_unscored_pairs', 'n/a')})"
                              for r in net["references"]) + ".", "",
                  *RELATION_HEADER, *relation_rows(net["references"]), "", *COMPARE_HEADER,
                  *compare_rows(net["references"]), ""]
    net = result.get("masked_network")
    if net:
        lines += [f"## Networks where screens barely overlap: {' + '.join(net['sets'])}, each gene kept in one context "
                  f"(mask seed {net['mask_seed']}; genes per context {net['kept_in']})", "",
                  f"{net['n_genes']} genes; {net['tuples_kept']:,} of {net['tuples']:,} tuples kept; the LPM "
                  f"({', '.join(f'{k} = {v}' for k, v in net.get('lpm_settings', {}).items()) or 'the preset'}) trained "
                  f"on what is left imputed {net['experiments_imputed']} hidden experiments in "
                  f"{net['seconds_imputing']} s. `raw-mean`: the kept screens (a pair kept in different contexts "
                  "scores nothing and ranks last); `raw-cross`: the same, with those pairs scored by the cosine of "
                  "their profiles across contexts (the no-model way), placed on raw's scale like observed-first; "
                  "`imputed` / `observed-first`: as above, from the LPM; `lpm`: its embeddings; `lpm-shared` (an LPM with the shared term): its context-free effects correlated (`lpm-kg network --method shared-effect`); `raw-full`: the unmasked screens, the "
                  "ceiling. The hidden experiments themselves, against their measured profiles (Pearson r over "
                  "shared readouts, no reference): the LPM's imputation "
                  f"{net['hidden_accuracy']['imputed_r']:.3f}, the gene's profile in the other cell line "
                  f"{net['hidden_accuracy']['copy_r']:.3f} over {net['hidden_accuracy']['n']} experiments "
                  f"({net['hidden_accuracy']['verdict']} for the LPM, p {_p(net['hidden_accuracy']['p_imputed_better'])} "
                  f"better, {_p(net['hidden_accuracy']['p_imputed_worse'])} worse). " + _against(net) +
                  "Pairs raw-mean cannot score (known among them): "
                  + ", ".join(f"{r['reference']} {r['raw_unscored_pairs']} ({r['known_unscored_pairs']})"
                              for r in net["references"]) + ".", "",
                  *RELATION_HEADER, *relation_rows(net["references"]), "", *COMPARE_HEADER,
                  *compare_rows(net["references"]), ""]
    if result.get("times"):
        lines += ["## LPM training times (this machine, one torch thread each)", "", "| model | tuples | seeds | seconds |",
                  "|---|---|---|---|"]
        lines += [f"| {t['model']} | {t['tuples']:,} | {t['seeds']} | {t['seconds']:.0f} |" for t in result["times"]]
        lines.append("")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """Recall of known pairs against the share of pairs taken (best first), per map, with the
    degree-preserving null's 5-95 % band, for every (set, reference) and the pooled network; and
    each compound set's mAP per map beside its null."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(g["set"], r) for g in result.get("genes", []) for r in g["references"]]
    if result.get("network"):
        panels += [("pooled network", r) for r in result["network"]["references"]]
    if result.get("masked_network"):
        panels += [("masked network", r) for r in result["masked_network"]["references"]]
    bars = result.get("moa", [])
    n = len(panels) + len(bars)
    if not n:
        return
    cols = 4
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax, (name, r) in zip(flat, panels):
        x = np.asarray(r["curve_x"])
        keep = x <= 0.2
        band = np.asarray(next(iter(r["null_band"].values())))
        ax.fill_between(x[keep], band[0][keep], band[2][keep], color="0.85", label="null 5-95 %")
        for m, y in r["curves"].items():
            if m.startswith("raw-") and m not in ("raw-mean", "raw-concat", "raw-cross", "raw-full"):
                continue  # one context's raw map: raw-mean and raw-concat stand for them
            ax.plot(x[keep], np.asarray(y)[keep], label=m, lw=1.5)
        ax.set_title(f"{name}: {r['reference']}", fontsize=9)
        ax.set_xlabel("top share of gene pairs")
        ax.set_ylabel("recall of known pairs")
        ax.legend(fontsize=6)
    for ax, m in zip(flat[len(panels):], bars):
        names = [row["map"] for row in m["table"]]
        ax.bar(range(len(names)), [row["map_score"] for row in m["table"]], color="C0", label="mAP")
        ax.scatter(range(len(names)), [row["map_null"] for row in m["table"]], color="k", marker="_", s=300,
                   label="null mAP", zorder=3)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{m['set']}: same-MOA retrieval", fontsize=9)
        ax.legend(fontsize=6)
    for ax in flat[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def merge(stems: list[str]) -> dict:
    """Parts run in parallel (``--out`` each) joined into one result: genes, lowrank and moa by set,
    the network parts, the training times."""
    out: dict = {"genes": [], "lowrank": [], "moa": [], "times": []}
    seeds = {}
    for stem in stems:
        part = json.loads((RESULTS / f"{stem}.json").read_text())
        out["meta"] = dict(part.get("meta", out.get("meta")))
        seeds[stem] = part.get("meta", {}).get("seeds")
        out["meta"]["seeds"] = ", ".join(f"{k}: {v}" for k, v in seeds.items())  # the parts may differ
        for key in ("genes", "lowrank", "moa", "times"):
            out[key] += part.get(key, [])
        for key in ("network", "masked_network"):
            if part.get(key):
                out[key] = part[key]
    return out


def write_result(result: dict, out: Path, with_json: bool = True) -> None:
    """``out``.md and .png from ``result`` (and .json, unless it is where ``result`` was read from)."""
    if with_json:
        out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=float))
    out.with_suffix(".md").write_text(markdown(result))
    plot(result, out.with_suffix(".png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="genes,moa")
    ap.add_argument("--sets", default=None, help="comma-separated (default: every set of the part)")
    ap.add_argument("--references", default=",".join(SCORED))
    ap.add_argument("--seeds", default="13,14,15")
    ap.add_argument("--max-epochs", type=int, default=None)
    ap.add_argument("--null", type=int, default=relations.N_NULL)
    ap.add_argument("--moa-null", type=int, default=mechanisms.N_NULL)
    ap.add_argument("--graph", default="corum,strict",
                    help="graph LPMs to train: a scored reference's name (its priors leave out that reference only) "
                         "and/or strict (none of the scored references feeds the priors); empty for none")
    ap.add_argument("--mask-seed", type=int, default=0, help="--part masked: which context each gene keeps")
    ap.add_argument("--lpm", action="append", default=[], metavar="KEY=VALUE",
                    help="--part masked: an LPM setting over the preset's (JSON value), e.g. shared_rank=32; repeatable")
    ap.add_argument("--paired-with", default=None, metavar="STEM",
                    help="--part masked: an earlier masked result (same mask seed, another LPM) to pair the hidden "
                         "experiments' r with")
    ap.add_argument("--cache", type=Path, default=RESULTS / ".discovery_cache")
    ap.add_argument("--out", default="bench_discovery")
    ap.add_argument("--merge", default=None, help="comma-separated stems of parts to join into --out (no run)")
    ap.add_argument("--report-only", action="store_true", help="write --out's .md and .png again from its .json (no run)")
    args = ap.parse_args()
    if args.report_only:
        out = RESULTS / args.out
        write_result(json.loads(out.with_suffix(".json").read_text()), out, with_json=False)
        log(f"wrote {out.with_suffix('.md')}")
        return
    if args.merge:
        out = RESULTS / args.out
        write_result(merge(args.merge.split(",")), out)
        log(f"wrote {out.with_suffix('.md')}")
        return
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.lpm = parse_settings(args.lpm)
    args.graph = [g for g in args.graph.split(",") if g]
    parts = args.part.split(",")
    out = RESULTS / args.out
    result = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    import platform

    result["meta"] = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                      "seeds": args.seeds}

    def publish():
        write_result(result, out)

    def per_set(key: str, order: list[str], run_one) -> None:
        """Run ``run_one(set)`` for each set asked, publishing after each (a cut-off run keeps them)."""
        done = {r["set"]: r for r in result.get(key, [])}
        for name in (args.sets.split(",") if args.sets else order):
            done[name] = run_one(name)
            result[key] = [done[k] for k in order if k in done]
            publish()

    if "genes" in parts:
        all_refs = reference_pairs()
        refs = {k: all_refs[k] for k in args.references.split(",")}
        per_set("genes", GENE_SETS, lambda name: run_genes(name, args, refs))
    if "lowrank" in parts:
        all_refs = reference_pairs()
        refs = {k: all_refs[k] for k in args.references.split(",")}
        per_set("lowrank", GENE_SETS, lambda name: run_lowrank(name, args, refs))
    if "moa" in parts:
        moas = compound_moas()
        per_set("moa", MOA_SETS, lambda name: run_moa(name, args, moas))
    if "network" in parts:
        all_refs = reference_pairs()
        result["network"] = run_network(args, {k: all_refs[k] for k in args.references.split(",")})
        publish()
    if "masked" in parts:
        all_refs = reference_pairs()
        result["masked_network"] = run_masked_network(args, {k: all_refs[k] for k in args.references.split(",")})
        publish()
    result["times"] = result.get("times", []) + TIMES
    publish()
    log(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
