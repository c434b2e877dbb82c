"""Writing a trained LPM back into the graph: runs, embeddings with history, predictions, pruning.

A tiny LPM is trained on the real L1000 level-5 set pulled from the graph, so every symbol of its
vocabulary is a node; the server is the real one of conftest."""

import hashlib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lpm_kg.graph.embeddings import SIMILAR_QUERIES, most_similar, read_embeddings, write_embeddings
from lpm_kg.graph.predictions import read_predictions, write_predictions
from lpm_kg.graph.prune import prune_model_runs
from lpm_kg.graph.pull import pull_tuples
from lpm_kg.graph.runs import (
    WritebackError,
    complete_model_run,
    create_model_run,
    get_model_run,
    latest_model_run,
    list_model_runs,
)
from lpm_kg.model import LPM, LPMConfig, Vocabulary
from lpm_kg.training import data_fingerprint

KINDS = {"perturbations": "Perturbation", "readouts": "Readout", "contexts": "Context"}


def load_l1000(load_file):
    load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")


def train(graph, embedding_dim: int, n: int = 4000):
    tuples = pull_tuples(graph, ["L1000"])
    take = np.random.default_rng(0).choice(len(tuples), n, replace=False)
    config = LPMConfig(embedding_dim=embedding_dim, hidden=[16], max_epochs=2, seeds=[13], device="cpu",
                       patience=None)
    model = LPM(config, Vocabulary(tuples.perturbations, tuples.readouts, tuples.contexts))
    return model.fit((tuples.perturbation[take], tuples.readout[take], tuples.context[take], tuples.value[take]),
                     show_progress=False)


def register(graph, run_id: str, model) -> str:
    return create_model_run(graph, run_id=run_id, config=model.config.model_dump(),
                            data_fingerprint=data_fingerprint(graph, ["L1000"])[0], datasets=["L1000"],
                            metrics={"val_mse": 0.5}, versions={"lpm-kg": "test", "torch": "x", "neo4j-driver": "y"})


def snapshot(graph) -> dict:
    """Counts per label and type, and a digest of every written vector and prediction."""
    labels = {r["l"]: r["n"] for r in graph.read("MATCH (n) UNWIND labels(n) AS l RETURN l, count(*) AS n")}
    types = {r["t"]: r["n"] for r in graph.read("MATCH ()-[r]->() RETURN type(r) AS t, count(*) AS n")}
    h = hashlib.sha256()
    for label in KINDS.values():
        for r in graph.read(f"MATCH (n:{label}) RETURN n.symbol AS s, n.embedding AS v, n.embedding_run AS run "
                            "ORDER BY s"):
            h.update(repr((r["s"], r["run"], r["v"])).encode())
    for r in graph.read("MATCH (e:Embedding)-[:EMBEDS]->(n) RETURN e.id AS id, e.vector AS v, n.symbol AS s ORDER BY id"):
        h.update(repr((r["id"], r["s"], r["v"])).encode())
    for r in graph.read("MATCH (e:PredictedExperiment)-[:MEASURED_WITH]->(p) RETURN e.id AS id, e.values AS v, "
                        "e.std AS s, p.id AS panel ORDER BY id"):
        h.update(repr(tuple(r.values())).encode())
    for r in graph.read("MATCH (e:PredictedExperiment)-[c:PREDICTS]->(r) RETURN e.id AS e, r.symbol AS r, "
                        "c.rank AS k, c.value AS v, c.std AS s ORDER BY e, k"):
        h.update(repr(tuple(r.values())).encode())
    return {"labels": labels, "types": types, "digest": h.hexdigest()}


