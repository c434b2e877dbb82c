// name: dataset-contents
// description: What one dataset holds, per context: cell line, modality, experiments, distinct
//   perturbations and measured values (one row with no context for an annotation or reference
//   dataset, which holds no experiments).
// params:
//   dataset (string) — a Dataset name (see the datasets query), e.g. "L1000"
MATCH (d:Dataset {name: $dataset})
OPTIONAL MATCH (e:Experiment {dataset: $dataset})-[:IN_CONTEXT]->(c:Context)
WITH d, c, count(e) AS experiments, count(DISTINCT e.perturbation) AS perturbations,
     sum(e.n_measured) AS measurements
RETURN d.name AS dataset, d.status AS status, c.symbol AS context, c.cell_line AS cell_line,
       c.modality AS modality, experiments, perturbations, measurements
ORDER BY context
