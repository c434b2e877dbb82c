"""Gene-gene network discovery (lpm_kg.discovery.networks, .inference and .network_metrics, and
lpm_kg.graph.networks) on a simulated screen whose true network is known, synced into the real
server: inference, scoring against the loaded TRRUST-format truth, write-back and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import clean

from lpm_kg.discovery import inference as inf
from lpm_kg.discovery import network_metrics as nm
from lpm_kg.discovery import networks as nw
from lpm_kg.graph import networks as gn
from lpm_kg.simulate import SimulationConfig, simulate

# --------------------------------------------------------------------------- metrics, no server

def test_average_precision_matches_a_hand_computed_example():
    # Ranked: + - + - +  -> precision at each positive 1/1, 2/3, 3/5.
    assert nm.average_precision([1, 0, 1, 0, 1], [0.9, 0.8, 0.7, 0.6, 0.5]) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # Order of the input does not matter, only the scores.
    assert nm.average_precision([1, 1, 0, 0, 1], [0.5, 0.9, 0.6, 0.8, 0.7]) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # Ties share one threshold: 0.9 -> P=1, R=1/2; {0.5, 0.5} -> P=2/3, R=1.  AP = 1/2*1 + 1/2*2/3.
    assert nm.average_precision([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.5 + 1 / 3)
    # All tied: the prior. Perfect ranking: 1. NaN ranks last. No positive: NaN.
    assert nm.average_precision([1, 0, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)
    assert nm.average_precision([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.2]) == 1.0
    assert nm.average_precision([1, 0, 0], [np.nan, 0.5, 0.4]) == pytest.approx(1 / 3)
    assert np.isnan(nm.average_precision([0, 0], [0.1, 0.2]))
    assert nm.precision_at_k([1, 0, 1, 0, 1], [0.9, 0.8, 0.7, 0.6, 0.5], 2) == 0.5
    assert nm.precision_at_k([1, 0, 1], [0.1, 0.9, 0.5], 10) == pytest.approx(2 / 3)


def test_correlation_is_nan_aware_and_pruning_keeps_each_pair_once():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 40))
    full = inf.profile_correlation(x, absolute=False)
    z = (x - x.mean(0)) / x.std(0, ddof=1)
    assert np.allclose(full, np.corrcoef(z), atol=1e-9)
    holed = x.copy()
    holed[0, :30] = np.nan  # row 0 shares 10 columns with the others
    part = inf.profile_correlation(holed, absolute=False, min_shared=3)
    assert np.isfinite(part[0, 1:]).all() and np.allclose(part[1:, 1:], inf.profile_correlation(
        np.where(np.isnan(holed), np.nan, x), absolute=False)[1:, 1:])
    assert np.isnan(inf.profile_correlation(holed, min_shared=11)[0, 1])

    net = inf.GeneNetwork("m", ["A", "B", "C", "D"], inf._upper_symmetric(np.array(
        [[0, .9, .1, .2], [.9, 0, .8, .3], [.1, .8, 0, .7], [.2, .3, .7, 0]], np.float32)))
    edges = net.edges(top=None)
    assert list(zip(edges.source, edges.target)) == [("A", "B"), ("B", "C"), ("C", "D"), ("B", "D"), ("A", "D"),
                                                     ("A", "C")]
    assert list(edges["rank"]) == [1, 2, 3, 4, 5, 6]
    assert set(zip(*net.edges(top=None, per_gene=1)[["source", "target"]].to_numpy().T)) == {
        ("A", "B"), ("B", "C"), ("C", "D")}


# --------------------------------------------------------------------------- the simulated screen

# 80 genes, 60 knockdowns, 4 compounds, 4 contexts, 75 % of (perturbation, context) experiments performed.
SIM = SimulationConfig(n_genes=80, n_knockdowns=60, n_compounds=4, seed=0)


@pytest.fixture(scope="module")
def synced(session_graph, tmp_path_factory):
    """The simulator's screen and true network loaded and an LPM synced on it (once for the module)."""
    from lpm_kg.graph.pull import average_replicate_tuples, pull_tuples
    from lpm_kg.model import LPM
    from lpm_kg.sync import SyncConfig, sync

    # One thread: torch's default two on a shared 2-core machine made these small batches ~10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    graph = session_graph
    clean(graph)
    home = tmp_path_factory.mktemp("network-home")
    sim = simulate(SIM)
    files = sim.write(home / "sim")
    config = home / "lpm-kg.toml"
    config.write_text(f'[[sources]]\npath = "{files["genes"]}"\nformat = "hgnc"\ndataset = "sim-genes"\n\n'
                      f'[[sources]]\npath = "{files["measurements"]}"\nformat = "long"\ndataset = "sim"\n\n'
                      f'[[sources]]\npath = "{files["network"]}"\nformat = "trrust"\ndataset = "sim-network"\n\n'
                      '[model]\ndatasets = ["sim"]\npreset = "small"\n'
                      # With the context-free term, so that every method (shared-effect too) applies.
                      'overrides = { max_epochs = 15, seeds = [13], shared_rank = 16, shared_dropout = 0.5 }\n\n'
                      '[predict]\nunperformed = false\n')
    report = sync(graph, SyncConfig.from_toml(config), checkpoint_dir=home / "runs", show_progress=False,
                  echo=lambda _: None)
    model = LPM.load(home / "runs" / f"{report.run_id}.pt")
    tuples = average_replicate_tuples(pull_tuples(graph, ["sim"]))
    yield {"graph": graph, "sim": sim, "home": home, "run_id": report.run_id, "model": model, "tuples": tuples}
    torch.set_num_threads(threads)
    clean(graph)