def unmeasured_predictions(graph, model, n_pairs: int = 6) -> pd.DataFrame:
    measured = {(r["p"], r["c"]) for r in graph.read(
        "MATCH (e:Experiment) RETURN DISTINCT e.perturbation AS p, e.context AS c")}
    pairs = [(p, c) for p in model.vocab.perturbations for c in model.vocab.contexts if (p, c) not in measured]
    assert len(pairs) >= n_pairs
    pairs = pairs[:n_pairs]
    # In the measured panel's readout order, so predictions and measurements share the panel.
    readouts = graph.read("MATCH (:Experiment)-[:MEASURED_WITH]->(p:ReadoutPanel) RETURN DISTINCT p.readouts AS r")[0]["r"]
    perts = [p for p, _ in pairs for _ in readouts]
    ctxs = [c for _, c in pairs for _ in readouts]
    reads = readouts * len(pairs)
    mean, std = model.predict(perts, reads, ctxs)
    return pd.DataFrame({"perturbation": perts, "context": ctxs, "readout": reads, "value": mean, "std": std})


def test_model_runs_are_recorded_idempotently(graph, load_file):
    load_l1000(load_file)
    model = train(graph, 8, n=1000)
    assert register(graph, "run-a", model) == "run-a"
    first = get_model_run(graph, "run-a")
    register(graph, "run-a", model)  # the same run again: nothing changes
    assert get_model_run(graph, "run-a") == first
    assert first["status"] == "writing" and first["config"]["embedding_dim"] == 8
    assert first["datasets"] == ["L1000"] and first["metrics"] == {"val_mse": 0.5}
    assert first["versions"]["lpm-kg"] == "test"
    assert first["data_fingerprint"] == data_fingerprint(graph, ["L1000"])[0]  # the one the training run names
    assert graph.read("MATCH (:ModelRun {run_id: 'run-a'})-[:TRAINED_ON]->(d:Dataset) RETURN d.name AS n")[0]["n"] == "L1000"
    assert graph.read("MATCH (r:ModelRun) RETURN count(r) AS n")[0]["n"] == 1
    with pytest.raises(WritebackError, match="already exists with another config"):
        create_model_run(graph, run_id="run-a", config={"embedding_dim": 9}, data_fingerprint=first["data_fingerprint"],
                         datasets=["L1000"], metrics=None, versions={})
    with pytest.raises(WritebackError, match="run id"):
        create_model_run(graph, run_id="a:b", config={}, data_fingerprint="x", datasets=[], metrics=None, versions={})

    assert latest_model_run(graph) is None  # not complete yet
    assert latest_model_run(graph, complete_only=False)["run_id"] == "run-a"
    complete_model_run(graph, "run-a", metrics={"val_mse": 0.25})
    done = latest_model_run(graph)
    assert done["run_id"] == "run-a" and done["status"] == "complete" and done["metrics"] == {"val_mse": 0.25}
    assert done["completed_at"] >= done["created_at"]
    create_model_run(graph, run_id="run-b", config={"x": 1}, data_fingerprint="f", datasets=["L1000", "gone"],
                     metrics=None, versions=None)
    assert [r["run_id"] for r in list_model_runs(graph)] == ["run-b", "run-a"]
    assert latest_model_run(graph)["run_id"] == "run-a"
    b = get_model_run(graph, "run-b")
    assert b["datasets"] == ["L1000", "gone"] and {"lpm-kg", "torch", "neo4j-driver"} <= set(b["versions"])
    with pytest.raises(WritebackError, match="no model run"):
        write_embeddings(graph, "run-c", model)


