// name: perturbation-experiments
// description: Every experiment of one perturbation, measured (with its dataset) or predicted (with
//   the model run that predicted it): the experiment ids the experiment-profile query takes.
// params:
//   perturbation (string) — a Perturbation symbol, e.g. "vemurafenib-10uM"
MATCH (p:Perturbation {symbol: $perturbation})
CALL (p) {
  MATCH (p)<-[:OF_PERTURBATION]-(e:Experiment)-[:IN_DATASET]->(d:Dataset)
  RETURN 'measured' AS kind, e.id AS experiment, e.context AS context, e.time_h AS hours,
         e.n_replicates AS replicates, e.n_measured AS readouts, d.name AS source
  UNION ALL
  MATCH (p)<-[:OF_PERTURBATION]-(x:PredictedExperiment)
  RETURN 'predicted' AS kind, x.id AS experiment, x.context AS context, null AS hours,
         null AS replicates, x.n_readouts AS readouts, x.run AS source
}
RETURN kind, experiment, context, hours, replicates, readouts, source
ORDER BY kind, context, hours, experiment
