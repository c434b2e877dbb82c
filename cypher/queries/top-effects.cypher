// name: top-effects
// description: A perturbation's strongest measured effects in each context (and time point) it was
//   measured in: the readouts its CHANGES relationships rank highest, rank 1 strongest.
// params:
//   perturbation (string) — a Perturbation symbol, e.g. "vemurafenib-10uM"
//   k (int) — effects per experiment, at most the load's --top (default 25), e.g. 5
MATCH (e:Experiment {perturbation: $perturbation})-[c:CHANGES]->(r:Readout)
WHERE c.rank <= $k
RETURN e.context AS context, e.time_h AS hours, e.id AS experiment, c.rank AS rank,
       r.symbol AS readout, c.value AS value
ORDER BY context, hours, experiment, rank
