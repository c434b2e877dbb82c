// name: next-plate
// description: The next plate: the newest suggestion plan's experiments to run, best first, each with
//   its score, the model's uncertainty, why (its most uncertain readouts, the unmeasured experiments it
//   is related to), the strategy and the model run that proposed it (`lpm-kg suggest` writes plans).
// params:
//   k (int) — rows, e.g. 12
MATCH (pl:SuggestionPlan)-[:FROM_RUN]->(m:ModelRun)
WITH pl, m ORDER BY pl.created_at DESC, pl.id DESC LIMIT 1
MATCH (s:Suggestion)-[:IN_PLAN]->(pl)
RETURN s.rank AS rank, s.perturbation AS perturbation, s.context AS context, s.score AS score,
       s.uncertainty AS uncertainty, s.uncertain_readouts AS uncertain_readouts, s.related AS related,
       pl.strategy AS strategy, m.run_id AS run
ORDER BY rank
LIMIT $k
