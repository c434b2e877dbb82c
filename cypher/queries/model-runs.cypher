// name: model-runs
// description: Every model run, newest first: its kind ('lpm' trained model or 'eval' benchmark),
//   status, datasets and what it wrote (embeddings, predicted experiments, inferred edges).
// params: none
MATCH (m:ModelRun)
RETURN m.run_id AS run, m.kind AS kind, m.status AS status, toString(m.created_at) AS created_at,
       m.datasets AS datasets,
       COUNT { (m)<-[:FROM_RUN]-(:Embedding) } AS embeddings,
       COUNT { (m)<-[:PREDICTED_BY]-(:PredictedExperiment) } AS predicted_experiments,
       COUNT { MATCH ()-[i:INFERRED_INTERACTION]->() WHERE i.run = m.run_id } AS inferred_interactions
ORDER BY m.created_at DESC, run DESC