def test_embeddings_land_with_history_and_prune(graph, load_file):
    load_l1000(load_file)
    small = train(graph, 8)
    register(graph, "run-8", small)
    report = write_embeddings(graph, "run-8", small)
    complete_model_run(graph, "run-8")
    for kind, label in KINDS.items():
        vocab = getattr(small.vocab, kind)
        assert report[kind] == {"written": len(vocab), "missing": 0, "dim": 8}
        rows = graph.read(f"MATCH (n:{label}) WHERE n.symbol IN $s RETURN n.symbol AS s, n.embedding AS v, "
                          "n.embedding_run AS run", {"s": vocab})
        assert len(rows) == len(vocab) and all(r["run"] == "run-8" for r in rows)
        table = small.embeddings(kind)
        stored = {r["s"]: r["v"] for r in rows}
        np.testing.assert_array_equal(np.array([stored[s] for s in vocab], dtype=np.float32), table)
        symbols, history = read_embeddings(graph, "run-8", kind)
        assert symbols == sorted(vocab)
        np.testing.assert_array_equal(history, table[[vocab.index(s) for s in symbols]])
    assert get_model_run(graph, "run-8")["n_embeddings"] == sum(len(getattr(small.vocab, k)) for k in KINDS)

    # The similarity query: one Cypher call, k rows, the query node itself first.
    for kind, symbol in (("perturbations", "vemurafenib-10uM"), ("readouts", "Transcriptome_DUSP6"),
                         ("contexts", "L1000_A375_CMP")):
        rows = graph.read(SIMILAR_QUERIES[kind], {"symbol": symbol, "k": 5})
        assert len(rows) == 5 and rows[0]["symbol"] == symbol and rows[0]["score"] == pytest.approx(1.0, abs=1e-4)
        assert [s for s, _ in most_similar(graph, kind, symbol, 5)] == [r["symbol"] for r in rows]
    # The index ranks as exact cosine over the stored table does.
    vecs = small.embeddings("readouts")
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    q = small.vocab.readouts.index("Transcriptome_DUSP6")
    exact = [small.vocab.readouts[i] for i in np.argsort(-(unit @ unit[q]), kind="stable")[:5]]
    index_hits = [s for s, _ in most_similar(graph, "readouts", "Transcriptome_DUSP6", 5)]
    assert index_hits[0] == exact[0] and len(set(index_hits) & set(exact)) >= 4

    # Writing the same run again changes nothing.
    before = snapshot(graph)
    write_embeddings(graph, "run-8", small)
    assert snapshot(graph) == before

    # A second run of another dimension: the indexes are rebuilt, the first run stays readable.
    large = train(graph, 16)
    register(graph, "run-16", large)
    write_embeddings(graph, "run-16", large)
    complete_model_run(graph, "run-16")
    dims = {r["name"]: r["options"]["indexConfig"]["vector.dimensions"]
            for r in graph.read("SHOW VECTOR INDEXES YIELD name, options")}
    assert dims["perturbation_embedding"] == dims["readout_embedding"] == dims["context_embedding"] == 16
    assert graph.read("MATCH (n:Perturbation) WHERE n.embedding IS NOT NULL "
                      "RETURN collect(DISTINCT n.embedding_run) AS runs, collect(DISTINCT size(n.embedding)) AS d")[0
                      ].values() == [["run-16"], [16]]
    rows = graph.read(SIMILAR_QUERIES["contexts"], {"symbol": "L1000_MCF7_CMP", "k": 3})
    assert len(rows) == 3 and rows[0]["symbol"] == "L1000_MCF7_CMP"
    symbols, old = read_embeddings(graph, "run-8", "readouts")
    assert old.shape == (978, 8)
    np.testing.assert_array_equal(old[symbols.index("Transcriptome_DUSP6")], vecs[q])
    old_hits = most_similar(graph, "readouts", "Transcriptome_DUSP6", 5, run="run-8")
    assert [s for s, _ in old_hits] == exact and old_hits[0][1] == pytest.approx(1.0, abs=1e-6)

    # Predictions of the old run, to see that prune takes them too.
    write_predictions(graph, "run-8", unmeasured_predictions(graph, small, 2))
    write_predictions(graph, "run-16", unmeasured_predictions(graph, large, 2))
    n_experiments = graph.read("MATCH (e:Experiment) RETURN count(e) AS n")[0]["n"]

    assert prune_model_runs(graph, keep=1) == ["run-8"]
    assert [r["run_id"] for r in list_model_runs(graph)] == ["run-16"]
    assert graph.read("MATCH (e:Embedding) RETURN collect(DISTINCT e.run) AS r")[0]["r"] == ["run-16"]
    assert graph.read("MATCH (e:PredictedExperiment) RETURN collect(DISTINCT e.run) AS r")[0]["r"] == ["run-16"]
    assert read_embeddings(graph, "run-8", "readouts")[0] == []
    assert graph.read("MATCH (e:Experiment) RETURN count(e) AS n")[0]["n"] == n_experiments
    for label in KINDS.values():  # the kept run's current embeddings are untouched
        assert graph.read(f"MATCH (n:{label}) RETURN collect(DISTINCT n.embedding_run) AS r")[0]["r"] == ["run-16"]
    assert most_similar(graph, "perturbations", "vemurafenib-10uM", 3)[0][0] == "vemurafenib-10uM"
    assert prune_model_runs(graph, keep=1) == []


