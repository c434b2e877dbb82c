"""Click commands that live beside the features they drive; ``lpm_kg.cli`` adds them to ``lpm-kg``."""


def connect():
    """The graph every command talks to: NEO4J_URI if set, else the managed server (started)."""
    from lpm_kg.graph import Graph

    return Graph.connect()
