// name: readout-values
// description: The values of chosen readouts in every experiment of one perturbation: a small
//   experiments x readouts table (value null where a readout is not in the experiment's panel or
//   was not measured).
// params:
//   perturbation (string) — a Perturbation symbol, e.g. "vemurafenib-10uM"
//   readouts (list) — Readout symbols, e.g. ["Transcriptome_DUSP6", "Transcriptome_EGR1", "Transcriptome_FOS"]
MATCH (e:Experiment {perturbation: $perturbation})-[:MEASURED_WITH]->(p:ReadoutPanel)
UNWIND $readouts AS readout
WITH e, readout, [i IN range(0, size(p.readouts) - 1) WHERE p.readouts[i] = readout][0] AS i
RETURN e.id AS experiment, e.context AS context, e.time_h AS hours, readout,
       CASE WHEN i IS NULL OR isNaN(e.values[i]) THEN null ELSE e.values[i] END AS value
ORDER BY context, hours, experiment, readout