def _reference_state(graph):
    return graph.read("MATCH (a:Gene)-[r:REGULATES]->(b:Gene) RETURN count(r) AS n, "
                      "collect(a.symbol + '>' + b.symbol + ':' + r.dataset + ':' + coalesce(r.mode, ''))[..5] AS some, "
                      "sum(size(a.symbol + b.symbol)) AS h")[0].data()


def test_every_method_scores_the_candidate_pairs_and_correlation_beats_random(synced):
    graph, sim, model, tuples = synced["graph"], synced["sim"], synced["model"], synced["tuples"]
    targets = gn.perturbation_targets(graph, model.vocab.perturbations)
    assert len(targets) == SIM.n_knockdowns and all(p == f"CRISPRi_{g}" for p, g in targets.items())
    refs = gn.load_references(graph, ["trrust"])
    assert list(refs) == ["sim-network"]
    ref = refs["sim-network"]
    truth = {tuple(sorted((sim.genes[i], sim.genes[j]))) for i, j in zip(*np.nonzero(sim.network))}
    assert ref.pairs == frozenset(truth) and ref.relation == "REGULATES"

    nets = inf.infer_networks(inf.METHODS, tuples=tuples, targets=targets, model=model)
    genes = sorted(targets.values())
    table = nm.compare(nets, refs).set_index("method")
    cand_i, cand_j, labels = nm.candidate_pairs(genes, ref)
    inside = [g for g in genes if g in ref.genes]
    assert len(labels) == len(inside) * (len(inside) - 1) // 2 and labels.sum() > 20
    for method, net in nets.items():
        assert net.genes == genes and net.method == method
        scored = np.isfinite(net.scores[cand_i, cand_j])
        row = table.loc[method]
        assert row["n_candidates"] == len(labels) and row["n_positives"] == labels.sum()
        assert row["prior"] == pytest.approx(labels.mean())
        if method == "raw-correlation":
            # Unscored: exactly the pairs of knockdowns never measured in one shared context.
            ctx_of = {}
            for p, c in zip(tuples.perturbation, tuples.context):
                ctx_of.setdefault(targets.get(tuples.perturbations[p]), set()).add(c)
            share = np.array([bool(ctx_of[genes[a]] & ctx_of[genes[b]]) for a, b in zip(cand_i, cand_j)])
            assert np.array_equal(scored, share) and scored.mean() > 0.9
        else:
            assert scored.all(), method
    # observed-first is raw wherever raw scores a pair, and fills the rest from imputation.
    raw, first = nets["raw-correlation"].scores, nets["observed-first"].scores
    both = np.isfinite(raw)
    assert np.allclose(first[both], raw[both]) and (~both[cand_i, cand_j]).any()
    assert nets["observed-first"].info["pairs_filled"] > 0
    random_auprc = table.loc["random", "auprc"]
    # The simulator's network is signed (activation and repression): |correlation| suits it better.
    signed_only = ["imputed-correlation", "raw-correlation", "cross-context-correlation", "zero-filled-correlation"]
    absolute = nm.compare(inf.infer_networks(signed_only, tuples=tuples, targets=targets, model=model, absolute=True),
                          refs).set_index("method")
    print("\n" + nm.format_table(table.reset_index()) + "\nabsolute:\n" + nm.format_table(absolute.reset_index()))
    for scored in (table, absolute):
        for method in signed_only:
            assert scored.loc[method, "auprc"] > 3 * random_auprc, method
            assert scored.loc[method, "auprc"] > 5 * scored.loc[method, "prior"], method
            assert scored.loc[method, "p@10"] >= 0.5, method
        # The paper's claim, on a known network: imputing unperformed experiments helps.
        assert scored.loc["imputed-correlation", "auprc"] > scored.loc["raw-correlation", "auprc"]
    assert table.loc["embedding-similarity", "auprc"] > table.loc["embedding-similarity", "prior"]
    assert table.loc["shared-effect", "auprc"] > 3 * random_auprc
    assert inf.default_methods(model) == list(inf.METHODS)


