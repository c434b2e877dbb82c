// What a trained model writes back (lpm_kg.graph.runs, embeddings, predictions): every value names its ModelRun.
// The vector indexes on Perturbation/Readout/Context.embedding are not here: their dimension is
// the model's, so lpm_kg.graph.embeddings.write_embeddings creates (and, for a new dimension, recreates) them.
CREATE CONSTRAINT model_run_id IF NOT EXISTS FOR (n:ModelRun) REQUIRE n.run_id IS UNIQUE;
CREATE CONSTRAINT embedding_id IF NOT EXISTS FOR (n:Embedding) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT predicted_experiment_id IF NOT EXISTS FOR (n:PredictedExperiment) REQUIRE n.id IS UNIQUE;
// Per-run scans (prune, history reads) and lookups of a prediction by its symbols.
CREATE INDEX embedding_run IF NOT EXISTS FOR (n:Embedding) ON (n.run);
CREATE INDEX predicted_experiment_run IF NOT EXISTS FOR (n:PredictedExperiment) ON (n.run);
CREATE INDEX predicted_experiment_pc IF NOT EXISTS FOR (n:PredictedExperiment) ON (n.perturbation, n.context);
CREATE INDEX predicts_rank IF NOT EXISTS FOR ()-[r:PREDICTS]-() ON (r.rank);
