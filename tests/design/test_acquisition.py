"""The retrospective acquisition loop on the simulator, where the truth is known: acquisition by
the strategy that measured best beats choosing at random, on a test set no strategy can acquire."""

import numpy as np
import pytest

from lpm_kg.design.acquisition import (AcquisitionSetup, compare_to_random, experiments, experiments_to_reach,
                                       run_acquisition, start_split)
from lpm_kg.design.strategies import DEFAULT_STRATEGY
from lpm_kg.eval import tuples_from_frame
from lpm_kg.model.config import preset
from lpm_kg.simulate import SimulationConfig, simulate

SETUP = AcquisitionSetup(start_fraction=0.1, rounds=3, batch_fraction=0.05, cold_epochs=20, warm_epochs=5)


def _tuples():
    return tuples_from_frame(simulate(SimulationConfig(observed_fraction=1.0, seed=0)).measurements, "sim")


def test_the_split_is_disjoint_and_seeded():
    tuples = _tuples()
    _, pair_p, _ = experiments(tuples)
    a, b = start_split(len(pair_p), SETUP, 0), start_split(len(pair_p), SETUP, 0)
    assert all(np.array_equal(x, y) for x, y in zip((a.test, a.revealed, a.pool), (b.test, b.revealed, b.pool)))
    parts = np.concatenate([a.test, a.revealed, a.pool])
    assert len(parts) == len(set(parts.tolist())) == len(pair_p)
    assert len(a.test) == round(0.2 * len(pair_p)) and len(a.revealed) == round(0.1 * len(pair_p))


def test_the_default_strategy_beats_random_on_the_simulator():
    tuples = _tuples()
    n_experiments = len(experiments(tuples)[1])
    frame = run_acquisition(tuples, ["random", DEFAULT_STRATEGY], [0, 1, 2], SETUP,
                            preset("small", seeds=[13, 14, 15]))
    # Every strategy starts from the same revealed set, and acquires from the pool only.
    for score in ("test_pearson_centered", "test_pearson_fixed"):
        assert (frame[frame["round"] == 0].groupby("seed")[score].nunique() == 1).all()
        assert np.isfinite(frame[score]).all()
    assert (frame.groupby(["strategy", "seed"])["n_acquired"].max() == 3 * round(0.05 * n_experiments)).all()
    row = compare_to_random(frame).set_index("strategy").loc[DEFAULT_STRATEGY]
    assert row["mean_gain"] > 0.01 and row["p_better"] < 0.05, row.to_dict()
    assert row["share_of_random"] < 1, row.to_dict()  # reaches random's final accuracy with fewer experiments
    # Against one reference that stays put between rounds the default gains too (+0.021 here; over
    # 9 (seed, round) pairs p is 0.08, so the test asks for the gain and the share only).
    fixed = compare_to_random(frame, "test_pearson_fixed").set_index("strategy").loc[DEFAULT_STRATEGY]
    assert fixed["mean_gain"] > 0.01 and fixed["share_of_random"] < 1, fixed.to_dict()


def test_experiments_to_reach_interpolates_and_says_never():
    import pandas as pd

    curve = pd.DataFrame({"n_acquired": [0, 10, 20], "test_pearson_centered": [0.1, 0.3, 0.5]})
    assert experiments_to_reach(curve, 0.4) == pytest.approx(15)
    assert experiments_to_reach(curve, 0.05) == 0
    assert experiments_to_reach(curve, 0.6) == float("inf")
