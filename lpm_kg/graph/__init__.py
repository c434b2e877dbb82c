"""Everything that talks to Neo4j: the connection, the schema, writes and the tuple pull."""

from lpm_kg.graph.connection import Graph

__all__ = ["Graph"]
