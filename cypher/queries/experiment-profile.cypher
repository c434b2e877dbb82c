// name: experiment-profile
// description: One experiment's measured profile: every readout of its panel with its value, in
//   panel order (value null where the readout was not measured).
// params:
//   experiment (string) — an Experiment id, <dataset>:<key> (see perturbation-experiments), e.g. "L1000:vemurafenib-10uM@A375@24h"
MATCH (e:Experiment {id: $experiment})-[:MEASURED_WITH]->(p:ReadoutPanel)
UNWIND range(0, size(p.readouts) - 1) AS i
RETURN i + 1 AS position, p.readouts[i] AS readout,
       CASE WHEN isNaN(e.values[i]) THEN null ELSE e.values[i] END AS value
ORDER BY position
