"""`lpm-kg list`: every registry of pluggable parts, from the registries themselves."""

import json

from click.testing import CliRunner

from lpm_kg.cli import main


def test_list_shows_every_registry_from_its_declaration():
    from lpm_kg.design.strategies import STRATEGIES
    from lpm_kg.discovery.inference import NETWORK_METHODS
    from lpm_kg.eval.metrics import metric_columns
    from lpm_kg.eval.models import MODELS
    from lpm_kg.eval.split import SPLITS
    from lpm_kg.model.config import PRESETS
    from lpm_kg.registry import loaders

    out = CliRunner().invoke(main, ["list", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert list(listed["metrics"]) == metric_columns()
    assert list(listed["splits"]) == list(SPLITS) == ["context", "perturbation", "readout"]
    assert list(listed["network-methods"]) == list(NETWORK_METHODS)
    assert list(listed["strategies"]) == list(STRATEGIES) and listed["strategies"]["coverage"].startswith("(default)")
    assert list(listed["models"]) == list(MODELS) and list(listed["presets"]) == list(PRESETS)
    assert set(listed["formats"]) == {spec.name for spec in loaders()}
    assert all(text for kind in listed.values() for text in kind.values())  # every entry says what it is

    one = CliRunner().invoke(main, ["list", "metrics"])
    assert one.exit_code == 0 and "(lower is better) root mean squared error" in one.output
    assert "splits:" not in one.output
    bad = CliRunner().invoke(main, ["list", "metric"])
    assert bad.exit_code != 0 and "metrics" in bad.output


def test_an_unknown_network_method_is_refused_with_the_known_ones():
    import pytest

    from lpm_kg.discovery.inference import infer_networks
    from lpm_kg.gene_network import NetworkError

    with pytest.raises(NetworkError, match="imputed-correlation"):
        infer_networks(["imputed"], tuples=None, targets={})
