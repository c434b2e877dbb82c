"""The graph-informed LPM on the simulator, whose network and compound targets are known: what it
was never shown in training it predicts from the graph's priors."""

import numpy as np
import pytest

from lpm_kg.eval.benchmark import tuples_from_frame
from lpm_kg.model import LPM, UnknownSymbolError, Vocabulary
from lpm_kg.model.config import preset
from lpm_kg.priors import fit_gene_priors
from lpm_kg.priors.inputs import PriorSource
from lpm_kg.simulate import SimulationConfig, simulate

FAST = dict(seeds=[13, 14], max_epochs=25, device="cpu")


@pytest.fixture(scope="module")
def world():
    sim = simulate(SimulationConfig(n_genes=80, n_knockdowns=60, n_compounds=16, seed=3))
    tuples = tuples_from_frame(sim.measurements)
    knowledge = sim.knowledge()
    return sim, tuples, PriorSource(knowledge, fit_gene_priors(knowledge))


def _held_out(tuples, prefix, n, seed=0):
    candidates = sorted({p for p in tuples.perturbations if p.startswith(prefix)})
    return set(np.random.default_rng(seed).choice(candidates, n, replace=False).tolist())


def _train_without(tuples, held, source, name="graph-small"):
    """A model whose vocabulary never names the held-out perturbations."""
    symbols = np.asarray(tuples.perturbations, dtype=object)[tuples.perturbation]
    train = ~np.isin(symbols, list(held))
    perts = sorted(set(symbols[train]))
    vocab = Vocabulary(perts, list(tuples.readouts), list(tuples.contexts))
    index = {p: i for i, p in enumerate(perts)}
    p = np.array([index[s] for s in symbols[train]])
    data = (p, tuples.readout[train], tuples.context[train], tuples.value[train])
    config = preset(name.removesuffix("-gcn"), **FAST, **({"priors": {"encoder": "gcn"}} if name.endswith("-gcn") else {}))
    model = LPM(config, vocab, priors=source if name.startswith("graph") else None)
    return model.fit(data, show_progress=False), ~train


def _centered_pearson(tuples, test, pred):
    """Per held-out experiment, Pearson of prediction and truth after subtracting the training
    per-(context, readout) mean: 0 is what the mean baseline scores."""
    tr = ~test
    shape = (len(tuples.contexts), len(tuples.readouts))
    ref, n = np.zeros(shape), np.zeros(shape)
    np.add.at(ref, (tuples.context[tr], tuples.readout[tr]), tuples.value[tr])
    np.add.at(n, (tuples.context[tr], tuples.readout[tr]), 1)
    base = (ref / np.maximum(n, 1))[tuples.context[test], tuples.readout[test]]
    y = tuples.value[test]
    exp = tuples.perturbation[test].astype(np.int64) * len(tuples.contexts) + tuples.context[test]
    return float(np.mean([np.corrcoef(pred[exp == e] - base[exp == e], y[exp == e] - base[exp == e])[0, 1]
                          for e in np.unique(exp)]))


def _predict_test(model, tuples, test):
    symbols = lambda names, ids: [names[i] for i in ids]  # noqa: E731
    return model.predict(symbols(tuples.perturbations, tuples.perturbation[test]),
                         symbols(tuples.readouts, tuples.readout[test]), symbols(tuples.contexts, tuples.context[test]))


def test_a_gene_never_perturbed_is_predicted_from_its_prior_better_than_the_mean(world):
    _sim, tuples, source = world
    held = _held_out(tuples, "CRISPRi_", 9)
    model, test = _train_without(tuples, held, source)
    assert model.prior_sources(sorted(held)) == ["prior"] * len(held)
    mean, std = _predict_test(model, tuples, test)
    score = _centered_pearson(tuples, test, mean)
    assert score > 0.3, score  # the mean baseline scores 0 by construction
    assert (std > 0).all()  # the seed spread is the uncertainty, as for learned symbols
    paper, _ = _train_without(tuples, held, source, name="small")
    with pytest.raises(UnknownSymbolError, match="never seen the perturbation"):
        _predict_test(paper, tuples, test)


def test_a_compound_never_measured_is_predicted_from_its_targets(world):
    _sim, tuples, source = world
    held = _held_out(tuples, "simcompound-", 4)
    model, test = _train_without(tuples, held, source)
    mean, _ = _predict_test(model, tuples, test)
    score = _centered_pearson(tuples, test, mean)
    assert score > 0.3, score


def test_a_symbol_without_a_prior_is_refused_naming_what_is_missing(world):
    _sim, tuples, source = world
    model, _ = _train_without(tuples, set(), source)
    with pytest.raises(UnknownSymbolError, match="no HAS_TARGET in the graph; load an annotation table"):
        model.predict(["unknowncompound-10uM"], [tuples.readouts[0]], [tuples.contexts[0]])
    with pytest.raises(UnknownSymbolError, match="NOTAGENE is not a gene in the graph"):
        model.predict(["CRISPRi_NOTAGENE"], [tuples.readouts[0]], [tuples.contexts[0]])


def test_a_saved_graph_model_predicts_the_same_after_loading(world, tmp_path):
    _sim, tuples, source = world
    held = _held_out(tuples, "CRISPRi_", 3, seed=1)
    model, test = _train_without(tuples, held, source)
    model.save(tmp_path / "m.pt")
    again = LPM.load(tmp_path / "m.pt")
    a, b = _predict_test(model, tuples, test), _predict_test(again, tuples, test)
    assert np.allclose(a[0], b[0], atol=1e-6) and np.allclose(a[1], b[1], atol=1e-6)


def test_the_gcn_encoder_learns_a_refinement_of_the_priors_and_still_predicts_unseen_genes(world, tmp_path):
    """priors.encoder = "gcn": a GCN along the gene relations, trained with the LPM, starts as the
    identity and moves; an unseen gene is still predicted from its (refined) prior."""
    _sim, tuples, source = world
    held = _held_out(tuples, "CRISPRi_", 9)
    model, test = _train_without(tuples, held, source, name="graph-small-gcn")
    module = next(iter(model.modules.values()))
    assert module.gene_gcn is not None and module.gene_gcn[1].lin.weight.abs().sum() > 0  # it trained
    assert model.prior_sources(sorted(held)) == ["prior"] * len(held)
    mean, std = _predict_test(model, tuples, test)
    score = _centered_pearson(tuples, test, mean)
    assert score > 0.3, score
    model.save(tmp_path / "gcn.pt")
    again = _predict_test(LPM.load(tmp_path / "gcn.pt"), tuples, test)
    assert np.allclose(mean, again[0], atol=1e-5) and np.allclose(std, again[1], atol=1e-5)
