// Gene-gene edges a model run infers (lpm_kg.discovery.networks): (Gene)-[:INFERRED_INTERACTION
// {run, method, score, rank}]->(Gene), kept apart from the reference relations. Rewriting a
// (run, method) and pruning a run find its edges through this index.
CREATE INDEX inferred_interaction_run IF NOT EXISTS FOR ()-[r:INFERRED_INTERACTION]-() ON (r.run);
