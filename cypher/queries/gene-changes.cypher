// name: gene-changes
// description: The experiments that changed a gene most, read out through the gene's readouts
//   (strongest |value| first; only changes among each experiment's top CHANGES count).
// params:
//   gene (string) — an approved HGNC symbol, e.g. "DUSP6"
//   k (int) — rows, e.g. 10
MATCH (g:Gene {symbol: $gene})<-[:OF_GENE]-(r:Readout)<-[c:CHANGES]-(e:Experiment)
RETURN e.perturbation AS perturbation, e.context AS context, e.id AS experiment, r.symbol AS readout,
       c.value AS value, c.rank AS rank
ORDER BY abs(value) DESC, experiment
LIMIT $k
