"""The default benchmark model (lpm-stack) and its sibling-transfer expert."""

import numpy as np
import pytest

from lpm_kg.eval.benchmark import run_benchmark, tuples_from_frame
from lpm_kg.eval.sibling import SiblingTransfer, sibling_key, sibling_table
from lpm_kg.eval.split import split_perturbations
from lpm_kg.eval.stack import StackedLPM
from lpm_kg.model import LPMConfig
from lpm_kg.simulate import SimulationConfig, simulate

TINY_LPM = LPMConfig(embedding_dim=16, hidden=[64], dropout=0.0, batch_size=256, learning_rate=0.005, lr_decay=0.98,
                     max_epochs=10, patience=5, seeds=[13], embedding_init_std=0.1, device="cpu")


def test_sibling_keys_and_dose_weights():
    assert sibling_key("vemurafenib-100nM") == ("cmp:vemurafenib", pytest.approx(1e-7))
    assert sibling_key("CRISPRi_STAT1") == ("gene:STAT1", None)
    assert sibling_key("Control") == (None, None)
    ids, w = sibling_table(["drug-1uM", "drug-10uM", "CRISPRi_A", "CRISPR-KO_A", "other-1uM"])
    assert set(ids[0][ids[0] >= 0]) == {1} and w[0, 0] == pytest.approx(np.exp(-1))  # tenfold: e^-1
    assert set(ids[2][ids[2] >= 0]) == {3} and w[2, 0] == 1.0  # same gene, other method
    assert (ids[4] < 0).all()


def test_sibling_transfer_predicts_an_unmeasured_dose():
    perts = ["drug-1uM", "drug-10uM", "drug-3uM", "other-1uM"]
    profile = np.array([1.0, -1.0, 0.5, 0.0])
    rows = [(p, f"R{k}", "C", (profile[k] if p.startswith("drug") else -profile[k]) * (1 + 0.1 * i))
            for i, p in enumerate(perts) for k in range(4)]
    p = np.array([perts.index(x[0]) for x in rows])
    r = np.array([int(x[1][1:]) for x in rows])
    c = np.zeros(len(rows), int)
    y = np.array([x[3] for x in rows])
    train = p != 2
    model = SiblingTransfer().fit(p[train], r[train], c[train], y[train], 4, 4, 1, vocab=perts)
    test = p == 2
    pred = model.predict(p[test], r[test], c[test])
    m = y[train].reshape(3, 4).mean(0)
    assert np.corrcoef(pred - m, y[test] - m)[0, 1] > 0.99
    # A perturbation with no sibling gets the mean alone.
    assert np.allclose(model.predict(np.full(4, 3), np.arange(4), np.zeros(4, int)), m)


@pytest.fixture(scope="module")
def sim():
    s = simulate(SimulationConfig(n_genes=50, n_contexts=3, n_knockdowns=40, n_compounds=8, seed=1))
    return s, tuples_from_frame(s.measurements)


def test_stack_weights_its_experts_and_keeps_up_with_the_best(sim):
    _, tuples = sim
    df = run_benchmark(tuples, ["SIM-A"], seeds=[0, 1], models=["lpm-stack", "linear", "additive-transfer"],
                       lpm_config=TINY_LPM, show_progress=False)
    by = df.groupby("model")["pearson_centered_per_experiment"].mean()
    assert by["lpm-stack"] >= max(by["linear"], by["additive-transfer"]) - 0.03
    assert {"discrimination", "top_de_overlap", "top_de_direction", "fit_cpu_seconds"} <= set(df.columns)
    assert (df["n_targeted_dropped"] > 0).all()  # the knockdowns' own genes left out
    exps = df.attrs["experiments"]
    assert set(exps["model"]) == {"lpm-stack", "linear", "additive-transfer"}
    assert exps.groupby("model").size().nunique() == 1  # the same test experiments for every model


