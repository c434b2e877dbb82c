"""Each baseline on a tiny hand-made case whose answers are worked out by hand."""

import numpy as np
import pytest

from lpm_kg.eval.baselines import (BASELINES, AdditiveTransfer, Baseline, ContextReadoutMean, Control, GlobalMean,
                                   Linear, PerturbationMeanOtherContexts)
from lpm_kg.eval.models import resolve_models, MODELS, make_model, model_names
from lpm_kg.symbols import CONTROL

# Perturbations: 0 = Control, 1, 2, 3 (3 never measured). Readouts 0, 1. Contexts 0, 1, 2 (2 empty).
#            context 0            context 1
#   p0 (Control) r0 0.5, r1 -0.5   r0 1.0, r1 0.0
#   p1           r0 1.0, r1  2.0   r0 2.0, r1 4.0
#   p2           r0 3.0, r1 -1.0   (held out: the test)
TRAIN = np.array([
    # p, r, c, y
    [0, 0, 0, 0.5], [0, 1, 0, -0.5], [1, 0, 0, 1.0], [1, 1, 0, 2.0], [2, 0, 0, 3.0], [2, 1, 0, -1.0],
    [0, 0, 1, 1.0], [0, 1, 1, 0.0], [1, 0, 1, 2.0], [1, 1, 1, 4.0],
])
P, R, C = (TRAIN[:, i].astype(int) for i in range(3))
Y = TRAIN[:, 3]
SIZES = (4, 2, 3)
VOCAB = [CONTROL, "CRISPRi_A", "CRISPRi_B", "CRISPRi_C"]

# Hand-computed training means per (context, readout): c0 r0 (0.5+1+3)/3 = 1.5, c0 r1 (-0.5+2-1)/3 = 1/6,
# c1 r0 (1+2)/2 = 1.5, c1 r1 (0+4)/2 = 2; per readout r0 7.5/5 = 1.5, r1 4.5/5 = 0.9; global 12/10 = 1.2.
M = {(0, 0): 1.5, (0, 1): 1 / 6, (1, 0): 1.5, (1, 1): 2.0}


def _fit(cls, **kw):
    return cls(**kw).fit(P, R, C, Y, *SIZES, vocab=VOCAB)


def _q(*rows):
    a = np.array(rows)
    return a[:, 0], a[:, 1], a[:, 2]


def test_global_mean():
    assert _fit(GlobalMean).predict(*_q((2, 0, 1), (3, 1, 2))) == pytest.approx([1.2, 1.2])


def test_context_readout_mean_and_fallback():
    pred = _fit(ContextReadoutMean).predict(*_q((2, 0, 1), (2, 1, 1), (2, 0, 0), (2, 1, 0), (1, 0, 2), (1, 1, 2)))
    assert pred == pytest.approx([1.5, 2.0, 1.5, 1 / 6, 1.5, 0.9])  # context 2: the readout means


def test_control():
    q = _q((2, 0, 1), (2, 1, 1), (2, 0, 0), (2, 1, 0), (1, 0, 2))
    assert _fit(Control).predict(*q) == pytest.approx([1.0, 0.0, 0.5, -0.5, 0.0])  # context 2: not measured -> 0
    no_vocab = Control().fit(P, R, C, Y, *SIZES)  # Control unknown: every value is a change against it
    assert no_vocab.predict(*q) == pytest.approx([0, 0, 0, 0, 0])


def test_perturbation_mean_other_contexts():
    model = _fit(PerturbationMeanOtherContexts)
    pred = model.predict(*_q((2, 0, 1), (2, 1, 1), (2, 0, 2), (1, 0, 0), (1, 1, 0), (3, 0, 1), (2, 0, 0)))
    # p2 elsewhere = context 0; p1 in context 0 = its value in context 1 (own context left out);
    # p3 nowhere: the context-readout mean; p2 in context 0: no other context, so the mean 1.5.
    assert pred == pytest.approx([3.0, -1.0, 3.0, 2.0, 4.0, 1.5, 1.5])


