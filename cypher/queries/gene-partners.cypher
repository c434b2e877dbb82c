// name: gene-partners
// description: A gene's partners, reference and inferred side by side. reference: the curated
//   relations that link them (INTERACTS_WITH, REGULATES in either direction, a shared Complex),
//   each naming its dataset; inferred: the INFERRED_INTERACTION edges a model run found
//   (method, score, rank, run), empty where none. Inferred partners come first, best rank first,
//   then the best-supported reference partners.
// params:
//   gene (string) — an approved HGNC symbol, e.g. "STAT1"
//   k (int) — partners, e.g. 20
MATCH (g:Gene {symbol: $gene})
CALL (g) {
  MATCH (g)-[r:INTERACTS_WITH]-(p:Gene) WHERE p <> g
  RETURN p, r.dataset + ': interacts (score ' + coalesce(toString(r.score), '?') + ')' AS evidence
  UNION
  MATCH (g)-[r:REGULATES]->(p:Gene) WHERE p <> g
  RETURN p, r.dataset + ': regulates' + coalesce(' (' + r.mode + ')', '') AS evidence
  UNION
  MATCH (g)<-[r:REGULATES]-(p:Gene) WHERE p <> g
  RETURN p, r.dataset + ': regulated by' + coalesce(' (' + r.mode + ')', '') AS evidence
  UNION
  MATCH (g)-[:MEMBER_OF]->(c:Complex)<-[r:MEMBER_OF]-(p:Gene) WHERE p <> g
  RETURN p, r.dataset + ': complex ' + coalesce(c.name, c.id) AS evidence
  UNION
  MATCH (g)-[:INFERRED_INTERACTION]-(p:Gene) WHERE p <> g
  RETURN p, null AS evidence
}
WITH g, p, collect(DISTINCT evidence) AS reference
OPTIONAL MATCH (g)-[i:INFERRED_INTERACTION]-(p)
WITH p, reference, i
ORDER BY i.score DESC
WITH p, reference, min(i.rank) AS inferred_rank, max(i.score) AS inferred_score,
     collect(DISTINCT coalesce(i.method, '?') + ' score ' + coalesce(toString(i.score), '?')
             + ' rank ' + coalesce(toString(i.rank), '?') + ' (' + i.run + ')') AS inferred
RETURN p.symbol AS partner, size(reference) > 0 AS in_reference, reference,
       inferred_rank, inferred_score, inferred
ORDER BY inferred_rank, size(reference) DESC, partner
LIMIT $k
