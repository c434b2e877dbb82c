"""What acts with what, against the real server on the simulator: ``lpm-kg partners`` (a gene's
learned partners beside what the references know; the true network loaded as the reference, so what
is known is known) and ``lpm-kg mechanisms`` (same-MOA retrieval among compounds and a compound's
likely MOAs; the simulator's compounds get four shared MOA classes)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import sync_simulation

from lpm_kg.discovery.partners import gene_partners
from lpm_kg.gene_network import NetworkError


def _classes(table):
    table["moa"] = [f"class-{'ABCD'[k % 4]}" for k in range(len(table))]
    return table


@pytest.fixture(scope="module")
def sim(session_graph, tmp_path_factory):
    report, simulation = sync_simulation(session_graph, tmp_path_factory.mktemp("partners-sim"), _classes)
    return session_graph, report, simulation


def _perturbed(simulation) -> list[str]:
    m = simulation.measurements
    return sorted({p.split("_", 1)[1] for p in m["perturbation"].unique() if p.startswith(("CRISPR", "shRNA"))})


def _true_partners(simulation, gene: str) -> set[str]:
    k = simulation.genes.index(gene)
    w = simulation.network
    return {simulation.genes[j] for j in np.flatnonzero((w[k] != 0) | (w[:, k] != 0)) if j != k}


def test_partners_rank_perturbed_genes_with_the_references_evidence(sim):
    graph, report, simulation = sim
    perturbed = _perturbed(simulation)
    gene = perturbed[0]
    found = gene_partners(graph, gene, k=10)
    t = found.table
    assert found.run == report.run_id and found.n_genes == len(perturbed)
    assert len(t) == 10 and gene not in set(t["partner"]) and set(t["partner"]) <= set(perturbed)
    assert (np.diff(t["cosine"]) <= 1e-9).all() and t["pair_p"].between(0, 1).all()
    assert (np.diff(t["pair_p"]) >= -1e-12).all()  # less similar pairs are less unusual
    truth = _true_partners(simulation, gene)
    for partner, known in zip(t["partner"], t["known"]):
        # The evidence is exactly the true network's edges, named by the dataset that loaded them.
        assert bool(known) == (partner in truth)
        assert all(line.startswith("sim-network: regulat") for line in known)
    assert found.known_total == len(truth & set(perturbed))
    assert found.known_in_top == sum(bool(k) for k in t["known"])
    assert found.expected_in_top == pytest.approx(10 * found.known_total / (len(perturbed) - 1))


def test_learned_partners_find_the_true_network_above_chance(sim):
    """Over every perturbed gene with true partners, the 10 nearest hold more of them than a random
    list of perturbed genes would (on the simulator the embeddings follow the network)."""
    graph, _, simulation = sim
    found, expected = 0, 0.0
    for gene in _perturbed(simulation):
        if not _true_partners(simulation, gene):
            continue
        p = gene_partners(graph, gene, k=10)
        found += p.known_in_top
        expected += p.expected_in_top
    assert found > 1.5 * expected


def test_partners_refuses_a_gene_that_was_not_perturbed(sim):
    graph, _, simulation = sim
    unperturbed = sorted(set(simulation.genes) - set(_perturbed(simulation)))[0]
    with pytest.raises(NetworkError, match="not a perturbed gene"):
        gene_partners(graph, unperturbed)
    with pytest.raises(NetworkError, match="not a perturbed gene"):
        gene_partners(graph, "NOT_A_GENE")


def test_partners_command_prints_evidence_and_significance(sim, neo4j_server):
    from lpm_kg.cli import main

    graph, report, simulation = sim
    user, password = neo4j_server.auth
    env = {"NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password}
    gene = _perturbed(simulation)[0]
    res = CliRunner().invoke(main, ["partners", gene, "--top", "5"], env=env)
    assert res.exit_code == 0, res.output
    assert f"partners of {gene} in run {report.run_id}" in res.output and "hypergeometric p" in res.output
    res = CliRunner().invoke(main, ["partners", gene, "--top", "5", "--json"], env=env)
    out = json.loads(res.output)
    assert out["run"] == report.run_id and len(out["partners"]) == 5 and 0 < out["enrichment_p"] <= 1
    res = CliRunner().invoke(main, ["partners", "NOT_A_GENE"], env=env)
    assert res.exit_code != 0 and "not a perturbed gene" in res.output


def test_mechanism_retrieval_scores_the_run_and_raw_on_the_annotated_compounds(sim):
    from lpm_kg.discovery.compound_mechanisms import compound_space, mechanism_retrieval

    graph, report, simulation = sim
    space = compound_space(graph)
    assert space.run == report.run_id and len(space.compounds) == len(simulation.compounds)
    assert {m for ms in space.moas.values() for m in ms} == {"class-A", "class-B", "class-C", "class-D"}
    result = mechanism_retrieval(graph, n_null=50)
    t = result.table.set_index("map")
    assert list(t.index) == [f"embedding ({report.run_id})", "raw signatures"]
    assert (t["n_queries"] == len(simulation.compounds)).all()  # every compound shares its class
    assert t["map_score"].between(0, 1).all() and t["p_value"].between(1 / 51, 1).all()
    assert t["map_null"].between(0.1, 0.5).all()  # 4 classes of 4: a random ranking's AP is about 3/15
    c = result.compare.iloc[0]
    assert c["other"] == "raw signatures" and c["n_queries"] == len(simulation.compounds)


def test_mechanisms_command_records_on_the_run_and_explains_a_compound(sim, neo4j_server):
    from lpm_kg.cli import main
    from lpm_kg.graph.runs import get_model_run

    graph, report, simulation = sim
    user, password = neo4j_server.auth
    env = {"NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password}
    res = CliRunner().invoke(main, ["mechanisms", "--null", "20"], env=env)
    assert res.exit_code == 0, res.output
    assert "same-mechanism retrieval" in res.output and "one-sided Wilcoxon" in res.output
    stored = get_model_run(graph, report.run_id)["metrics"]["mechanisms"]
    assert stored["run"] == report.run_id and len(stored["table"]) == 2 and "val_rmse" in \
        get_model_run(graph, report.run_id)["metrics"]
    name = simulation.compounds["pert_iname"].iloc[0]
    res = CliRunner().invoke(main, ["mechanisms", name, "--top", "5", "--json"], env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["compound"] == name.lower() and len(out["annotated"]) == 1
    votes = out["mechanisms"]
    assert votes and sum(len(v["neighbours"]) for v in votes) == 5  # one class per neighbour
    assert [v["score"] for v in votes] == sorted((v["score"] for v in votes), reverse=True)
    res = CliRunner().invoke(main, ["mechanisms", "not-a-compound"], env=env)
    assert res.exit_code != 0 and "has no perturbation embedded" in res.output
