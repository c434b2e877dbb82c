"""The gene resolver on the real HGNC table (no database needed)."""

import pytest

from conftest import HGNC, shared
from lpm_kg.genes import GeneResolver


@pytest.fixture(scope="module")
def resolver():
    from loaders.hgnc import read_hgnc

    return GeneResolver(read_hgnc(shared(HGNC), None).genes)


def test_every_id_kind_reaches_one_gene(resolver):
    res = resolver.resolve(["STAT1", "stat1", "6772", "ENSG00000115415", "ENSG00000115415.21"])
    assert res.symbols == ["STAT1"] * 5 and res.n_failed == 0


def test_previous_symbols_resolve_to_the_current_one(resolver):
    # The L1000 shRNA plate names TOMM70 by its old symbol TOMM70A.
    assert resolver.resolve(["TOMM70A"]).symbols == ["TOMM70"]


def test_unknown_and_ambiguous_ids_are_reported_not_guessed(resolver):
    res = resolver.resolve(["NOT_A_GENE_XYZ", "STAT1"])
    assert res.symbols == [None, "STAT1"] and res.unknown == ["NOT_A_GENE_XYZ"]
    ambiguous = [a for a, hits in resolver._prev.items() if len(hits) > 1 and a not in resolver._upper]
    assert ambiguous, "HGNC has previous symbols shared by several genes"
    res = resolver.resolve([ambiguous[0]])
    assert res.symbols == [None] and len(res.ambiguous[ambiguous[0]]) > 1
