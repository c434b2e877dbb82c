"""Which compound annotations feed the priors (PriorSpec.annotations), and what names a prior run:
no server needed (but the last test)."""

import pytest

from lpm_kg.priors import Knowledge, PriorSpec, fit_gene_priors
from lpm_kg.priors.encoder import prior_run_id
from lpm_kg.priors.inputs import PriorSource

GENES = ["A", "B", "C", "D"]
TABLES = {"interacts": [("A", "B"), ("B", "C"), ("C", "D")], "compound_targets": {"drug": ["A"]},
          "compound_moas": {"drug": ["A inhibitor"]}}


def test_leaving_has_target_out_drops_the_targets_but_not_the_gene_priors():
    full = Knowledge.from_tables(GENES, **TABLES)
    moa_only = Knowledge.from_tables(GENES, **TABLES, annotations=("HAS_MOA",))
    assert full.compound_targets == {"drug": ["A"]} and moa_only.compound_targets == {}
    assert moa_only.compound_moas == {"drug": ["A inhibitor"]}
    # The gene vectors depend on the gene-gene relations only: one prior run serves both.
    assert full.relations_fingerprint() == moa_only.relations_fingerprint()
    assert full.fingerprint() != moa_only.fingerprint()  # but the model runs differ
    assert prior_run_id(full, PriorSpec()) == prior_run_id(moa_only, PriorSpec(annotations=["HAS_MOA"]))
    assert prior_run_id(full, PriorSpec()) == prior_run_id(full, PriorSpec(encoder="gcn"))  # it acts in the model
    assert Knowledge.from_state(moa_only.to_state()).annotations == ("HAS_MOA",)

    priors = fit_gene_priors(full, PriorSpec(dim=2))
    assert PriorSource(full, priors).atom("drug").targets == ["A"]
    described = PriorSource(moa_only, priors).atom("drug")
    assert described.targets == [] and described.moas == ["A inhibitor"] and described.has_prior
    none = PriorSource(Knowledge.from_tables(GENES, **TABLES, annotations=()), priors).atom("drug")
    assert not none.has_prior and "leave HAS_TARGET out" in none.reason


def test_an_unknown_annotation_is_refused_by_name(graph):
    from lpm_kg.errors import ConfigError
    from lpm_kg.priors import read_knowledge

    with pytest.raises(ConfigError, match="HAS_TARGETS.*choose from HAS_TARGET, HAS_MOA"):
        read_knowledge(graph, annotations=["HAS_TARGETS"])
