// One holder at a time for work that must not run twice at once on a graph (lpm_kg.graph.locks):
// two syncs racing would both create the vector index and both write the same run. The unique
// name makes taking the lock one atomic MERGE.
CREATE CONSTRAINT lock_name IF NOT EXISTS FOR (n:Lock) REQUIRE n.name IS UNIQUE;
