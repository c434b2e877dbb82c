// name: moa-compounds
// description: The compounds of a mechanism of action (every MOA whose name contains the text,
//   case-insensitive), with their targets and the perturbations (compound at a dose) measured.
// params:
//   moa (string) — a mechanism of action or part of its name, e.g. "HMGCR inhibitor"
MATCH (m:MOA)<-[:HAS_MOA]-(c:Compound)
WHERE toLower(m.name) CONTAINS toLower($moa)
OPTIONAL MATCH (c)-[:HAS_TARGET]->(g:Gene)
WITH m, c, collect(DISTINCT g.symbol) AS targets
RETURN m.name AS moa, c.name AS compound, c.phase AS phase, targets,
       [(c)<-[:OF_COMPOUND]-(p:Perturbation) | p.symbol] AS perturbations
ORDER BY size(perturbations) DESC, moa, compound