def test_prune_restores_current_embeddings_from_a_kept_run(graph, load_file):
    load_l1000(load_file)
    model = train(graph, 8, n=1000)
    for run in ("old", "new"):
        register(graph, run, model)
        complete_model_run(graph, run)
    write_embeddings(graph, "new", model)
    write_embeddings(graph, "old", model)  # the older run's vectors written last are current
    assert prune_model_runs(graph, keep=1) == ["old"]
    rows = graph.read("MATCH (n:Readout) RETURN collect(DISTINCT n.embedding_run) AS r, count(n.embedding) AS n")[0]
    assert rows["r"] == ["new"] and rows["n"] == 978
    assert most_similar(graph, "readouts", "Transcriptome_DUSP6", 2)[0][0] == "Transcriptome_DUSP6"

    # A run that embeds fewer perturbations: the others lose their (other space's) vectors.
    few = model.vocab.perturbations[:4]
    partial = SimpleNamespace(vocab=Vocabulary(few, model.vocab.readouts, model.vocab.contexts), config=model.config,
                              embeddings=lambda kind, seed=None: model.embeddings(kind)[:4]
                              if kind == "perturbations" else model.embeddings(kind))
    register(graph, "partial", model)
    assert write_embeddings(graph, "partial", partial)["perturbations"]["written"] == 4
    rows = graph.read("MATCH (n:Perturbation) RETURN n.symbol AS s, n.embedding_run AS run ORDER BY s")
    assert {r["s"]: r["run"] for r in rows} == {p: ("partial" if p in few else None) for p in model.vocab.perturbations}
    assert len(most_similar(graph, "perturbations", few[0], 10)) == 4

    # A run still being written, newer than every complete one, may be in progress: never pruned.
    assert prune_model_runs(graph, keep=0) == ["new"]
    complete_model_run(graph, "partial")
    # Nothing kept: no vectors anywhere, and a similarity search says why it finds nothing.
    assert prune_model_runs(graph, keep=0) == ["partial"]
    assert graph.read("MATCH (n) WHERE n.embedding IS NOT NULL OR n:Embedding RETURN count(n) AS n")[0]["n"] == 0
    with pytest.raises(WritebackError, match="no current embedding"):
        most_similar(graph, "readouts", "Transcriptome_DUSP6", 2)
    with pytest.raises(WritebackError, match="there is no Readout"):
        most_similar(graph, "readouts", "Transcriptome_NOTAGENE", 2)


