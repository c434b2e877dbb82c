"""The target-context split: no leak, the shares, Control kept in train, one draw per seed."""

import numpy as np
import pytest

from lpm_kg.eval.split import eligible_target_contexts, split_target_context
from lpm_kg.graph.pull import TupleSet
from lpm_kg.symbols import CONTROL


def _grid(n_p=41, n_r=4, n_c=3, only_target=(), missing=(), seed=0):
    """Every (p, r, c) except the listed (p, c) pairs; perturbations in ``only_target`` are
    measured in context 0 alone. Perturbation 0 is Control."""
    p, r, c = np.meshgrid(np.arange(n_p), np.arange(n_r), np.arange(n_c), indexing="ij")
    p, r, c = p.ravel(), r.ravel(), c.ravel()
    keep = ~np.isin(p, only_target) | (c == 0)
    for pp, cc in missing:
        keep &= ~((p == pp) & (c == cc))
    y = np.random.default_rng(seed).normal(size=keep.sum()).astype(np.float32)
    names = [CONTROL] + [f"CRISPRi_G{i}" for i in range(1, n_p)]
    return TupleSet(p[keep].astype(np.int32), r[keep].astype(np.int32), c[keep].astype(np.int32), y, names,
                    [f"Transcriptome_R{i}" for i in range(n_r)], [f"CTX{i}" for i in range(n_c)], ["d"])


def test_no_leak_and_parts_partition():
    t = _grid()
    s = split_target_context(t, 0, seed=3)
    assert not (s.train & s.val).any() and not (s.train & s.test).any() and not (s.val & s.test).any()
    assert (s.train | s.val | s.test).all()
    in_target = t.context == 0
    train_perts_in_target = set(t.perturbation[s.train & in_target])
    for q in s.test_perturbations:
        assert q not in train_perts_in_target  # no train tuple of a test perturbation in the target
    for q in s.val_perturbations:
        assert q not in train_perts_in_target
    # Val and test live only in the target context; other contexts train whole.
    assert not (s.val | s.test)[~in_target].any()
    assert s.train[~in_target].all()
    # Every tuple of a test perturbation in the target is in test.
    assert s.test.sum() == np.isin(t.perturbation, s.test_perturbations)[in_target].sum()
    assert set(s.train_perturbations) | set(s.val_perturbations) | set(s.test_perturbations) == set(
        t.perturbation[in_target])


def test_fractions_and_control():
    t = _grid(n_p=41)  # 40 candidates besides Control
    s = split_target_context(t, 0, seed=0)
    assert len(s.val_perturbations) == 6 and len(s.test_perturbations) == 6  # round(0.15 * 40)
    assert 0 in s.train_perturbations
    assert s.train[(t.perturbation == 0)].all()
    s = split_target_context(t, 1, seed=0, fractions=(0.5, 0.25, 0.25))
    assert len(s.val_perturbations) == 10 and len(s.test_perturbations) == 10
    with pytest.raises(ValueError):
        split_target_context(t, 0, seed=0, fractions=(0.7, 0.2, 0.2))


def test_control_by_id_with_plain_arrays():
    t = _grid(n_p=8)
    for seed in range(20):
        s = split_target_context((t.perturbation, t.readout, t.context), 0, seed, control_id=0)
        assert 0 not in s.val_perturbations and 0 not in s.test_perturbations
        assert len(s.val_perturbations) == 1 and len(s.test_perturbations) == 1  # at least one each


def test_deterministic_per_seed():
    t = _grid()
    a, b = split_target_context(t, 0, seed=7), split_target_context(t, 0, seed=7)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.val, b.val)
    draws = {tuple(split_target_context(t, 0, seed=s).test_perturbations) for s in range(5)}
    assert len(draws) > 1


def test_known_only_and_symbol_target():
    t = _grid(only_target=(1, 2, 3, 4, 5))
    s = split_target_context(t, "CTX0", seed=1)
    assert s.target_context == 0
    drawn = set(s.val_perturbations) | set(s.test_perturbations)
    assert not drawn & {1, 2, 3, 4, 5}  # never measured elsewhere: not a "known" perturbation
    assert len(s.test_perturbations) == round(0.15 * 35)
    counts = [len(split_target_context(t, 0, seed=k, known_only=False).test_perturbations) for k in range(3)]
    assert counts == [6, 6, 6]


def test_eligible_contexts():
    t = _grid(n_p=12, only_target=(1, 2, 3))
    # Context 0: 11 non-control perturbations but only 8 are also measured elsewhere.
    assert eligible_target_contexts(t, min_perturbations=8) == [0, 1, 2]
    assert eligible_target_contexts(t, min_perturbations=9) == []
    t2 = _grid(n_p=12, missing=[(p, 2) for p in range(1, 6)])
    assert eligible_target_contexts(t2, min_perturbations=8) == [0, 1]
