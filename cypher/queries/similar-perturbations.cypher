// name: similar-perturbations
// description: The perturbations whose learned embedding (the current model run's) is closest to
//   a perturbation's, by cosine similarity through the vector index perturbation_embedding.
// params:
//   symbol (string) — a Perturbation symbol the current run embeds, e.g. "CRISPRi_SIMG001" (after `lpm-kg demo`)
//   k (int) — neighbours, e.g. 5
MATCH (q:Perturbation {symbol: $symbol})
WHERE q.embedding IS NOT NULL
CALL db.index.vector.queryNodes('perturbation_embedding', $k + 1, q.embedding) YIELD node, score
WITH q, node, score
WHERE node <> q
RETURN node.symbol AS perturbation, node.kind AS kind, coalesce(node.gene, node.compound) AS target,
       score, node.embedding_run AS run
ORDER BY score DESC, perturbation
LIMIT $k
