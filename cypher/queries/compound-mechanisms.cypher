// name: compound-mechanisms
// description: A compound's likely mechanisms of action, with evidence: the MOAs of the compounds
//   whose perturbations the current model run embeds nearest to the compound's (vector index
//   perturbation_embedding, score (1 + cosine) / 2), each MOA with its support (the summed score of
//   the nearest compounds carrying it), those compounds, and whether the compound is annotated
//   with it already. `lpm-kg mechanisms` scores how well such votes retrieve known MOAs.
// params:
//   compound (string) — a compound name or alias, e.g. "simcompound-01" (after `lpm-kg demo`)
//   k (int) — nearest compounds that vote, e.g. 10
MATCH (c:Compound)
WHERE c.name = toLower($compound) OR $compound IN c.aliases
MATCH (c)<-[:OF_COMPOUND]-(q:Perturbation)
WHERE q.embedding IS NOT NULL
CALL db.index.vector.queryNodes('perturbation_embedding', 5 * $k + 1, q.embedding) YIELD node, score
MATCH (node)-[:OF_COMPOUND]->(other:Compound)
WHERE other <> c
WITH c, other, max(score) AS similarity, head(collect(node.embedding_run)) AS run
ORDER BY similarity DESC, other.name
LIMIT $k
MATCH (other)-[:HAS_MOA]->(m:MOA)
WITH c, m, sum(similarity) AS support, collect(other.name + ' (' + toString(round(similarity, 3)) + ')') AS compounds,
     head(collect(run)) AS run
RETURN m.name AS moa, support, compounds, EXISTS { (c)-[:HAS_MOA]->(m) } AS annotated, run
ORDER BY support DESC, moa