def test_additive_transfer():
    model = _fit(AdditiveTransfer)
    pred = model.predict(*_q((2, 0, 1), (2, 1, 1), (1, 0, 0), (3, 1, 1), (2, 0, 2)))
    assert pred == pytest.approx([
        M[1, 0] + (3.0 - M[0, 0]),  # 1.5 + 1.5 = 3
        M[1, 1] + (-1.0 - M[0, 1]),  # 2 - 7/6 = 5/6
        M[0, 0] + (2.0 - M[1, 0]),  # 1.5 + 0.5 = 2
        M[1, 1],  # unseen perturbation: the mean
        1.5 + (3.0 - M[0, 0]),  # empty context: readout mean + deviation
    ])


def test_additive_transfer_averages_deviations_over_contexts():
    # p1 measured in contexts 0 and 1 (deviations +1 and -1 from means 0), predicted in context 2 (mean 5).
    p = np.array([0, 1, 0, 1, 0])
    r = np.zeros(5, int)
    c = np.array([0, 0, 1, 1, 2])
    y = np.array([-1.0, 1.0, 1.0, -1.0, 5.0])
    model = AdditiveTransfer().fit(p, r, c, y, 2, 1, 3)
    assert model.predict(np.array([1]), np.array([0]), np.array([2])) == pytest.approx([5.0 + 0.0])
    y2 = np.array([-1.0, 1.0, -2.0, 2.0, 5.0])  # deviations +1 and +2
    model = AdditiveTransfer().fit(p, r, c, y2, 2, 1, 3)
    assert model.predict(np.array([1]), np.array([0]), np.array([2])) == pytest.approx([5.0 + 1.5])


def test_linear_one_readout_by_hand():
    # One readout: G = [+-1] (the sign cancels). Context means 2 and 5; deviations -1, 0, 1 and -2, 0, 2.
    # Each experiment's embedding is its perturbation's deviation in the *other* context:
    # (d, u) = (-1,-2), (0,0), (1,2), (-2,-1), (0,0), (2,1); sum d*u = 8, sum u^2 = 10.
    p = np.array([0, 1, 2, 0, 1, 2])
    c = np.array([0, 0, 0, 1, 1, 1])
    r = np.zeros(6, int)
    y = np.array([1.0, 2.0, 3.0, 3.0, 5.0, 7.0])
    for lam in (0.0, 0.1):
        w = 8 / (10 + lam) / (1 + lam)
        model = Linear(k=1, ridge=lam).fit(p, r, c, y, 3, 1, 2)
        assert model.W_.shape == (1, 1)
        # In training experiments: m + w * deviation elsewhere. p2 in c0: 2 + w * 2; p0 in c1: 5 - w * 1.
        assert model.predict(np.array([2, 0]), np.array([0, 0]), np.array([0, 1])) == pytest.approx(
            [2 + 2 * w, 5 - w])


def _dense_linear(p, r, c, y, n_p, n_r, n_c, k, lam, queries):
    """A plain, loop-based re-derivation of the linear baseline for a fully measured grid."""
    m = np.full((n_c, n_r), np.nan)
    for cc in range(n_c):
        for rr in range(n_r):
            sel = (c == cc) & (r == rr)
            m[cc, rr] = y[sel].mean()
    exps = sorted({(pp, cc) for pp, cc in zip(p, c)})
    D = np.zeros((len(exps), n_r))
    for i, (pp, cc) in enumerate(exps):
        for rr in range(n_r):
            sel = (p == pp) & (c == cc) & (r == rr)
            D[i, rr] = y[sel].mean() - m[cc, rr]
    vals, vecs = np.linalg.eigh(D.T @ D)
    G = vecs[:, np.argsort(vals)[::-1][:k]]

    def u(pp, cc):
        rows = [i for i, (q, d) in enumerate(exps) if q == pp and d != cc]
        return G.T @ D[rows].mean(axis=0) if rows else np.zeros(k)

    U = np.array([u(pp, cc) for pp, cc in exps])
    W = np.linalg.inv(G.T @ G + lam * np.eye(k)) @ G.T @ D.T @ U @ np.linalg.inv(U.T @ U + lam * np.eye(k))
    return np.array([m[cc, rr] + G[rr] @ W @ u(pp, cc) for pp, rr, cc in queries])


