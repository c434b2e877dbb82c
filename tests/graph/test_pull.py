"""The tuple pull returns exactly the stored measurements, as compact arrays."""

import numpy as np
import pandas as pd

from conftest import shared
from lpm_kg.graph.pull import average_replicate_tuples, pull_tuples


def test_pull_returns_every_measurement_of_the_source(graph, load_file):
    load_file("papalexi2021-sceptre/papalexi2021_pseudobulk_by_target.csv.gz", "long", "pap",
              perturbation_col="perturbation_target", readout_col="gene", value_col="log2fc_vs_nontargeting",
              method="CRISPR-KO", cell_line="THP-1", unmapped="skip")
    load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    tuples = pull_tuples(graph, ["pap"])
    src = pd.read_csv(shared("papalexi2021-sceptre/papalexi2021_pseudobulk_by_target.csv.gz"))
    assert tuples.datasets == ["pap"]
    assert len(tuples) == graph.read("MATCH (d:Dataset {name: 'pap'}) RETURN d.n_measurements AS n")[0]["n"]
    assert len(tuples) > 0.85 * len(src)
    for arr, dtype in ((tuples.perturbation, np.int32), (tuples.readout, np.int32), (tuples.context, np.int32),
                       (tuples.value, np.float32)):
        assert arr.dtype == dtype
    assert tuples.nbytes == 16 * len(tuples)
    # Spot-check one tuple against the file.
    p = tuples.perturbations.index("CRISPR-KO_STAT1")
    r = tuples.readouts.index("Transcriptome_STAT1")
    hit = (tuples.perturbation == p) & (tuples.readout == r)
    expected = src[(src.perturbation_target == "STAT1") & (src.gene == "STAT1")].log2fc_vs_nontargeting.iat[0]
    assert hit.sum() == 1 and np.isclose(tuples.value[hit][0], expected, atol=1e-6)
    # All complete datasets by default.
    both = pull_tuples(graph)
    assert sorted(both.datasets) == ["L1000", "pap"]
    assert len(both) == len(tuples) + 220 * 978


def test_average_replicates_merges_time_points(graph, load_file):
    load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    tuples = pull_tuples(graph, ["L1000"])
    averaged = average_replicate_tuples(tuples)
    exps = graph.read("MATCH (e:Experiment {dataset: 'L1000'}) RETURN count(DISTINCT [e.perturbation, e.context]) AS n")
    assert len(averaged) == exps[0]["n"] * 978
    # vemurafenib-10uM in A375: the mean of the 6 h and 24 h experiments.
    p, c, r = (tuples.perturbations.index("vemurafenib-10uM"), tuples.contexts.index("L1000_A375_CMP"),
               tuples.readouts.index("Transcriptome_DUSP6"))
    raw = tuples.value[(tuples.perturbation == p) & (tuples.context == c) & (tuples.readout == r)]
    avg = averaged.value[(averaged.perturbation == p) & (averaged.context == c) & (averaged.readout == r)]
    assert len(raw) == 2 and np.isclose(avg[0], raw.mean())
