"""A simulator of perturbation experiments over a known gene network, for the demo and for tests
whose ground truth must be known. It never stands in for the real data in tests.

Genes regulate each other through a sparse signed network W. A perturbation shifts its target
genes (a CRISPRi knockdown by -1, a compound by -potency at each of its targets) and the system
settles at the linear steady state x = (I - W_c)^-1 u, where W_c is the network of context c: each
context silences a share of the edges and scales every gene's response, so effects are
context-specific. Readouts add Gaussian noise.

The simulator writes ordinary files (an HGNC-style gene table, a long measurement table, a
compound table in the Drug Repurposing Hub's columns, the true network as a TRRUST-style table),
which the regular loaders load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lpm_kg.priors import Knowledge


@dataclass
class SimulationConfig:
    n_genes: int = 120
    n_contexts: int = 4
    n_knockdowns: int = 80
    n_compounds: int = 16
    edges_per_gene: float = 2.0
    context_edge_dropout: float = 0.2
    noise: float = 0.05
    observed_fraction: float = 0.75  # share of (perturbation, context) experiments performed
    seed: int = 0
    # Compounds in the annotation table that no experiment measured (drawn from their own random
    # stream, so the measurements are those of a simulation without them): what the graph alone
    # says about a compound (lpm-kg demo adds two).
    n_annotated_only: int = 0


@dataclass
class Simulation:
    genes: list[str]
    network: np.ndarray  # W[i, j]: effect of gene i on gene j
    contexts: list[str]
    measurements: pd.DataFrame  # perturbation, readout, context, value
    compounds: pd.DataFrame  # pert_iname, moa, target, clinical_phase
    truth: pd.DataFrame  # the full noiseless outcome of every experiment, performed or not

    def write(self, folder: Path) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        files = {"genes": folder / "sim_genes.tsv", "measurements": folder / "sim_measurements.csv",
                 "compounds": folder / "sim_compounds.txt", "network": folder / "sim_network.tsv"}
        pd.DataFrame({"hgnc_id": [f"SIM:{i + 1}" for i in range(len(self.genes))], "symbol": self.genes,
                      "name": [f"simulated gene {g}" for g in self.genes], "status": "Approved",
                      "entrez_id": [str(900000000 + i) for i in range(len(self.genes))],
                      "ensembl_gene_id": [f"ENSSIMG{i:011d}" for i in range(len(self.genes))]}
                     ).to_csv(files["genes"], sep="\t", index=False)
        self.measurements.to_csv(files["measurements"], index=False)
        self.compounds.to_csv(files["compounds"], sep="\t", index=False)
        src, dst = np.nonzero(self.network)
        pd.DataFrame({"tf": [self.genes[i] for i in src], "target": [self.genes[j] for j in dst],
                      "mode": np.where(self.network[src, dst] > 0, "Activation", "Repression"),
                      "pmid": "simulated"}).to_csv(files["network"], sep="\t", index=False, header=False)
        return files

    def knowledge(self):
        """The reference knowledge a user would load for this screen: the true network as
        REGULATES and the compound table's targets and MOAs (lpm_kg.priors.Knowledge)."""
        src, dst = np.nonzero(self.network)
        targets = {r.pert_iname: r.target.split("|") for r in self.compounds.itertuples()}
        moas = {r.pert_iname: [r.moa] for r in self.compounds.itertuples()}
        return Knowledge.from_tables(self.genes, regulates=[(self.genes[i], self.genes[j]) for i, j in zip(src, dst)],
                                     compound_targets=targets, compound_moas=moas)


def simulate(config: SimulationConfig | None = None) -> Simulation:
    cfg = config or SimulationConfig()
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_genes
    genes = [f"SIMG{i + 1:03d}" for i in range(n)]
    network = np.zeros((n, n))
    n_edges = int(cfg.edges_per_gene * n)
    src, dst = rng.integers(0, n, n_edges), rng.integers(0, n, n_edges)
    keep = src != dst
    network[src[keep], dst[keep]] = rng.choice([-1, 1], keep.sum()) * rng.uniform(0.3, 0.6, keep.sum())
    # Keep the spectral radius below 1 so the steady state exists.
    radius = np.max(np.abs(np.linalg.eigvals(network)))
    if radius > 0.8:
        network *= 0.8 / radius

    contexts = [f"SIM-{chr(ord('A') + c)}" for c in range(cfg.n_contexts)]
    responses = []
    for _ in contexts:
        mask = rng.random(network.shape) > cfg.context_edge_dropout
        scale = rng.uniform(0.6, 1.4, n)
        responses.append(np.linalg.inv(np.eye(n) - network * mask).T * scale[:, None])  # x = R @ u

    kd_genes = rng.choice(n, cfg.n_knockdowns, replace=False)
    perts: list[tuple[str, np.ndarray]] = []
    for g in kd_genes:
        u = np.zeros(n)
        u[g] = -1.0
        perts.append((f"CRISPRi_{genes[g]}", u))
    compounds = []
    for k in range(cfg.n_compounds):
        targets = rng.choice(kd_genes, rng.integers(1, 3), replace=False)  # targets that also have knockdowns
        u = np.zeros(n)
        u[targets] = -rng.uniform(0.6, 1.0, len(targets))
        name = f"simcompound-{k + 1:02d}"
        perts.append((f"{name}-10uM", u))
        compounds.append({"pert_iname": name, "clinical_phase": "Preclinical",
                          "moa": f"{genes[targets[0]]} inhibitor", "target": "|".join(genes[t] for t in targets)})

    rows, truth = [], []
    for c, ctx in enumerate(contexts):
        for symbol, u in perts:
            x = responses[c] @ u
            performed = rng.random() < cfg.observed_fraction
            truth.append(pd.DataFrame({"perturbation": symbol, "readout": genes, "context": ctx, "value": x,
                                       "performed": performed}))
            if performed:
                rows.append(pd.DataFrame({"perturbation": symbol, "readout": genes, "context": ctx,
                                          "value": x + rng.normal(0, cfg.noise, n)}))
    extra = np.random.default_rng([cfg.seed, 1])
    for k in range(cfg.n_annotated_only):
        targets = extra.choice(n, 2, replace=False)
        compounds.append({"pert_iname": f"simcompound-unmeasured-{k + 1:02d}", "clinical_phase": "Preclinical",
                          "moa": f"{genes[targets[0]]} inhibitor", "target": "|".join(genes[t] for t in targets)})
    return Simulation(genes, network, contexts, pd.concat(rows, ignore_index=True), pd.DataFrame(compounds),
                      pd.concat(truth, ignore_index=True))
