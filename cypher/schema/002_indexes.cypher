// Lookups by alternative gene ids, and per-dataset scans used by loads and the tuple pull.
CREATE INDEX gene_entrez IF NOT EXISTS FOR (n:Gene) ON (n.entrez);
CREATE INDEX gene_ensembl IF NOT EXISTS FOR (n:Gene) ON (n.ensembl);
CREATE INDEX experiment_dataset IF NOT EXISTS FOR (n:Experiment) ON (n.dataset);
CREATE INDEX experiment_pc IF NOT EXISTS FOR (n:Experiment) ON (n.perturbation, n.context);
CREATE INDEX compound_alias IF NOT EXISTS FOR (n:Compound) ON (n.aliases);
CREATE INDEX changes_rank IF NOT EXISTS FOR ()-[r:CHANGES]-() ON (r.rank);
