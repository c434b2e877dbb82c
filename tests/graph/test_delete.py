"""Deleting a dataset leaves the graph as if it had never been loaded, and nothing another dataset uses is touched."""

import pytest

from conftest import fingerprint
from lpm_kg.errors import ConfigError
from lpm_kg.graph.datasets import delete_dataset, delete_orphans


def test_deleting_a_dataset_equals_never_loading_it(graph, load_file):
    # Three sets that share readouts (genes) but not contexts.
    load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    alone = fingerprint(graph)
    load_file("papalexi2021-sceptre/papalexi2021_pseudobulk_by_target.csv.gz", "long", "pap",
              perturbation_col="perturbation_target", readout_col="gene", value_col="log2fc_vs_nontargeting",
              method="CRISPR-KO", cell_line="THP-1", unmapped="skip")
    load_file("cmapR-l1000/kd_gct_matrix.csv.gz", "gct-csv", "L1000-kd", cell_line="KD017")
    assert fingerprint(graph) != alone
    removed = delete_dataset(graph, "L1000-kd")
    delete_dataset(graph, "pap")
    assert removed["Experiment"] > 0 and removed["Perturbation"] > 0 and removed["Context"] > 0
    assert fingerprint(graph) == alone  # no orphan Context, ReadoutPanel, Perturbation, Readout or Compound
    assert delete_orphans(graph) == {}  # and what L1000 uses was kept


def test_a_compound_a_reference_table_described_stays(graph, load_file):
    load_file("repurposing-hub/repurposing_drugs_20200324.txt", "repurposing-hub", "drughub")
    load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    described = graph.read("MATCH (c:Compound) WHERE c.moa IS NOT NULL OR c.aliases IS NOT NULL RETURN count(c) AS n")
    delete_dataset(graph, "L1000")
    assert graph.read("MATCH (e:Experiment) RETURN count(e) AS n")[0]["n"] == 0
    assert graph.read("MATCH (p:Perturbation) RETURN count(p) AS n")[0]["n"] == 0
    assert graph.read("MATCH (c:Compound) WHERE c.moa IS NOT NULL OR c.aliases IS NOT NULL RETURN count(c) AS n"
                      ) == described
    assert graph.read("MATCH (c:Compound) WHERE c.moa IS NULL AND c.aliases IS NULL RETURN count(c) AS n")[0]["n"] == 0


def test_an_unknown_dataset_is_refused_and_nothing_changes(graph, load_file):
    load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    before = fingerprint(graph)
    with pytest.raises(ConfigError, match="no dataset 'nosuch'.*datasets: L1000"):
        delete_dataset(graph, "nosuch")
    assert fingerprint(graph) == before
