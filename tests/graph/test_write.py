"""The writers' whitelists of labels and relationship types: real checks, raised before anything is written."""

import pandas as pd
import pytest

from conftest import graph_counts
from lpm_kg.contract import GroupTable, RelationTable
from lpm_kg.errors import InputError
from lpm_kg.graph.write import write_groups, write_relations


@pytest.mark.parametrize("rel_type", ["KNOWS", "INTERACTS_WITH]->(b) DETACH DELETE a //", "interacts_with", None])
def test_a_relationship_type_outside_the_whitelist_is_refused(graph, rel_type):
    before = graph_counts(graph)
    edges = pd.DataFrame({"source": ["STAT1"], "target": ["IRF1"], "score": [0.9]})
    with pytest.raises(InputError, match=r"field 'relationship type'.*not one lpm-kg writes.*Fix: use one of "
                                         r"INTERACTS_WITH, REGULATES"):
        write_relations(graph, "bad-net", RelationTable(rel_type, edges, "STRING", directed=False))
    assert graph_counts(graph) == before


@pytest.mark.parametrize("label", ["Gene", "Complex {id: 1}) DETACH DELETE g //", "complex", 3])
def test_a_group_label_outside_the_whitelist_is_refused(graph, label):
    before = graph_counts(graph)
    groups = pd.DataFrame({"id": ["g1"], "name": ["group one"]})
    members = pd.DataFrame({"group": ["g1"], "gene": ["STAT1"]})
    with pytest.raises(InputError, match=r"field 'label'.*not one lpm-kg writes.*Fix: use one of Complex, GeneSet"):
        write_groups(graph, "bad-groups", GroupTable(label, groups, members, "CORUM"))
    assert graph_counts(graph) == before


def test_whitelisted_types_are_written(graph):
    edges = pd.DataFrame({"source": ["STAT1"], "target": ["IRF1"], "score": [0.9]})
    assert write_relations(graph, "ok-net", RelationTable("INTERACTS_WITH", edges, "STRING", directed=False)) == {
        "n_edges": 1}
    assert graph.read("MATCH (:Gene {symbol: 'STAT1'})-[r:INTERACTS_WITH {dataset: 'ok-net'}]->(:Gene {symbol: 'IRF1'}) "
                      "RETURN count(r) AS n")[0]["n"] == 1
    groups = pd.DataFrame({"id": ["g1"], "name": ["group one"]})
    members = pd.DataFrame({"group": ["g1"], "gene": ["STAT1"]})
    assert write_groups(graph, "ok-groups", GroupTable("GeneSet", groups, members, "MSigDB"))["n_groups"] == 1
    assert graph.read("MATCH (:Gene {symbol: 'STAT1'})-[:MEMBER_OF]->(g:GeneSet {id: 'g1'}) RETURN count(g) AS n"
                      )[0]["n"] == 1
