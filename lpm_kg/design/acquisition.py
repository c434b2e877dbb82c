"""The retrospective acquisition benchmark: hide most of a real set's experiments, then round after
round train, suggest a batch, reveal its measurements and retrain; the accuracy reached against the
number of experiments acquired tells whether a strategy learns faster than choosing at random.

Every strategy of one seed starts from the same revealed set and is scored on the same test
experiments, which no strategy can acquire: the still-hidden pool is also scored (the issue asks
for it), but a strategy that acquires the hard experiments leaves an easier pool behind, so only the
fixed test set compares strategies fairly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from lpm_kg.design.learner import EnsembleLearner, candidates
from lpm_kg.design.strategies import get_strategy
from lpm_kg.eval.baselines import context_readout_means
from lpm_kg.eval.metrics import compute_metrics
from lpm_kg.eval.stats import wilcoxon_greater
from lpm_kg.graph.pull import TupleSet
from lpm_kg.model import LPMConfig, Vocabulary


class AcquisitionSetup(BaseModel):
    """One benchmark's settings, saved with its results."""

    start_fraction: float = Field(0.2, gt=0, lt=1, description="share of the experiments revealed at the start")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="share held out as the fixed test set (never acquired)")
    batch_fraction: float = Field(0.05, gt=0, lt=1, description="share of all experiments acquired per round")
    rounds: int = Field(8, ge=1)
    cold_epochs: int = Field(15, ge=1, description="epochs of the first round's training from scratch")
    warm_epochs: int = Field(4, ge=1, description="epochs of each later round, from the previous weights")
    warm_start: bool = True
    k: int = Field(10, ge=1, description="nearest candidates per candidate in the relatedness")
    cross_context: float = Field(0.5, ge=0, le=1)
    budget: int | None = Field(None, ge=1, description="at most this many experiments per context per round")


@dataclass
class Split:
    """Experiment codes (index into ``pair_p``/``pair_c``) of one seed's start."""

    test: np.ndarray
    revealed: np.ndarray
    pool: np.ndarray


