"""The benchmark table on the simulator (known ground truth), with a tiny LPM."""

import numpy as np
import pandas as pd
import pytest

from lpm_kg.eval.benchmark import run_benchmark, summary, tuples_from_frame
from lpm_kg.eval.models import model_names
from lpm_kg.model import LPMConfig
from lpm_kg.simulate import SimulationConfig, simulate

TINY_LPM = LPMConfig(embedding_dim=16, hidden=[64], dropout=0.0, batch_size=256, learning_rate=0.005, lr_decay=0.98,
                     max_epochs=15, patience=5, seeds=[13], embedding_init_std=0.1, device="cpu")


@pytest.fixture(scope="module")
def sim_tuples():
    sim = simulate(SimulationConfig(n_genes=50, n_contexts=3, n_knockdowns=40, n_compounds=8, seed=1))
    return tuples_from_frame(sim.measurements)


def test_tuples_from_frame():
    frame = pd.DataFrame({"perturbation": ["b", "a", "a", "b"], "readout": ["x", "y", "x", "y"],
                          "context": ["C", "C", "D", "C"], "value": [1.0, 2.0, np.nan, 4.0]})
    t = tuples_from_frame(frame)
    assert t.perturbations == ["a", "b"] and t.readouts == ["x", "y"] and t.contexts == ["C"]
    assert t.perturbation.tolist() == [1, 0, 1] and t.readout.tolist() == [0, 1, 1]
    assert t.value.dtype == np.float32 and t.value.tolist() == [1.0, 2.0, 4.0]


def test_run_benchmark_on_simulator(sim_tuples):
    df = run_benchmark(sim_tuples, ["SIM-A"], seeds=[0], models=None, lpm_config=TINY_LPM, show_progress=False)
    # Without the graph's knowledge, every model that needs none.
    assert len(df) == len(model_names(graph=False)) and df["model"].tolist() == model_names(graph=False)
    for col in ("target_context", "seed", "model", "n_train", "n_val", "n_test", "rmse", "mae", "r2", "pearson",
                "pearson_per_experiment", "pearson_per_experiment_top20", "pearson_centered_per_experiment",
                "pearson_centered", "fit_seconds"):
        assert col in df.columns, col
    assert (df["n_test"] > 0).all() and df["n_test"].nunique() == 1  # every model on the same test tuples
    by = df.set_index("model")
    metric_cols = ["rmse", "r2", "pearson_per_experiment", "pearson_centered_per_experiment"]
    assert np.isfinite(by[metric_cols].to_numpy()).all()
    at, gm = by.loc["additive-transfer"], by.loc["global-mean"]
    assert at["rmse"] < gm["rmse"]
    assert at["pearson_per_experiment"] > gm["pearson_per_experiment"] + 0.3
    assert at["pearson_centered_per_experiment"] > gm["pearson_centered_per_experiment"] + 0.3
    assert by.loc["context-readout-mean", "pearson_centered_per_experiment"] == 0.0
    assert by.loc["lpm", "rmse"] < gm["rmse"]  # it learnt something, even tiny and brief


def test_summary_and_replicates(sim_tuples):
    # Duplicated tuples are replicates: averaged first, so the split and scores do not change.
    doubled = tuples_from_frame(pd.concat([pd.DataFrame({
        "perturbation": np.array(sim_tuples.perturbations)[sim_tuples.perturbation],
        "readout": np.array(sim_tuples.readouts)[sim_tuples.readout],
        "context": np.array(sim_tuples.contexts)[sim_tuples.context], "value": sim_tuples.value})] * 2))
    models = ["global-mean", "additive-transfer"]
    a = run_benchmark(sim_tuples, None, seeds=[0, 1], models=models, show_progress=False)
    b = run_benchmark(doubled, None, seeds=[0, 1], models=models, show_progress=False)
    assert len(a) == 3 * 2 * 2  # every context is eligible
    cols = ["n_train", "n_test", "rmse", "pearson_centered_per_experiment"]
    assert np.allclose(a[cols].to_numpy(float), b[cols].to_numpy(float))
    s = summary(a)
    assert len(s) == 3 * 2 and (s["n_seeds"] == 2).all()
    assert {"rmse", "rmse_std", "pearson_centered_per_experiment_std"} <= set(s.columns)
    pooled = summary(a, by=("model",))
    assert len(pooled) == 2
    sel = a[a["model"] == "additive-transfer"]["rmse"]
    assert pooled.set_index("model").loc["additive-transfer", "rmse"] == pytest.approx(sel.mean())
    assert pooled.set_index("model").loc["additive-transfer", "rmse_std"] == pytest.approx(sel.std(ddof=0))
    text = summary(a, as_text=True)
    assert "±" in text.loc[0, "rmse"]


def test_unknown_model_and_context(sim_tuples):
    with pytest.raises(KeyError):
        run_benchmark(sim_tuples, ["SIM-A"], models=["nope"], show_progress=False)
    with pytest.raises(ValueError):
        run_benchmark(sim_tuples, ["NOPE"], models=["global-mean"], show_progress=False)


def test_the_metric_registry_is_the_table_and_each_split_runs_by_name(sim_tuples):
    from lpm_kg.eval.metrics import METRICS, metric_columns
    from lpm_kg.eval.split import SPLITS
    from lpm_kg.registry import UnknownName

    for split in SPLITS:
        df = run_benchmark(sim_tuples, ["SIM-A"], seeds=[0], models=["global-mean", "additive-transfer"],
                           split=split, show_progress=False)
        # Every registered metric is a column (on the paper's split with a value for a model that
        # predicts something; held-out readouts have no training mean to centre on, nor a top 20).
        assert set(metric_columns()) <= set(df.columns)
        assert split != "context" or np.isfinite(df.set_index("model").loc["additive-transfer", metric_columns()].to_numpy(float)).all()
        if SPLITS[split].per_context:  # the named target context; else one split over every context
            assert (df["target_context"] == "SIM-A").all()
    assert [m for m in summary(df).columns if m in metric_columns()] == metric_columns()
    assert not METRICS["rmse"].higher_is_better and METRICS["pearson_centered"].higher_is_better
    with pytest.raises(UnknownName, match="lpm-kg list splits"):
        run_benchmark(sim_tuples, ["SIM-A"], models=["global-mean"], split="contexts", show_progress=False)
