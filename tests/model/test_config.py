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