def experiments(tuples: TupleSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(experiment code per tuple, perturbation per experiment, context per experiment)."""
    n_c = len(tuples.contexts)
    key = tuples.perturbation.astype(np.int64) * n_c + tuples.context
    uniq, exp = np.unique(key, return_inverse=True)
    return exp.ravel(), uniq // n_c, uniq % n_c


def start_split(n_experiments: int, setup: AcquisitionSetup, seed: int) -> Split:
    order = np.random.default_rng(seed).permutation(n_experiments)
    n_test = max(1, round(setup.test_fraction * n_experiments))
    n_start = max(1, round(setup.start_fraction * n_experiments))
    return Split(np.sort(order[:n_test]), np.sort(order[n_test:n_test + n_start]), np.sort(order[n_test + n_start:]))


def _metrics(learner: EnsembleLearner, tuples: TupleSet, rows: np.ndarray, reference, fixed=None) -> dict[str, float]:
    """The centered r against this round's training means (the paper's metric), RMSE and plain r;
    with ``fixed`` (a reference that stays the same every round), ``pearson_fixed`` too."""
    if not len(rows):
        return {"pearson_centered": float("nan"), "rmse": float("nan")} | (
            {"pearson_fixed": float("nan")} if fixed is not None else {})
    p, r, c, y = tuples.perturbation[rows], tuples.readout[rows], tuples.context[rows], tuples.value[rows]
    pred = learner.predict(p, r, c)
    m = compute_metrics(y, pred, p, r, c, reference=reference)
    out = {"pearson_centered": m["pearson_centered_per_experiment"], "rmse": m["rmse"],
           "pearson": m["pearson_per_experiment"]}
    if fixed is not None:
        out["pearson_fixed"] = compute_metrics(y, pred, p, r, c, reference=fixed)["pearson_centered_per_experiment"]
    return out


def run_strategy(tuples: TupleSet, strategy: str, seed: int, setup: AcquisitionSetup, config: LPMConfig,
                 log: Callable[[str], None] = lambda _m: None) -> list[dict]:
    """One strategy's rounds from one seed's start: a row per round (after its training)."""
    exp, pair_p, pair_c = experiments(tuples)
    split = start_split(len(pair_p), setup, seed)
    by_exp = np.argsort(exp, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(exp, minlength=len(pair_p)))]
    rows_of = lambda codes: np.concatenate([by_exp[bounds[e]:bounds[e + 1]] for e in codes]) if len(codes) \
        else np.zeros(0, np.int64)  # noqa: E731
    context_readouts = {int(c): np.unique(tuples.readout[tuples.context == c]) for c in range(len(tuples.contexts))}
    vocab = Vocabulary(list(tuples.perturbations), list(tuples.readouts), list(tuples.contexts))
    learner = EnsembleLearner(config, vocab, cold_epochs=setup.cold_epochs, warm_epochs=setup.warm_epochs,
                              warm_start=setup.warm_start)
    picker = get_strategy(strategy)
    batch = max(1, round(setup.batch_fraction * len(pair_p)))
    revealed, pool = list(split.revealed), np.asarray(split.pool)
    test_rows = rows_of(split.test)
    # The training means move with every round, and with few experiments revealed their noise is
    # shared by every test deviation from them: on Replogle that alone gave the start a test r of
    # 0.11, against 0.02 from means that stay put. So the test set is also scored against one
    # reference per seed, the means over every experiment outside it (the same for every strategy).
    known = rows_of(np.concatenate([split.revealed, split.pool]))
    fixed = context_readout_means(tuples.readout[known], tuples.context[known], tuples.value[known],
                                  len(tuples.readouts), len(tuples.contexts))
    out = []
    for rnd in range(setup.rounds + 1):
        train_rows = rows_of(np.asarray(revealed))
        p, r, c, y = (a[train_rows] for a in (tuples.perturbation, tuples.readout, tuples.context, tuples.value))
        learner.fit(p, r, c, y)
        reference = context_readout_means(r, c, y, len(tuples.readouts), len(tuples.contexts))
        started = time.perf_counter()
        test = _metrics(learner, tuples, test_rows, reference, fixed)
        hidden = _metrics(learner, tuples, rows_of(pool), reference)
        row = {"strategy": strategy, "seed": seed, "round": rnd, "n_revealed": len(revealed),
               "n_acquired": len(revealed) - len(split.revealed), "n_experiments": len(pair_p),
               "train_seconds": learner.seconds, **{f"test_{k}": v for k, v in test.items()},
               **{f"pool_{k}": v for k, v in hidden.items()}}
        if rnd < setup.rounds and len(pool):
            # Strategies see every unmeasured experiment, the test set's too, and may pick from the
            # pool only: a strategy that saw the pool alone could tell where the test set is (a
            # perturbation with few unmeasured pairs in the pool has its others in the test set).
            unmeasured = np.concatenate([pool, split.test])
            per_perturbation = np.bincount(pair_p[np.asarray(revealed)], minlength=len(tuples.perturbations))
            cands = candidates(learner, pair_p[unmeasured], pair_c[unmeasured], context_readouts,
                               eligible=np.arange(len(unmeasured)) < len(pool),
                               measured=per_perturbation[pair_p[unmeasured]],
                               k=setup.k, cross_context=setup.cross_context)
            picks = [pick.index for pick in picker.select(cands, batch, budget=setup.budget, seed=seed * 1000 + rnd)]
            row["mean_uncertainty_picked"] = float(cands.uncertainty[picks].mean())
            row["mean_uncertainty_pool"] = float(cands.uncertainty[:len(pool)].mean())
            chosen = unmeasured[picks]
            revealed += chosen.tolist()
            pool = np.setdiff1d(pool, chosen)
        row["score_seconds"] = time.perf_counter() - started
        out.append(row)
        log(f"   {strategy} seed {seed} round {rnd}: {row['n_revealed']} revealed, test centered r "
            f"{test['pearson_centered']:.4f} (fixed reference {test['pearson_fixed']:.4f}), rmse {test['rmse']:.4f} "
            f"(train {learner.seconds:.0f}s, "
            f"score {row['score_seconds']:.0f}s)")
    return out


def run_acquisition(tuples: TupleSet, strategies: Sequence[str], seeds: Sequence[int], setup: AcquisitionSetup,
                    config: LPMConfig, log: Callable[[str], None] = lambda _m: None,
                    publish: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
    rows = []
    for seed in seeds:  # seeds outside: a run cut short has every strategy of its first seeds
        for strategy in strategies:
            rows += run_strategy(tuples, strategy, seed, setup, config, log)
            if publish is not None:
                publish(pd.DataFrame(rows))
    return pd.DataFrame(rows)


def experiments_to_reach(curve: pd.DataFrame, target: float, metric: str = "test_pearson_centered") -> float:
    """Experiments acquired when ``curve`` (one strategy, one seed, by round) first reaches
    ``target``, linearly interpolated between rounds; inf if it never does."""
    x, y = curve["n_acquired"].to_numpy(float), curve[metric].to_numpy(float)
    for i in range(len(y)):
        if y[i] >= target:
            if i == 0:
                return x[0]
            return float(x[i - 1] + (x[i] - x[i - 1]) * (target - y[i - 1]) / (y[i] - y[i - 1]))
    return float("inf")


def compare_to_random(frame: pd.DataFrame, metric: str = "test_pearson_centered") -> pd.DataFrame:
    """Per strategy: the share of random's experiments it needs to reach random's final accuracy
    (mean over seeds; the goal is <= 0.6), and a paired one-sided Wilcoxon over (seed, round) of
    its accuracy against random's after the same number of experiments."""
    out = []
    for strategy, grp in frame.groupby("strategy"):
        if strategy == "random":
            continue
        shares, diffs = [], []
        for seed, cur in grp.groupby("seed"):
            rnd = frame[(frame.strategy == "random") & (frame.seed == seed)].sort_values("round")
            if rnd.empty:
                continue
            cur = cur.sort_values("round")
            final = rnd.iloc[-1]
            need = experiments_to_reach(cur, final[metric], metric)
            shares.append(need / final["n_acquired"] if final["n_acquired"] else float("nan"))
            merged = cur.merge(rnd, on="round", suffixes=("", "_random"))
            merged = merged[merged["round"] > 0]  # round 0 is the same start for every strategy
            diffs += list(zip(merged[metric], merged[f"{metric}_random"]))
        a = np.array([d[0] for d in diffs])
        b = np.array([d[1] for d in diffs])
        out.append({"strategy": strategy, "n_seeds": len(shares), "share_of_random": float(np.mean(shares))
                    if shares else float("nan"), "share_per_seed": shares,
                    "mean_gain": float(np.mean(a - b)) if len(a) else float("nan"),
                    "p_better": wilcoxon_greater(a, b) if len(a) else float("nan"),
                    "p_worse": wilcoxon_greater(b, a) if len(a) else float("nan")})
    return pd.DataFrame(out)


__all__ = ["AcquisitionSetup", "Split", "compare_to_random", "experiments", "experiments_to_reach",
           "run_acquisition", "run_strategy", "start_split"]