def test_linear_matches_a_dense_rederivation():
    rng = np.random.default_rng(0)
    n_p, n_r, n_c = 7, 6, 3
    p, r, c = (a.ravel() for a in np.meshgrid(np.arange(n_p), np.arange(n_r), np.arange(n_c), indexing="ij"))
    keep = ~((p == 6) & (c == 2))  # one experiment held out
    effect = rng.normal(size=(n_p, 2)) @ rng.normal(size=(2, n_r))  # low-rank, context-scaled, noisy
    y = rng.normal(size=(n_c, n_r))[c, r] + effect[p, r] * rng.uniform(0.5, 1.5, n_c)[c] + 0.3 * rng.normal(
        size=len(p))
    p, r, c, y = p[keep], r[keep], c[keep], y[keep]
    queries = [(6, rr, 2) for rr in range(n_r)] + [(1, rr, 0) for rr in range(n_r)]
    qp, qr, qc = (np.array(a) for a in zip(*queries))
    for k, lam in ((2, 0.1), (4, 1.0)):
        model = Linear(k=k, ridge=lam).fit(p, r, c, y, n_p, n_r, n_c)
        assert model.predict(qp, qr, qc) == pytest.approx(_dense_linear(p, r, c, y, n_p, n_r, n_c, k, lam, queries))


def test_linear_full_rank_recovers_additive_effects():
    # y = a(c, r) + b(p, r), every experiment measured: full rank, no ridge -> W = I, so the linear
    # model reproduces the data and agrees with additive transfer.
    rng = np.random.default_rng(1)
    n_p, n_r, n_c = 12, 4, 3
    p, r, c = (a.ravel() for a in np.meshgrid(np.arange(n_p), np.arange(n_r), np.arange(n_c), indexing="ij"))
    y = rng.normal(size=(n_c, n_r))[c, r] + rng.normal(size=(n_p, n_r))[p, r]
    model = Linear(k=n_r, ridge=1e-9).fit(p, r, c, y, n_p, n_r, n_c)
    assert model.W_ == pytest.approx(np.eye(n_r), abs=1e-6)
    assert model.predict(p, r, c) == pytest.approx(y, abs=1e-6)
    additive = AdditiveTransfer().fit(p, r, c, y, n_p, n_r, n_c)
    assert model.predict(p, r, c) == pytest.approx(additive.predict(p, r, c), abs=1e-6)


def test_linear_unseen_perturbation_falls_back_to_means():
    model = _fit(Linear, k=2)
    base = _fit(ContextReadoutMean)
    q = _q((3, 0, 1), (3, 1, 0))
    assert model.predict(*q) == pytest.approx(base.predict(*q))


def test_registry():
    assert set(BASELINES) == {"global-mean", "context-readout-mean", "context-readout-median", "control",
                              "perturbation-mean-other-contexts", "additive-transfer", "linear"}
    graph_models = ["graph-neighbour-transfer", "linear-priors", "graph-lpm"]  # they read the graph's knowledge
    assert model_names() == [*BASELINES, "sibling-transfer", "lpm", *graph_models, "annotation-transfer", "lpm-stack"] and "lpm" in MODELS
    assert model_names(graph=False) == [*BASELINES, "sibling-transfer", "lpm", "lpm-stack"]
    with pytest.raises(ValueError, match="needs the graph's reference knowledge"):
        resolve_models(["graph-lpm"])
    for name, cls in BASELINES.items():
        assert cls.name == name and issubclass(cls, Baseline) and cls.description
        model = make_model(name).fit(P, R, C, Y, *SIZES, vocab=VOCAB, val=(P[:2], R[:2], C[:2], Y[:2]))
        pred = model.predict(*_q((2, 0, 1), (3, 1, 2), (0, 0, 0)))
        assert pred.shape == (3,) and np.isfinite(pred).all()
    with pytest.raises(KeyError):
        make_model("no-such-model")
