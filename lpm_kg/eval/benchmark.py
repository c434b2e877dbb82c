"""The benchmark: for each target context and seed, the paper's split, every model fit on the
same training tuples and scored on the same test tuples (docs/lpm-model.md).

::

    df = run_benchmark(tuples, ["SIM-A"], seeds=[0, 1], models=["additive-transfer", "lpm"])
    summary(df)            # mean and std over seeds per (target context, model)

Replicates are averaged first (:func:`lpm_kg.graph.pull.average_replicate_tuples`), as the LPM trains.
The centered metric's reference is the per-(context, readout) mean of each split's training
tuples. Nothing here touches the database: a TupleSet from ``pull_tuples`` or from
:func:`tuples_from_frame` (a long table, e.g. ``lpm_kg.simulate.simulate().measurements``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from lpm_kg.eval.baselines import context_readout_means
from lpm_kg.eval.field_metrics import discrimination_by_context, experiment_metrics, targeted_mask
from lpm_kg.eval.metrics import TOP_K, compute_metrics, metric_columns
from lpm_kg.eval.models import resolve_models
from lpm_kg.eval.split import SPLITS, eligible_target_contexts
from lpm_kg.graph.pull import TupleSet, average_replicate_tuples
from lpm_kg.model import Vocabulary

KEYS = ["target_context", "seed", "model"]


def tuples_from_frame(frame: pd.DataFrame, dataset: str = "frame") -> TupleSet:
    """A TupleSet from a long table with columns perturbation, readout, context, value (symbol
    lists sorted, as ``pull_tuples`` makes them); rows with a non-finite value are dropped."""
    missing = {"perturbation", "readout", "context", "value"} - set(frame.columns)
    if missing:
        raise ValueError(f"the table lacks column(s) {', '.join(sorted(missing))}")
    value = frame["value"].to_numpy(dtype=np.float32)
    keep = np.isfinite(value)
    ids, symbols = {}, {}
    for col in ("perturbation", "readout", "context"):
        codes, uniques = pd.factorize(frame[col].astype(str).to_numpy()[keep], sort=True)
        ids[col], symbols[col] = codes.astype(np.int32), [str(u) for u in uniques]
    return TupleSet(ids["perturbation"], ids["readout"], ids["context"], value[keep], symbols["perturbation"],
                    symbols["readout"], symbols["context"], [dataset])


def _context_ids(tuples: TupleSet, target_contexts, min_perturbations: int) -> list[int]:
    if target_contexts is None:
        found = eligible_target_contexts(tuples, min_perturbations)
        if not found:
            raise ValueError(f"no context has {min_perturbations} perturbations also measured elsewhere; "
                             "lower min_perturbations or name target contexts")
        return found
    out = []
    for t in target_contexts:
        if isinstance(t, str):
            if t not in tuples.contexts:
                raise ValueError(f"unknown target context {t!r}; contexts: {', '.join(tuples.contexts[:10])}")
            out.append(tuples.contexts.index(t))
        else:
            out.append(int(t))
    return out


def _target_name(tuples: TupleSet, target: int) -> str:
    return "all" if target < 0 else tuples.contexts[target]


def run_benchmark(tuples: TupleSet, target_contexts: Sequence[str | int] | None = None,
                  seeds: Sequence[int] = (0,), models: dict[str, Callable] | Sequence[str] | None = None,
                  lpm_config=None, show_progress: bool = True, *,
                  fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), min_perturbations: int = 10,
                  known_only: bool = True, top_k: int = TOP_K, split: str = "context",
                  knowledge=None, drop_targeted: bool = True, discriminate: bool = True,
                  test_contexts: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (target context, seed, model) with the split's sizes, fit/predict seconds and
    every metric of :func:`lpm_kg.eval.metrics.compute_metrics` as columns, plus the mean
    perturbation discrimination (``discrimination``) and top-{top_k} agreement
    (``top_de_overlap``, ``top_de_direction``) of :mod:`lpm_kg.eval.field_metrics`.

    ``target_contexts``: symbols (or ids); None takes every eligible context
    (:func:`eligible_target_contexts` with ``min_perturbations``). ``models``: names from
    :data:`lpm_kg.eval.models.MODELS`, a dict name -> factory returning an unfitted model, or None
    for all. ``lpm_config``: the LPM's :class:`LPMConfig` or preset name (default "small").
    ``drop_targeted``: leave a genetic perturbation's own gene out of every metric (a knockdown
    lowering its target is free for any model that reads the symbol). ``discriminate``: compute
    the discrimination score (one more prediction per model, over each context's test grid).

    ``df.attrs["experiments"]``: one row per (target context, seed, model, test experiment) with
    its per-experiment metrics, for :func:`lpm_kg.eval.stats.paired_tests`.

    ``test_contexts`` (perturbation split only): "train on all, test one set": draw the held-out
    perturbations among those of these contexts and score them there, every other context
    training whole (:func:`lpm_kg.eval.split.split_perturbations`). The rows' target_context is
    then these contexts, joined by "+".
    """
    kind = SPLITS[split]
    if test_contexts is not None and split != "perturbation":
        raise ValueError("test_contexts (train on all, test one set) goes with split='perturbation'")
    tuples = average_replicate_tuples(tuples)
    factories = resolve_models(models, lpm_config, knowledge)
    # The perturbation split holds perturbations out of every context at once: one "target".
    targets = _context_ids(tuples, target_contexts, min_perturbations) if kind.per_context else [-1]
    n_p, n_r, n_c = len(tuples.perturbations), len(tuples.readouts), len(tuples.contexts)
    p, r, c, y = tuples.perturbation, tuples.readout, tuples.context, tuples.value

    vocab = Vocabulary(list(tuples.perturbations), list(tuples.readouts), list(tuples.contexts))
    targeted = targeted_mask(tuples.perturbations, tuples.readouts, p, r) if drop_targeted else np.zeros(len(p), bool)

    def drop(pp, rr):
        return targeted_mask(tuples.perturbations, tuples.readouts, pp, rr) if drop_targeted else None

    bar = None
    if show_progress:
        bar = tqdm(total=len(targets) * len(seeds) * len(factories), desc="benchmark", unit=" fits")
    rows, experiments = [], []
    for target in targets:
        for seed in seeds:
            parts = kind.make(tuples, target, seed, fractions, known_only=known_only, test_contexts=test_contexts)
            tr, va, te = parts.train, parts.val, parts.test
            scored = te & ~targeted
            reference = context_readout_means(r[tr], c[tr], y[tr], n_r, n_c)
            for name, factory in factories.items():
                if bar:
                    bar.set_postfix(context=_target_name(tuples, target), seed=seed, model=name)
                model = factory()
                started, cpu_started = time.perf_counter(), time.process_time()
                model.fit(p[tr], r[tr], c[tr], y[tr], n_p, n_r, n_c, vocab=vocab,
                          val=(p[va], r[va], c[va], y[va]))
                fitted, cpu_fitted = time.perf_counter(), time.process_time()
                pred = model.predict(p[te], r[te], c[te])
                done = time.perf_counter()
                pred = pred[scored[te]]
                args = (y[scored], pred, p[scored], r[scored], c[scored])
                metrics = compute_metrics(*args, reference=reference, top_k=top_k)
                per_exp = experiment_metrics(*args, reference=reference, top_k=top_k)
                if discriminate and len(per_exp):
                    per_exp["discrimination"] = discrimination_by_context(
                        per_exp["p"].to_numpy(), per_exp["c"].to_numpy(), model.predict, y[scored], p[scored],
                        r[scored], c[scored], drop=drop if drop_targeted else None)
                else:
                    per_exp["discrimination"] = np.nan
                extra = {k: float(per_exp[k].mean()) if len(per_exp) else float("nan")
                         for k in metric_columns(top_k, "experiments")}
                key = {"target_context": "+".join(test_contexts) if test_contexts and target < 0 else
                       _target_name(tuples, target), "split": split, "seed": seed, "model": name}
                rows.append({**key, **parts.sizes(), "n_test_perturbations": len(parts.test_perturbations),
                             "n_targeted_dropped": int((te & targeted).sum()),
                             "fit_seconds": fitted - started, "fit_cpu_seconds": cpu_fitted - cpu_started,
                             "predict_seconds": done - fitted, **metrics, **extra})
                per_exp.insert(0, "perturbation", [tuples.perturbations[i] for i in per_exp.pop("p")])
                per_exp.insert(1, "context", [tuples.contexts[i] for i in per_exp.pop("c")])
                for k, v in reversed(key.items()):
                    per_exp.insert(0, k, v)
                experiments.append(per_exp)
                if bar:
                    bar.update(1)
    if bar:
        bar.close()
    df = pd.DataFrame(rows)
    df.attrs["experiments"] = pd.concat(experiments, ignore_index=True) if experiments else pd.DataFrame()
    return df


