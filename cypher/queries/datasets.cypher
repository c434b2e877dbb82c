// name: datasets
// description: Every loaded dataset and where it came from: kind, format, load status ('complete', or
//   'loading' for a load that has not finished), counts, the model runs trained on it, source,
//   licence, files and when its load completed.
// params: none
MATCH (d:Dataset)
RETURN d.name AS dataset, d.kind AS kind, d.format AS format, d.status AS status,
       d.n_experiments AS experiments, d.n_measurements AS measurements,
       COUNT { (:ModelRun)-[:TRAINED_ON]->(d) } AS model_runs,
       d.source AS source, d.licence AS licence, d.files AS files, toString(d.completed_at) AS loaded_at
ORDER BY dataset