def test_stack_weights_come_from_cross_fitting_and_validation(sim):
    _, t = sim
    parts = split_perturbations(t, 0)
    args = (t.perturbation[parts.train], t.readout[parts.train], t.context[parts.train], t.value[parts.train],
            len(t.perturbations), len(t.readouts), len(t.contexts))
    va = parts.val
    model = StackedLPM(TINY_LPM, experts=["lpm", "linear", "additive-transfer", "sibling-transfer"]).fit(
        *args, vocab=t, val=(t.perturbation[va], t.readout[va], t.context[va], t.value[va]))
    weights = model.weights()
    assert all(w >= 0 for ws in weights.values() for w in ws.values())
    # Both questions have cross-fitted closed-form weights per context (the simulator's perturbations
    # are measured in several contexts); the validation perturbations here are unseen.
    assert {"seen", "unseen", "seen:0", "unseen:0"} <= set(weights)
    # Seen: no validation, so the neural expert keeps its equal share of the prior (1 of 2 parts).
    assert weights["seen"]["lpm"] == pytest.approx(0.5)
    # Cross-fitting has seen that additive transfer is the simulator's best closed-form expert.
    assert weights["seen"]["additive-transfer"] > weights["seen"]["linear"]
    # A transfer model cannot answer for an unseen perturbation: its weight is the prior's and it adds nothing.
    pred = model.predict(t.perturbation[va], t.readout[va], t.context[va])
    alone = model.models_["lpm"].predict(t.perturbation[va], t.readout[va], t.context[va])
    m = model.base_.predict(t.perturbation[va], t.readout[va], t.context[va])
    w = model.weight_matrix(t.perturbation[va], t.context[va])[:, 0]
    assert np.allclose(pred - m, w * (alone - m), atol=1e-9)


def test_train_on_all_test_one_set(sim):
    _, t = sim
    parts = split_perturbations(t, 0, contexts=["SIM-A"])
    held = np.concatenate([parts.val_perturbations, parts.test_perturbations])
    assert set(np.unique(t.context[parts.test])) == {t.contexts.index("SIM-A")}
    assert not np.isin(t.perturbation[parts.train], held).any()  # held out of every context
    assert set(held) <= set(np.unique(t.perturbation[t.context == t.contexts.index("SIM-A")]))


def test_annotation_transfer_reads_shared_mechanisms_and_targets():
    from lpm_kg.eval.sibling import AnnotationTransfer, annotation_table
    from lpm_kg.priors import Knowledge

    kn = Knowledge.from_tables(["A", "B", "C"], compound_targets={"drug": ["A"], "other": ["A", "B"], "third": ["C"]},
                               compound_moas={"drug": ["X inhibitor"], "other": ["X inhibitor"]})
    perts = ["drug-1uM", "other-1uM", "third-1uM", "drug-10uM"]
    ids, w = annotation_table(perts, kn)
    # drug shares a target and a mechanism with other (Jaccard 2/3), nothing with third, and its
    # other dose is a sibling, not an annotation relative.
    assert set(ids[0][ids[0] >= 0]) == {1} and w[0, 0] == pytest.approx(2 / 3)
    assert (ids[2] < 0).all()
    profile = np.array([1.0, -1.0, 0.5, 0.0])
    p = np.repeat([1, 2], 4)
    r = np.tile(np.arange(4), 2)
    y = np.concatenate([profile, -profile])
    model = AnnotationTransfer(knowledge=kn).fit(p, r, np.zeros(8, int), y, 4, 4, 1, vocab=perts)
    pred = model.predict(np.zeros(4, int), np.arange(4), np.zeros(4, int))
    assert np.allclose(pred, profile)  # the mean (0) plus other's deviation


def test_blend_weights_trust_validation_by_its_size():
    from lpm_kg.eval.stack import blend_weights

    rng = np.random.default_rng(0)

    def experts(n_exp, n_r=200):
        truth = rng.normal(size=(n_exp, n_r))
        good = truth + rng.normal(size=truth.shape)  # informative
        noise = rng.normal(size=truth.shape)  # not
        exp = np.repeat(np.arange(n_exp), n_r)
        return np.stack([good.ravel(), noise.ravel()], 1), truth.ravel(), exp

    X, t, exp = experts(40)
    w = blend_weights(X, t, exp)
    assert w[0] > 0.3 and w[1] < 0.05  # many experiments: the informative expert takes the weight
    X, t, exp = experts(2)
    assert np.allclose(blend_weights(X, t, exp), [0.5, 0.5], atol=0.05)  # two: held near the plain average
    assert np.allclose(blend_weights(X, t, exp, prior=np.array([1.0, 0.0])), [1.0, 0.0], atol=0.05)