METRIC_COLUMNS = metric_columns()


def summary(df: pd.DataFrame, by: Sequence[str] = ("target_context", "model"), *, as_text: bool = False,
            digits: int = 3) -> pd.DataFrame:
    """Mean and standard deviation over seeds (and whatever else is not in ``by``) of every metric:
    columns ``<metric>`` (mean) and ``<metric>_std``, plus ``n_seeds``. ``by=("model",)`` pools
    the target contexts too. With ``as_text``, one "mean ± std" string column per metric."""
    by = list(by)
    metrics = [m for m in df.columns if m in METRIC_COLUMNS or m.startswith("pearson_")]
    metrics = list(dict.fromkeys(metrics))
    grouped = df.groupby(by, sort=False)[metrics]
    mean, std = grouped.mean(), grouped.std(ddof=0)  # ddof 0: one seed has std 0, not NaN
    out = mean.join(std.add_suffix("_std"))
    out["n_seeds"] = df.groupby(by, sort=False)["seed"].nunique()
    if as_text:
        text = pd.DataFrame(index=out.index)
        for m in metrics:
            text[m] = [f"{a:.{digits}f} ± {b:.{digits}f}" for a, b in zip(out[m], out[m + "_std"])]
        text["n_seeds"] = out["n_seeds"]
        return text.reset_index()
    return out.reset_index()
