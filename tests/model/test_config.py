"""Presets and their overrides (lpm_kg.model.config)."""

import pytest

from lpm_kg.errors import ConfigError
from lpm_kg.model.config import PRESETS, preset
from lpm_kg.priors import PriorSpec


def test_a_nested_override_updates_the_presets_table_and_is_validated():
    cfg = preset("graph-small", priors={"annotations": ["HAS_MOA"]}, seeds=[1])
    assert isinstance(cfg.priors, PriorSpec) and cfg.priors.annotations == ["HAS_MOA"]
    assert cfg.priors.relations == PRESETS["graph-small"].priors.relations and cfg.seeds == [1]
    assert preset("small", priors={"dim": 8}).priors.dim == 8  # the paper's preset gains priors
    assert PRESETS["graph-small"].priors.annotations == ["HAS_TARGET", "HAS_MOA"]  # the preset itself unchanged


def test_a_bad_override_names_the_preset_and_the_field():
    with pytest.raises(ConfigError, match="small.*embedding_dim"):
        preset("small", embedding_dim=0)
    with pytest.raises(ConfigError, match="unknown model preset 'nope'"):
        preset("nope")


def test_the_prior_encoder_is_named_only_when_it_is_not_the_default():
    # Runs are named by a digest of the dumped config: a setting added later must not rename the
    # runs made before it, so at its default it is left out of the dump.
    fitted, gcn = preset("graph-small"), preset("graph-small", priors={"encoder": "gcn"})
    assert "encoder" not in fitted.model_dump()["priors"] and "encoder" not in fitted.model_dump_json()
    assert gcn.model_dump()["priors"]["encoder"] == "gcn"
    assert type(gcn).model_validate(gcn.model_dump()).priors.encoder == "gcn"  # replayable from the saved config
    with pytest.raises(ConfigError, match="encoder"):
        preset("graph-small", priors={"encoder": "gat"})


@pytest.mark.parametrize("override, field", [({"hidden": [-1]}, "hidden"), ({"seeds": [13, 13]}, "repeat a seed"),
                                             ({"device": "bogus"}, "device"), ({"weight_decay": float("inf")},
                                                                                "weight_decay")])
def test_bad_settings_are_refused_before_training(override, field):
    with pytest.raises(ConfigError, match=field):
        preset("small", **override)
