from lpm_kg.graph.schema import SCHEMA_VERSION, apply_schema, schema_statements, schema_version


def test_schema_applies_idempotently_and_records_its_version(graph):
    apply_schema(graph)
    before = {r["name"] for r in graph.read("SHOW CONSTRAINTS YIELD name")}
    assert apply_schema(graph) == SCHEMA_VERSION
    after = {r["name"] for r in graph.read("SHOW CONSTRAINTS YIELD name")}
    assert before == after
    assert {"experiment_id", "gene_symbol", "perturbation_symbol", "readout_symbol", "context_symbol"} <= after
    assert schema_version(graph) == SCHEMA_VERSION
    indexes = {r["name"] for r in graph.read("SHOW INDEXES YIELD name")}
    assert {"gene_entrez", "experiment_dataset"} <= indexes
    declared = {stmt.split()[2] for _, stmt in schema_statements()}
    assert declared <= after | indexes  # every statement in cypher/schema took effect
