"""The fast training loop (lpm_kg.model.fast): the same function as the paper's loop, trained the
same way, with less work."""

import numpy as np
import pytest
import torch

from lpm_kg.model import LPM, LPMConfig, Vocabulary
from lpm_kg.model.fast import cheap_dropout, first_layer_by_symbol
from lpm_kg.model.module import LPMModule


def _module(factorized: bool, n_atoms: int = 6, n_readouts: int = 40, **shared) -> LPMModule:
    torch.manual_seed(3)
    atoms = torch.tensor([[0, n_atoms], [1, n_atoms], [2, 3], [4, 5], [5, n_atoms]])  # one combination
    return LPMModule(3, n_atoms, n_readouts, atoms, embedding_dim=8, hidden=[16, 16], dropout=0.0, factorized=factorized,
                     **shared)


@pytest.mark.parametrize("shared", [{}, {"shared_rank": 4, "shared_dropout": 0.5}])
@pytest.mark.parametrize("batch", [4, 64])  # tables larger than the batch (distinct ids), and smaller (whole)
def test_factorized_first_layer_is_the_concatenated_layer_with_the_same_gradients(batch, shared):
    fast, ref = _module(True, **shared), _module(False, **shared)
    ref.load_state_dict(fast.state_dict())
    g = torch.Generator().manual_seed(batch)
    p = torch.randint(0, 5, (batch,), generator=g, dtype=torch.int32)
    r = torch.randint(0, 40, (batch,), generator=g, dtype=torch.int32)
    c = torch.randint(0, 3, (batch,), generator=g, dtype=torch.int32)
    y = torch.randn(batch, generator=g)
    outs = []
    for m in (fast, ref):
        torch.manual_seed(batch)  # the same tuples hidden from both MLPs (shared_dropout)
        out = m(p, r, c)
        ((out - y) ** 2).mean().backward()
        outs.append(out.detach())
    assert torch.allclose(outs[0], outs[1], atol=1e-5)
    for (name, a), b in zip(fast.named_parameters(), ref.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-5), name


def test_first_layer_by_symbol_projects_small_tables_once_and_large_ones_per_tuple():
    lin = torch.nn.Linear(6, 3)
    small, large = torch.randn(3, 4), torch.randn(100, 2)
    seen = {}

    def embed(name, table):
        def f(ids):
            seen[name] = ids.clone()
            return table[ids]
        return f

    a, b = torch.tensor([2, 2, 0, 1, 2]), torch.tensor([7, 7, 9, 7, 50])
    out = first_layer_by_symbol(lin, [(a, embed("small", small), 3), (b, embed("large", large), 100)])
    assert torch.equal(seen["small"], torch.arange(3))  # each row of the small table embedded once
    assert torch.equal(seen["large"], b)  # the large one per tuple
    assert torch.allclose(out, lin(torch.cat([small[a], large[b]], 1)), atol=1e-6)


def test_cheap_dropout_keeps_the_rate_and_the_expectation():
    torch.manual_seed(0)
    x = torch.ones(1000, 1000)
    out = cheap_dropout(x, 0.1)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - 0.1) < 0.002  # 1e6 draws: the standard error is 0.0003
    assert abs(out.mean().item() - 1.0) < 0.005
    assert torch.unique(out).tolist() == pytest.approx([0.0, 65536 / (65536 - 6554)])
    # rows and columns are independent: no lane of the 64-bit words is biased
    assert (out.view(-1, 4) == 0).float().mean(0).sub(0.1).abs().max().item() < 0.004


def test_fast_and_reference_loops_train_to_the_same_model_without_dropout():
    vocab = Vocabulary(["Control", "CRISPRi_A", "CRISPRi_B", "CRISPRi_A+CRISPRi_B"], [f"R{i}" for i in range(30)],
                       ["C1", "C2"])
    p, r, c = (a.ravel() for a in np.meshgrid(np.arange(4), np.arange(30), np.arange(2), indexing="ij"))
    y = (np.sin(p * 1.3 + r * 0.7) * (1 + c * 0.5)).astype(np.float32)
    base = dict(embedding_dim=8, hidden=[32, 32], dropout=0.0, batch_size=16, learning_rate=0.01, max_epochs=15,
                patience=None, seeds=[13], device="cpu")
    preds = [LPM(LPMConfig(**base, loop=loop), vocab).fit((p, r, c, y), show_progress=False).predict_ids(p, r, c)[0]
             for loop in ("fast", "reference")]
    assert np.mean((preds[0] - y) ** 2) < 0.05  # it learned
    assert np.allclose(preds[0], preds[1], atol=1e-3)  # the same model, rounding aside


def test_training_threads_leave_cores_that_other_work_holds():
    from lpm_kg.model.train import training_threads

    assert training_threads(3) == 3  # the setting wins
    assert training_threads(cores=2, load=1.0) == 2  # only this process busy: every core
    assert training_threads(cores=2, load=1.3) == 1  # another process wants a core
    assert training_threads(cores=2, load=6.0) == 1  # never fewer than one
    assert training_threads(cores=16, load=4.0) == 13


def test_training_on_index_views_equals_training_on_copies():
    """fit(rows=...) trains on views of one set of arrays: the same model as on copied subsets."""
    vocab = Vocabulary(["Control", "CRISPRi_A", "CRISPRi_B", "CRISPRi_C"], [f"R{i}" for i in range(20)], ["C1"])
    p, r, c = (a.ravel() for a in np.meshgrid(np.arange(4), np.arange(20), np.arange(1), indexing="ij"))
    y = np.cos(p * 0.9 + r * 0.4).astype(np.float32)
    val = p == 3
    cfg = LPMConfig(embedding_dim=8, hidden=[16, 16], dropout=0.0, batch_size=8, max_epochs=6, patience=2,
                    seeds=[13], device="cpu")
    copies = LPM(cfg, vocab).fit(tuple(a[~val] for a in (p, r, c, y)), tuple(a[val] for a in (p, r, c, y)),
                                 show_progress=False)
    views = LPM(cfg, vocab).fit((p, r, c, y), rows=(np.flatnonzero(~val), np.flatnonzero(val)), show_progress=False)
    assert [h["val_mse"] for h in views.states[13].history] == [h["val_mse"] for h in copies.states[13].history]
    assert np.array_equal(views.predict_ids(p, r, c)[0], copies.predict_ids(p, r, c)[0])
