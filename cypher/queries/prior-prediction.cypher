// name: prior-prediction
// description: A prediction for a perturbation the model never saw in training, made from the
//   graph's priors, next to its provenance: the model run, the prior run it came from (its config
//   names the relations that fed the priors), the target gene, whether its prior is the current
//   one, and how many reference relations the gene has. Strongest predicted changes first.
// params:
//   perturbation (string) — a Perturbation symbol never measured, e.g. "CRISPRi_SIMG002" (after `lpm-kg predict` with a graph-* run)
//   context (string) — a Context symbol, e.g. "demo_SIM-A_CRISPRi"
//   k (int) — readouts per prediction, e.g. 10
MATCH (x:PredictedExperiment {perturbation: $perturbation, context: $context})-[:PREDICTED_BY]->(m:ModelRun)
MATCH (x)-[:FROM_PRIORS]->(pr:ModelRun)
MATCH (x)-[p:PREDICTS]->(r:Readout)
WHERE p.rank <= $k
OPTIONAL MATCH (:Perturbation {symbol: $perturbation})-[:TARGETS]->(g:Gene)
RETURN m.run_id AS run, x.source AS source, pr.run_id AS prior_run, pr.config AS prior_config,
       g.symbol AS gene, g.prior_run = pr.run_id AS gene_prior_current,
       COUNT { (g)-[:INTERACTS_WITH|REGULATES|MEMBER_OF]-() } AS gene_relations,
       p.rank AS rank, r.symbol AS readout, p.value AS predicted, p.std AS std
ORDER BY rank