def test_write_back_is_idempotent_per_run_and_method_and_leaves_references_alone(synced):
    from lpm_kg.graph.runs import create_model_run, get_model_run

    graph, run_id = synced["graph"], synced["run_id"]
    before_refs = _reference_state(graph)
    metrics_before = get_model_run(graph, run_id)["metrics"]
    assert "val_rmse" in metrics_before
    report = nw.discover_networks(graph, run_id, synced["model"], synced["tuples"], references=["sim-network"],
                                  top=150)
    assert set(report.written) == set(inf.METHODS)
    rows = graph.read("MATCH (a:Gene)-[x:INFERRED_INTERACTION]->(b:Gene) RETURN x.run AS run, x.method AS m, "
                      "count(*) AS n, min(x.rank) AS lo, max(x.rank) AS hi, "
                      "sum(CASE WHEN a.symbol < b.symbol THEN 1 ELSE 0 END) AS ordered")
    assert {r["m"]: (r["run"], r["n"], r["lo"], r["hi"], r["ordered"]) for r in rows} == {
        m: (run_id, 150, 1, 150, 150) for m in inf.METHODS}
    stored = gn.read_network(graph, run_id, "imputed-correlation")
    expected = report.networks["imputed-correlation"].edges(top=150)
    cols = ["source", "target", "rank"]
    assert stored[cols].values.tolist() == expected[cols].values.tolist()
    assert np.allclose(stored["score"], expected["score"])
    assert _reference_state(graph) == before_refs

    # The same run and method again: the same edges, nothing added.
    def snapshot():
        return graph.read("MATCH (a:Gene)-[x:INFERRED_INTERACTION]->(b:Gene) "
                          "RETURN x.run AS r, x.method AS m, a.symbol AS a, b.symbol AS b, x.rank AS k, x.score AS s "
                          "ORDER BY r, m, k")

    first = [r.data() for r in snapshot()]
    gn.write_network(graph, run_id, report.networks["imputed-correlation"], top=150)
    assert [r.data() for r in snapshot()] == first
    # Another run's edges of the same method, then a rewrite of the first run with another top.
    create_model_run(graph, run_id="other-run", config={}, data_fingerprint="x", datasets=["sim"])
    gn.write_network(graph, "other-run", report.networks["imputed-correlation"], top=40)
    gn.write_network(graph, run_id, report.networks["imputed-correlation"], top=60)
    counts = {(r["r"], r["m"]): r["n"] for r in graph.read(
        "MATCH ()-[x:INFERRED_INTERACTION]->() RETURN x.run AS r, x.method AS m, count(*) AS n")}
    assert counts == {**{(run_id, m): 150 for m in inf.METHODS}, (run_id, "imputed-correlation"): 60,
                      ("other-run", "imputed-correlation"): 40}
    assert _reference_state(graph) == before_refs
    with pytest.raises(inf.NetworkError, match="not Gene nodes"):
        gn.write_network(graph, run_id, report.networks["random"].edges(top=3).assign(source="NOPE1"),
                         method="random")
    with pytest.raises(Exception, match="no model run"):
        gn.write_network(graph, "no-such-run", report.networks["random"], top=3)
    assert gn.delete_networks(graph, "other-run") == 40

    # Metrics: merged under "network", the training metrics kept.
    metrics = get_model_run(graph, run_id)["metrics"]
    assert {k: metrics[k] for k in metrics_before} == metrics_before
    scores = metrics["network"]["scores"]
    assert set(scores) == set(inf.METHODS) and "sim-network" in scores["random"]
    assert scores["imputed-correlation"]["sim-network"]["auprc"] == pytest.approx(
        report.table.set_index("method").loc["imputed-correlation", "auprc"])
    # Significance against the true network rewired with its degrees kept: the correlation of
    # LPM-imputed profiles is far above it, random scores are not; both stored with the run.
    table = report.table.set_index("method")
    assert table.loc["imputed-correlation", "auprc_p"] < 0.01 and table.loc["random", "auprc_p"] > 0.01
    assert table.loc["imputed-correlation", "tail_recall"] > table.loc["imputed-correlation", "tail_recall_null"]
    assert scores["random"]["sim-network"]["auprc_p"] == pytest.approx(table.loc["random", "auprc_p"])
    gn.record_network_metrics(graph, run_id, {"scores": {"extra-method": {"sim-network": {"auprc": 0.5}}}})
    merged = get_model_run(graph, run_id)["metrics"]
    assert set(merged["network"]["scores"]) == set(inf.METHODS) | {"extra-method"}
    assert merged["val_rmse"] == metrics_before["val_rmse"]


