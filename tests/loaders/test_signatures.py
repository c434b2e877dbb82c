"""Ranked signatures (sigrecon) -> signed scores, on the real sci-Plex and Replogle sets."""

import numpy as np
import pandas as pd

from conftest import shared

SCIPLEX = "sigrecon-signatures/sciplex_ranked_signatures_long.parquet"
REPLOGLE = "sigrecon-signatures/perturbseq_ranked_signatures_long.parquet"


def test_sciplex_signed_scores(graph, load_file):
    report = load_file(SCIPLEX, "ranked-signatures", "sciplex", unmapped="skip")
    src = pd.read_parquet(shared(SCIPLEX))
    assert report.counts["n_experiments"] == src.groupby(["perturbation", "context"], observed=True).ngroups
    assert report.counts["n_contexts"] == 3
    # Trametinib in K562: the most up gene scores 1, the last one -1, and the score is linear in rank.
    sig = src[(src.perturbation == "Trametinib (GSK1120212)") & (src.context == "k562")]
    top_gene_ensg = sig.loc[sig["rank"].idxmin(), "gene"]
    row = graph.read("MATCH (e:Experiment {perturbation: 'trametinib', context: 'sciplex_K562_CMP'})-[c:CHANGES]->"
                     "(r:Readout)-[:OF_GENE]->(g:Gene {ensembl: $ensg}) RETURN c.value AS v", {"ensg": top_gene_ensg})
    assert row and np.isclose(row[0]["v"], 1.0)
    vals = graph.read("MATCH (e:Experiment {perturbation: 'trametinib', context: 'sciplex_K562_CMP'}) "
                      "RETURN [v IN e.values WHERE NOT isNaN(v)] AS v")[0]["v"]
    assert min(vals) >= -1.0 and max(vals) <= 1.0
    assert abs(min(vals) + 1.0) < 0.01  # the bottom-ranked gene that resolves


def test_replogle_top_lists_leave_unlisted_genes_unmeasured(graph, load_file):
    report = load_file(REPLOGLE, "ranked-signatures", "replogle", perturbation_type="CRISPRi", scoring="top")
    src = pd.read_parquet(shared(REPLOGLE))
    assert report.counts["n_contexts"] == 2
    per_exp = graph.read("MATCH (e:Experiment {dataset: 'replogle'}) RETURN e.n_measured AS n")
    assert max(r["n"] for r in per_exp) <= 1000  # only the listed top-1000 genes
    assert sum(r["n"] for r in per_exp) == report.counts["n_measurements"]
    assert report.counts["n_measurements"] > 0.95 * len(src)
