"""Cypher shipped with lpm-kg: the schema (schema/) and the query cookbook (queries/)."""
