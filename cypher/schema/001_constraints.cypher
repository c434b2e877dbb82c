// Uniqueness constraints: every MERGE in lpm-kg matches on one of these keys, so each is
// backed by an index and re-running a load finds, rather than duplicates, what is there.
CREATE CONSTRAINT dataset_name IF NOT EXISTS FOR (n:Dataset) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT experiment_id IF NOT EXISTS FOR (n:Experiment) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT perturbation_symbol IF NOT EXISTS FOR (n:Perturbation) REQUIRE n.symbol IS UNIQUE;
CREATE CONSTRAINT readout_symbol IF NOT EXISTS FOR (n:Readout) REQUIRE n.symbol IS UNIQUE;
CREATE CONSTRAINT context_symbol IF NOT EXISTS FOR (n:Context) REQUIRE n.symbol IS UNIQUE;
CREATE CONSTRAINT panel_id IF NOT EXISTS FOR (n:ReadoutPanel) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT gene_symbol IF NOT EXISTS FOR (n:Gene) REQUIRE n.symbol IS UNIQUE;
CREATE CONSTRAINT gene_hgnc IF NOT EXISTS FOR (n:Gene) REQUIRE n.hgnc_id IS UNIQUE;
CREATE CONSTRAINT compound_name IF NOT EXISTS FOR (n:Compound) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT moa_name IF NOT EXISTS FOR (n:MOA) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT cell_line_name IF NOT EXISTS FOR (n:CellLine) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT complex_id IF NOT EXISTS FOR (n:Complex) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT gene_set_id IF NOT EXISTS FOR (n:GeneSet) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT schema_info_name IF NOT EXISTS FOR (n:SchemaInfo) REQUIRE n.name IS UNIQUE;
