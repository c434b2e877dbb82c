// name: compound
// description: One compound (by name or alias): its mechanisms of action, targets, clinical phase,
//   the perturbations of it (compound at a dose), the genetic perturbations of its targets (to
//   compare with), and the annotation datasets that describe it.
// params:
//   compound (string) — a compound name or alias, e.g. "atorvastatin"
MATCH (c:Compound)
WHERE c.name = toLower($compound) OR $compound IN c.aliases
RETURN c.name AS compound, c.phase AS phase, c.moa AS moa,
       [(c)-[:HAS_TARGET]->(g:Gene) | g.symbol] AS targets,
       [(c)<-[:OF_COMPOUND]-(p:Perturbation) | p.symbol] AS perturbations,
       [(c)-[:HAS_TARGET]->(:Gene)<-[:TARGETS]-(t:Perturbation) | t.symbol] AS target_perturbations,
       c.sources AS sources
ORDER BY compound
