"""Settings: the Neo4j password is a secret that never shows in a repr, a dump or a log."""

from lpm_kg.graph.connection import Graph
from lpm_kg.settings import Settings


def test_the_password_never_shows(monkeypatch):
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-Pa55word")
    settings = Settings()
    assert settings.neo4j_password.get_secret_value() == "s3cret-Pa55word"
    for text in (repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump()),
                 f"{settings}", f"{settings.neo4j_password}"):
        assert "s3cret-Pa55word" not in text
    assert "**********" in repr(settings)


def test_the_secret_password_still_connects(neo4j_server, monkeypatch):
    user, password = neo4j_server.auth
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", user)
    monkeypatch.setenv("NEO4J_PASSWORD", password)
    with Graph.connect(Settings()) as graph:
        assert graph.read("RETURN 1 AS one")[0]["one"] == 1
