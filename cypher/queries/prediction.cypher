// name: prediction
// description: A predicted experiment (one never performed) with its uncertainty: its strongest
//   predicted changes, each with the spread across the model's seeds (std; 0 for a one-seed
//   model), and the model run that predicted it. Newest run first.
// params:
//   perturbation (string) — a Perturbation symbol, e.g. "CRISPRi_SIMG001" (after `lpm-kg demo`)
//   context (string) — a Context symbol, e.g. "demo_SIM-A_CRISPRi"
//   k (int) — readouts per prediction, e.g. 10
MATCH (x:PredictedExperiment {perturbation: $perturbation, context: $context})-[:PREDICTED_BY]->(m:ModelRun)
MATCH (x)-[pr:PREDICTS]->(r:Readout)
WHERE pr.rank <= $k
RETURN m.run_id AS run, m.status AS run_status, toString(m.created_at) AS trained_at, pr.rank AS rank,
       r.symbol AS readout, pr.value AS predicted, pr.std AS std
ORDER BY trained_at DESC, run, rank
