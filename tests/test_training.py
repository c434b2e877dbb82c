"""The training pipeline: a checkpoint path is built only from a valid run id; a top list trains
with the zeros it implies when asked."""

import numpy as np
import pytest

from lpm_kg.graph.runs import WritebackError, check_run_id
from lpm_kg.training import checkpoint_path


@pytest.mark.parametrize("run_id", ["../../etc/x", "..", ".", "/etc/passwd", "a/b", "a\\b", "lpm-1\n", "",
                                    "-rf", "a" * 201, None, 7])
def test_a_bad_run_id_never_becomes_a_path(tmp_path, run_id):
    with pytest.raises(WritebackError, match=r"refusing to build a checkpoint path .* is not valid"):
        checkpoint_path(tmp_path / "runs", run_id)
    with pytest.raises(WritebackError, match="is not valid: use letters, digits"):
        check_run_id(run_id)


@pytest.mark.parametrize("run_id", ["lpm-0123456789ab", "eval-abc", "run_1.v2", "a" * 200])
def test_a_valid_run_id_names_a_file_in_the_runs_folder(tmp_path, run_id):
    path = checkpoint_path(tmp_path / "runs", run_id)
    assert path == tmp_path / "runs" / f"{run_id}.pt" and path.parent == tmp_path / "runs"
    assert check_run_id(run_id) == run_id


def test_implicit_zeros_fill_only_unlisted_pairs_of_the_top_list_contexts():
    from lpm_kg.graph.pull import TupleSet, implicit_zeros

    rng = np.random.default_rng(0)
    n = 3000
    t = TupleSet(rng.integers(0, 40, n).astype(np.int32), rng.integers(0, 60, n).astype(np.int32),
                 rng.integers(0, 3, n).astype(np.int32), rng.random(n).astype(np.float32),
                 [f"p{i}" for i in range(40)], [f"r{i}" for i in range(60)], ["top-a", "full", "top-b"], ["d"])
    p, r, c, v = implicit_zeros(t, ["top-a", "top-b"], ratio=1.0, seed=3)
    assert (v == 0).all() and set(np.unique(c)) == {0, 2}
    for ctx in (0, 2):
        m = t.context == ctx
        listed = set(zip(t.perturbation[m].tolist(), t.readout[m].tolist()))
        z = c == ctx
        drawn = list(zip(p[z].tolist(), r[z].tolist()))
        assert len(drawn) == len(set(drawn)) == m.sum()  # as many zeros as listed values, none twice
        assert not (set(drawn) & listed)  # never a listed pair
        assert set(p[z]) <= set(t.perturbation[m]) and set(r[z]) <= set(t.readout[m])  # measured there
    again = implicit_zeros(t, ["top-a", "top-b"], ratio=1.0, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((p, r, c, v), again))
    assert len(implicit_zeros(t, ["full-not-here"], 1.0)[0]) == 0


def test_a_top_list_trains_with_its_implied_zeros_and_old_run_ids_stay(graph, load_file, tmp_path):
    import pandas as pd

    from lpm_kg.model.config import preset
    from lpm_kg.training import TrainConfig, resolve_run, train_from_graph

    # A tiny top list: 6 knock-downs x 2 cell lines, each listing its top 5 of 12 genes.
    genes = ["STAT1", "STAT2", "IRF1", "IRF9", "JAK1", "JAK2", "TYK2", "MYC", "MAX", "TP53", "MDM2", "CDKN1A"]
    rng = np.random.default_rng(0)
    knocked = ["BRCA1", "ATM", "CHEK2", "RAD51", "PALB2", "BRCA2"]
    rows = [(ctx, knocked[k], rank + 1, g, 5) for ctx in ("k562", "rpe1") for k in range(6)
            for rank, g in enumerate(rng.choice(genes, 5, replace=False))]
    path = tmp_path / "top.parquet"
    pd.DataFrame(rows, columns=["context", "perturbation", "rank", "gene", "n_ranked"]).to_parquet(path)
    load_file(path, "ranked-signatures", "toplist", perturbation_type="CRISPRi", scoring="top")
    plain = TrainConfig(datasets=["toplist"], preset="small", overrides={"max_epochs": 2, "seeds": [13]})
    zeroed = TrainConfig(datasets=["toplist"], preset="small",
                         overrides={"max_epochs": 2, "seeds": [13], "implicit_zeros": 1.0})
    # The setting at its default is left out of the dumped config (stored on runs, hashed by eval):
    # configs resolved before it existed dump as they did.
    assert "implicit_zeros" not in preset("small").model_dump()
    assert preset("small", implicit_zeros=1.0).model_dump()["implicit_zeros"] == 1.0
    assert resolve_run(graph, zeroed).run_id != resolve_run(graph, plain).run_id
    result = train_from_graph(graph, zeroed, show_progress=False)
    listed = 2 * 6 * 5
    assert result.metrics["n_tuples"] == listed and result.metrics["n_implicit_zeros"] == listed
    assert "n_implicit_zeros" not in train_from_graph(graph, plain, show_progress=False).metrics


def test_the_run_id_follows_the_resolved_settings_not_the_preset_name(graph, load_file, tmp_path, monkeypatch):
    import pandas as pd

    from lpm_kg.model.config import PRESETS, preset
    from lpm_kg.training import TrainConfig, resolve_run

    path = tmp_path / "long.csv"
    pd.DataFrame({"perturbation": ["CRISPRi_TP53", "CRISPRi_MYC"] * 2, "context": ["k562"] * 4, "readout": ["STAT1"] * 2 + ["IRF1"] * 2,
                  "value": [0.5, -1.0, 0.25, 2.0]}).to_csv(path, index=False)
    load_file(path, "long", "tiny")
    small = TrainConfig(datasets=["tiny"], preset="small")
    first = resolve_run(graph, small)
    # Two names for the same settings are one run ...
    same = TrainConfig(datasets=["tiny"], preset="l1000", overrides=preset("small").model_dump())
    assert resolve_run(graph, same).run_id == first.run_id
    # ... and a preset that resolves otherwise today is another run, under the same name.
    monkeypatch.setitem(PRESETS._items, "small", PRESETS["small"].model_copy(update={"learning_rate": 0.01}))
    assert resolve_run(graph, small).run_id != first.run_id
    monkeypatch.undo()
    assert resolve_run(graph, small).run_id == first.run_id
    assert resolve_run(graph, small.model_copy(update={"split_seed": 1})).run_id != first.run_id
