"""Settings: the Neo4j password is a secret that never shows in a repr, a dump or a log."""

import os
import subprocess
import sys

import pytest

from lpm_kg.errors import ConfigError
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


@pytest.mark.parametrize("var, value, rule", [("LPM_KG_BOLT_PORT", "abc", "valid integer"),
                                              ("LPM_KG_HTTP_PORT", "99999", "less than or equal to 65535"),
                                              ("LPM_KG_TORCH_THREADS", "0", "greater than or equal to 1")])
def test_a_bad_environment_variable_is_one_line_naming_it(monkeypatch, var, value, rule):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=rf"environment variable {var}='{value}': input should be .*{rule}.*fix: "):
        Settings()


def test_a_bad_environment_variable_is_refused_by_the_cli_with_exit_2():
    done = subprocess.run([sys.executable, "-m", "lpm_kg.cli", "status"], capture_output=True, text=True,
                          env={**os.environ, "LPM_KG_BOLT_PORT": "abc"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: environment variable LPM_KG_BOLT_PORT='abc'")
    assert "Traceback" not in done.stderr
