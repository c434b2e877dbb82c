"""Long tables on the real Papalexi pseudobulk CSV, and the same values through the h5ad path."""

import numpy as np
import pandas as pd

from conftest import shared

CSV = "papalexi2021-sceptre/papalexi2021_pseudobulk_by_target.csv.gz"


def test_long_table_loads_the_published_pseudobulk(graph, load_file):
    report = load_file(CSV, "long", "papalexi-long", perturbation_col="perturbation_target", readout_col="gene",
                       value_col="log2fc_vs_nontargeting", method="CRISPR-KO", cell_line="THP-1", unmapped="skip")
    src = pd.read_csv(shared(CSV))
    assert report.counts["n_experiments"] == src.perturbation_target.nunique()  # 25 KOs + the control
    row = graph.read("MATCH (e:Experiment {perturbation: 'CRISPR-KO_JAK2'})-[:MEASURED_WITH]->(p) "
                     "WITH e, [i IN range(0, size(p.readouts) - 1) WHERE p.readouts[i] = 'Transcriptome_JAK2'][0] AS i "
                     "RETURN e.values[i] AS v, e.context AS c")[0]
    expected = src[(src.perturbation_target == "JAK2") & (src.gene == "JAK2")].log2fc_vs_nontargeting.iat[0]
    assert np.isclose(row["v"], expected, atol=1e-6) and row["c"] == "papalexi-long_THP-1_CRISPR-KO"
    assert graph.read("MATCH (p:Perturbation {symbol: 'Control'}) RETURN p.kind AS k")[0]["k"] == "control"


def test_symbols_and_combinations_in_a_long_table(graph, load_file, tmp_path):
    path = tmp_path / "long.csv"
    pd.DataFrame({"perturbation": ["CRISPRi_STAT1", "CRISPRi_STAT1+CRISPRi_IRF1", "vemurafenib-10uM", "Control"],
                  "readout": ["6772", "ENSG00000115415", "DUSP6", "DUSP6"],  # Entrez, Ensembl, symbol
                  "context": ["K562", "K562", "A375", "A375"], "value": [-2.0, -1.5, -6.0, 0.1]}).to_csv(path, index=False)
    load_file(path, "long", "mini")
    combo = graph.read("MATCH (p:Perturbation {symbol: 'CRISPRi_IRF1+CRISPRi_STAT1'})-[:HAS_PART]->(q) "
                       "RETURN q.symbol AS s ORDER BY s")
    assert [r["s"] for r in combo] == ["CRISPRi_IRF1", "CRISPRi_STAT1"]
    assert graph.read("MATCH (:Perturbation {symbol: 'vemurafenib-10uM'})-[:OF_COMPOUND]->(c:Compound) "
                      "RETURN c.name AS n")[0]["n"] == "vemurafenib"
    ctx = graph.read("MATCH (c:Context) RETURN c.symbol AS s ORDER BY s")
    assert [r["s"] for r in ctx] == ["mini_A375_CMP", "mini_K562_CRISPRi"]
