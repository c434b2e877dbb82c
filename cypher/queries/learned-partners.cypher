// name: learned-partners
// description: Which genes act with a gene, learned against known: the genes whose genetic
//   perturbation the current model run embeds nearest to the gene's (vector index
//   perturbation_embedding, score (1 + cosine) / 2), each with what the references already say
//   links the pair (interactions, regulation, a shared complex or gene set, naming the dataset;
//   empty: a candidate the references do not know) and the run. `lpm-kg partners GENE` adds each
//   pair's rank among all pairs and the enrichment of known partners.
// params:
//   gene (string) — a perturbed gene's HGNC symbol, e.g. "SIMG001" (after `lpm-kg demo`)
//   k (int) — partners, e.g. 10
MATCH (g:Gene {symbol: $gene})<-[:TARGETS]-(q:Perturbation {kind: 'genetic'})
WHERE q.embedding IS NOT NULL
CALL db.index.vector.queryNodes('perturbation_embedding', 3 * $k + 1, q.embedding) YIELD node, score
MATCH (node)-[:TARGETS]->(p:Gene)
WHERE node.kind = 'genetic' AND p <> g
WITH g, p, max(score) AS similarity, head(collect(node.embedding_run)) AS run
ORDER BY similarity DESC, p.symbol
LIMIT $k
RETURN p.symbol AS partner, similarity,
       COLLECT { MATCH (g)-[r:INTERACTS_WITH]-(p) RETURN r.dataset + ': interacts' AS line
                 UNION MATCH (g)-[r:REGULATES]->(p) RETURN r.dataset + ': regulates' AS line
                 UNION MATCH (g)<-[r:REGULATES]-(p) RETURN r.dataset + ': regulated by' AS line
                 UNION MATCH (g)-[:MEMBER_OF]->(c)<-[r:MEMBER_OF]-(p)
                 RETURN r.dataset + ': ' + toLower(head(labels(c))) + ' ' + coalesce(c.name, c.id) AS line } AS known,
       run
ORDER BY similarity DESC, partner
