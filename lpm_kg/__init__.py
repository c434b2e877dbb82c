"""lpm-kg: perturbation experiments as a Neo4j knowledge graph, and the Large Perturbation Model on it."""

__version__ = "0.1.0"