def test_network_command(synced, neo4j_server, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lpm_kg.commands.discovery_network import network

    user, password = neo4j_server.auth
    env = {"NEO4J_URI": neo4j_server.uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password,
           "LPM_KG_DATA_DIR": str(synced["home"])}
    runner = CliRunner()
    out = runner.invoke(network, ["--method", "raw-correlation,random", "--references", "trrust", "--top", "25",
                                  "--json", "--plot", str(tmp_path / "net.png")], env=env)
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["run_id"] == synced["run_id"] and result["written"] == {"raw-correlation": 25, "random": 25}
    assert {(r["method"], r["reference"]) for r in result["rows"]} == {("raw-correlation", "sim-network"),
                                                                       ("random", "sim-network")}
    assert (tmp_path / "net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = runner.invoke(network, ["--method", "random", "--no-write"], env=env)
    assert text.exit_code == 0, text.output
    assert "auprc" in text.output and "p@100" in text.output and "auprc_p" in text.output
    bad = runner.invoke(network, ["--references", "corum"], env=env)
    assert bad.exit_code != 0 and "no reference network 'corum'" in str(bad.exception)


@pytest.mark.parametrize("seed", range(6))
def test_average_precision_equals_scikit_learn(seed):
    """Against the reference implementation on random cases, ties included."""
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    labels = rng.random(n) < rng.uniform(0.05, 0.5)
    labels[0] = True
    scores = np.round(rng.normal(size=n) + labels * rng.uniform(0, 2), int(rng.integers(0, 3)))  # rounding makes ties
    assert nm.average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_observed_first_keeps_observed_scores_and_places_the_rest_on_their_scale():
    rng = np.random.default_rng(3)
    n = 30
    imputed = rng.normal(size=(n, n))
    imputed = (imputed + imputed.T) / 2
    observed = np.tanh(imputed) + 0.05 * rng.normal(size=(n, n))  # monotone in imputed, a little noise
    observed = (observed + observed.T) / 2
    np.fill_diagonal(observed, np.nan)
    hole = np.zeros((n, n), bool)
    hole[:8, 20:] = hole[20:, :8] = True  # genes 0-7 and 20-29 never measured in a shared context
    observed[hole] = np.nan
    out, info = inf.observed_first(observed, imputed)
    seen = np.isfinite(observed)
    assert np.array_equal(out[seen], observed[seen])  # measured scores untouched
    assert np.isfinite(out[hole]).all() and np.allclose(out, out.T, equal_nan=True)
    assert info["pairs_filled"] == 8 * 10 and info["pairs_observed"] == (n * (n - 1)) // 2 - 80
    # Placed where the observed scores of equally imputed pairs lie: close to tanh, within its range.
    assert np.abs(out[hole] - np.tanh(imputed[hole])).max() < 0.2
    assert observed[seen].min() - 1e-6 <= out[hole].min() and out[hole].max() <= observed[seen].max() + 1e-6
    # The fill keeps the imputed order exactly (flat stretches of the fit broken by the imputed score).
    a, b = imputed[hole], out[hole]
    assert (np.argsort(a, kind="stable") == np.argsort(b, kind="stable")).all()
    assert info["calibration_spearman"] > 0.9
    # Nothing to fill: the observed matrix comes back as it was.
    same, info = inf.observed_first(np.where(hole, 0.0, observed), imputed)
    assert info["pairs_filled"] == 0 and np.array_equal(same[seen], observed[seen])


def _two_screens(seed: int = 1):
    """A and C screened in context 0, B and D in context 1 (each with a shift and scale of its
    own), B acting like A; 40 other genes per context."""
    from lpm_kg.graph.pull import TupleSet

    rng = np.random.default_rng(seed)
    n_read = 30
    effect = {g: rng.normal(size=n_read) for g in "ABCD"}
    effect["B"] = effect["A"] + 0.05 * rng.normal(size=n_read)
    rows = []
    others = [[f"X{ctx}_{k}" for k in range(40)] for ctx in (0, 1)]
    for ctx, genes, shift, scale in ((0, ["A", "C", *others[0]], 1.0, 1.0), (1, ["B", "D", *others[1]], -3.0, 5.0)):
        for g in genes:
            v = effect[g] if g in effect else rng.normal(size=n_read)
            rows += [(g, r, ctx, shift + scale * v[r]) for r in range(n_read)]
    perts = sorted({g for g, *_ in rows})
    return TupleSet(np.array([perts.index(g) for g, *_ in rows], np.int32), np.array([r for _, r, _, _ in rows], np.int32),
                    np.array([c for _, _, c, _ in rows], np.int32), np.array([v for *_, v in rows], np.float32),
                    perts, [f"R{k}" for k in range(n_read)], ["ctx0", "ctx1"], ["d"])


def test_cross_context_correlation_scores_genes_screened_in_different_contexts():
    t = _two_screens()
    targets = {p: p for p in t.perturbations}
    raw = inf.raw_correlation(t, targets)
    cross = inf.cross_context_correlation(t, targets)
    a, b, c = (raw.genes.index(g) for g in "ABC")
    assert np.isnan(raw.scores[a, b]) and np.isfinite(raw.scores[a, c])  # raw keeps the contexts apart
    assert cross.scores[a, b] > 0.9 and cross.scores[a, b] == pytest.approx(cross.scores[b, a])
    assert cross.scores[a, b] > np.nanmax(np.abs(np.delete(cross.scores[a], [a, b])))
    assert cross.info["pairs_unscored"] == 0


def test_shared_effect_network_compares_genes_screened_in_different_contexts():
    from lpm_kg.errors import ConfigError
    from lpm_kg.model import LPM, LPMConfig, Vocabulary

    t = _two_screens()
    targets = {p: p for p in t.perturbations}
    vocab = Vocabulary(list(t.perturbations), list(t.readouts), list(t.contexts))
    settings = dict(embedding_dim=16, hidden=[32], dropout=0.0, batch_size=64, learning_rate=0.01, weight_decay=0.0,
                    patience=None, device="cpu", max_epochs=60, seeds=[13, 14])
    data = (t.perturbation, t.readout, t.context, t.value)
    shared = LPM(LPMConfig(**settings, shared_rank=8, shared_dropout=0.5), vocab).fit(data, show_progress=False)
    net = inf.infer_networks(["shared-effect"], tuples=t, targets=targets, model=shared)["shared-effect"]
    a, b = net.genes.index("A"), net.genes.index("B")
    # B acts like A though no context measured both: the pair stands out of A's row.
    assert net.scores[a, b] > 0.7 and net.scores[a, b] > np.nanmax(np.delete(net.scores[a], [a, b]))
    assert "shared-effect" in inf.default_methods(shared)
    paper = LPM(LPMConfig(**{**settings, "max_epochs": 1}), vocab).fit(data, show_progress=False)
    assert "shared-effect" not in inf.default_methods(paper)
    with pytest.raises(ConfigError, match="shared_rank"):
        inf.infer_networks(["shared-effect"], tuples=t, targets=targets, model=paper)
