"""The default model (lpm_kg.stacked): trains like an LPM, answers like one, for symbols measured
or known only through the graph, and survives its checkpoint."""

import numpy as np
import pytest
import torch

from lpm_kg.eval.benchmark import tuples_from_frame
from lpm_kg.model import Vocabulary
from lpm_kg.model.config import DEFAULT_PRESET, PRESETS, preset
from lpm_kg.priors import fit_gene_priors
from lpm_kg.priors.inputs import PriorSource
from lpm_kg.simulate import SimulationConfig, simulate
from lpm_kg.stacked import StackedModel, load_model, make_model
from lpm_kg.training import validation_mask


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    sim = simulate(SimulationConfig(n_genes=60, n_contexts=3, n_knockdowns=40, n_compounds=6, seed=4,
                                    n_annotated_only=2))
    t = tuples_from_frame(sim.measurements)
    knowledge = sim.knowledge()
    source = PriorSource(knowledge, fit_gene_priors(knowledge))
    vocab = Vocabulary(t.perturbations, t.readouts, t.contexts)
    val = validation_mask(t, 0.15, 0)
    arrays = (t.perturbation, t.readout, t.context, t.value)
    config = preset("stack-small", max_epochs=4, seeds=[13, 14], device="cpu")
    model = make_model(config, vocab, priors=source)
    checkpoint = tmp_path_factory.mktemp("runs") / "lpm-test.pt"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.fit(arrays, rows=(np.flatnonzero(~val), np.flatnonzero(val)), checkpoint=checkpoint, show_progress=False)
    finally:
        torch.set_num_threads(threads)
    return sim, t, model, checkpoint, val


def test_the_default_preset_is_the_stack():
    assert DEFAULT_PRESET == "stack-l1000" and PRESETS[DEFAULT_PRESET].stack
    assert PRESETS["stack-small"].priors is not None and not PRESETS["small"].stack


def test_stack_trains_both_lpms_and_weighs_on_validation(trained):
    _sim, t, model, checkpoint, val = trained
    assert isinstance(model, StackedModel) and model.is_graph and model.paper.priors is None
    weights = model.weights()
    # Sync's validation holds out experiments of perturbations measured elsewhere: the "seen" question.
    assert any(w > 0 for w in weights["seen"].values())
    # No unseen validation: the cross-fitted closed-form blend alone answers for a new perturbation.
    assert weights["unseen"]["lpm"] == weights["unseen"]["graph-lpm"] == 0
    assert sum(weights["unseen"].values()) > 0
    mean, std = model.predict_ids(t.perturbation[val], t.readout[val], t.context[val])
    assert np.isfinite(mean).all() and (std >= 0).all()
    y = t.value[val]
    assert np.corrcoef(mean, y)[0, 1] > 0.3
    # The checkpoint holds the whole stack; the LPMs' part files are gone.
    assert checkpoint.exists() and not checkpoint.with_suffix(".paper.pt").exists()


def test_stack_checkpoint_round_trip(trained):
    _sim, t, model, checkpoint, val = trained
    loaded = load_model(checkpoint)
    assert isinstance(loaded, StackedModel) and loaded.weights() == model.weights()
    a = model.predict_ids(t.perturbation[val], t.readout[val], t.context[val])
    b = loaded.predict_ids(t.perturbation[val], t.readout[val], t.context[val])
    assert np.allclose(a[0], b[0], atol=1e-5) and np.allclose(a[1], b[1], atol=1e-5)
    # Loaded with weights_only: tensors and plain containers, no pickled objects.
    torch.load(checkpoint, weights_only=True)


def test_stack_predicts_a_gene_never_perturbed_and_a_compound_never_measured(trained):
    sim, t, model, checkpoint, _val = trained
    knocked = {p.split("_", 1)[1] for p in t.perturbations if p.startswith("CRISPRi_")}
    regulated = {g for pair in sim.network.nonzero() for g in np.asarray(sim.genes)[pair]}
    gene = sorted(regulated - knocked)[0]
    compound = next(c for c in sim.compounds.pert_iname if "unmeasured" in c)
    readouts = list(t.readouts)
    for symbol, context in ((f"CRISPRi_{gene}", "SIM-A"), (f"{compound}-10uM", "SIM-A")):
        assert model.prior_sources([symbol]) == ["prior"]
        mean, std = model.predict([symbol] * len(readouts), readouts, [context] * len(readouts))
        assert np.isfinite(mean).all() and np.std(mean) > 0
        loaded = load_model(checkpoint)
        again, _ = loaded.predict([symbol] * len(readouts), readouts, [context] * len(readouts))
        assert np.allclose(mean, again, atol=1e-5)