def test_predictions_round_trip(graph, load_file):
    load_l1000(load_file)
    model = train(graph, 8, n=2000)
    register(graph, "run-p", model)
    preds = unmeasured_predictions(graph, model, 6)
    report = write_predictions(graph, "run-p", preds, top_k=10)
    assert report["n_predicted_experiments"] == 6 and report["n_panels"] == 1
    back = read_predictions(graph, "run-p")
    expected = preds.sort_values(["perturbation", "context"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    np.testing.assert_array_equal(back["value"].to_numpy(), expected["value"].to_numpy())
    np.testing.assert_array_equal(back["std"].to_numpy(), expected["std"].to_numpy())

    # The panel is the measured one (same readout order), and the top effects are browsable.
    assert graph.read("MATCH (e:PredictedExperiment)-[:MEASURED_WITH]->(p:ReadoutPanel) "
                      "RETURN count(DISTINCT p) AS n, sum(CASE WHEN EXISTS { (p)<-[:MEASURED_WITH]-(:Experiment) } "
                      "THEN 1 ELSE 0 END) AS shared")[0].values() == [1, 6]
    p, c = preds.perturbation.iat[0], preds.context.iat[0]
    top = graph.read("MATCH (e:PredictedExperiment {perturbation: $p, context: $c})-[x:PREDICTS]->(r:Readout) "
                     "MATCH (e)-[:PREDICTED_BY]->(run:ModelRun), (e)-[:OF_PERTURBATION]->(:Perturbation {symbol: $p}), "
                     "(e)-[:IN_CONTEXT]->(:Context {symbol: $c}) "
                     "RETURN run.run_id AS run, r.symbol AS r, x.value AS v, x.std AS s, x.rank AS k ORDER BY k",
                     {"p": p, "c": c})
    one = preds[(preds.perturbation == p) & (preds.context == c)]
    strongest = one.iloc[np.argsort(-one.value.abs().to_numpy(), kind="stable")[:10]]
    assert [r["k"] for r in top] == list(range(1, 11)) and {r["run"] for r in top} == {"run-p"}
    assert [r["r"] for r in top] == strongest.readout.tolist()
    assert [r["v"] for r in top] == strongest.value.tolist() and [r["s"] for r in top] == strongest["std"].tolist()
    assert get_model_run(graph, "run-p")["n_predictions"] == 6

    # Idempotent; a (perturbation, context) written again is replaced, others stay.
    before = snapshot(graph)
    write_predictions(graph, "run-p", preds, top_k=10)
    assert snapshot(graph) == before
    changed = preds[(preds.perturbation == p) & (preds.context == c)].iloc[:50].assign(value=1.0)
    write_predictions(graph, "run-p", changed, top_k=3)
    again = read_predictions(graph, "run-p", perturbation=p, context=c)
    assert len(again) == 50 and (again.value == 1.0).all()
    assert len(read_predictions(graph, "run-p")) == 5 * 978 + 50
    assert graph.read("MATCH (e:PredictedExperiment {perturbation: $p, context: $c})-[:PREDICTS]->() "
                      "RETURN count(*) AS n", {"p": p, "c": c})[0]["n"] == 3
    assert graph.read("MATCH (e:PredictedExperiment {perturbation: $p, context: $c})-[:MEASURED_WITH]->() "
                      "RETURN count(*) AS n", {"p": p, "c": c})[0]["n"] == 1


def test_bad_predictions_are_refused_before_writing(graph, load_file):
    load_l1000(load_file)
    create_model_run(graph, run_id="r", config={}, data_fingerprint="x", datasets=["L1000"], metrics=None,
                     versions={})
    good = pd.DataFrame({"perturbation": ["vemurafenib-10uM"] * 2, "context": ["L1000_A375_CMP"] * 2,
                         "readout": ["Transcriptome_DUSP6", "Transcriptome_STAT1"], "value": [1.0, -2.0],
                         "std": [0.1, np.nan]})
    for bad, message in ((good.drop(columns="std"), "lack column"),
                         (good.assign(readout="Transcriptome_DUSP6"), "repeated"),
                         (good.assign(value=[1.0, np.nan]), "NaN"),
                         (good.assign(std=[-1.0, 0.0]), "negative"),
                         (good.assign(context="L1000_NOWHERE_CMP"), "not in the graph")):
        with pytest.raises(WritebackError, match=message):
            write_predictions(graph, "r", bad)
    assert graph.read("MATCH (e:PredictedExperiment) RETURN count(e) AS n")[0]["n"] == 0
    write_predictions(graph, "r", good)
    back = read_predictions(graph, "r")
    assert back.value.tolist() == [1.0, -2.0] and back["std"].iat[0] == 0.1 and np.isnan(back["std"].iat[1])
