// name: top-predictions
// description: The strongest effects the newest complete LPM run predicts for experiments never
//   performed, with their uncertainty (std across seeds) and the run that predicted them.
// params:
//   k (int) — rows, e.g. 10
MATCH (m:ModelRun {kind: 'lpm', status: 'complete'})
WITH m ORDER BY m.created_at DESC, m.run_id DESC LIMIT 1
MATCH (x:PredictedExperiment {run: m.run_id})-[pr:PREDICTS]->(r:Readout)
RETURN m.run_id AS run, x.perturbation AS perturbation, x.context AS context, r.symbol AS readout,
       pr.value AS predicted, pr.std AS std
ORDER BY abs(predicted) DESC, perturbation, context, readout
LIMIT $k
