// name: model-run
// description: What one model run produced: the datasets it was trained on, its metrics (JSON),
//   its embedding size, and counts of its embeddings (history, and nodes whose current embedding
//   it wrote), predicted experiments with their PREDICTS edges, and inferred gene-gene edges.
// params:
//   run (string) — a ModelRun run_id (see the model-runs query), e.g. "lpm-1c166d388054"
MATCH (m:ModelRun {run_id: $run})
RETURN m.run_id AS run, m.kind AS kind, m.status AS status,
       toString(m.created_at) AS created_at, toString(m.completed_at) AS completed_at,
       [(m)-[:TRAINED_ON]->(d:Dataset) | d.name] AS trained_on, m.metrics AS metrics,
       m.embedding_dim AS embedding_dim,
       COUNT { (m)<-[:FROM_RUN]-(:Embedding) } AS embeddings,
       COUNT { MATCH (n:Perturbation|Readout|Context) WHERE n.embedding_run = m.run_id } AS current_embeddings,
       COUNT { (m)<-[:PREDICTED_BY]-(:PredictedExperiment) } AS predicted_experiments,
       COUNT { (m)<-[:PREDICTED_BY]-(:PredictedExperiment)-[:PREDICTS]->(:Readout) } AS predicted_changes,
       COUNT { MATCH ()-[i:INFERRED_INTERACTION]->() WHERE i.run = m.run_id } AS inferred_interactions
