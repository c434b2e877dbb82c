"""Where things live and which server to use, read once from the environment.

Every setting has an ``LPM_KG_`` environment variable; the Neo4j connection also honours the
standard ``NEO4J_URI`` / ``NEO4J_USER`` / ``NEO4J_PASSWORD`` variables, which switch lpm-kg from
its managed local server to an existing one.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from lpm_kg.errors import ConfigError

NEO4J_VERSION = "5.26.0"
BROWSER_VERSION = "5.24.0"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("lpm-kg"))


def _default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("lpm-kg"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LPM_KG_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Per-user state: the managed server's database, logs and password file."""
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    """Resolved Neo4j jars (shared by every data dir, so tests reuse them)."""

    neo4j_uri: str | None = Field(default=None, validation_alias=AliasChoices("NEO4J_URI", "LPM_KG_NEO4J_URI"))
    neo4j_user: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "NEO4J_USERNAME", "LPM_KG_NEO4J_USER"))
    neo4j_password: SecretStr | None = Field(default=None, validation_alias=AliasChoices("NEO4J_PASSWORD", "LPM_KG_NEO4J_PASSWORD"))
    """A SecretStr, so it never shows in a repr, a log or a traceback: read it with ``.get_secret_value()``."""
    neo4j_database: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_DATABASE", "LPM_KG_NEO4J_DATABASE"))

    torch_threads: int | None = Field(default=None, ge=1)
    """CPU threads for training (default: every core the load average leaves free, at least 1;
    lpm_kg.model.train.training_threads). 1 is much faster on a machine that other work keeps
    busy: OpenMP threads that wait on a descheduled partner collapse under oversubscription
    (benchmarks/bench_train.py, ``fast-1thread``)."""

    bolt_port: int = Field(default=7687, ge=1, le=65535)
    http_port: int = Field(default=7474, ge=1, le=65535)
    heap: str = "1g"
    pagecache: str = "512m"

    def __init__(self, **values):
        try:
            super().__init__(**values)
        except ValidationError as exc:  # a bad environment variable: one line naming it, not a pydantic dump
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err.get("loc") else "?"
            alias = getattr(type(self).model_fields.get(field), "validation_alias", None)
            # The variable a user sets: a field's first alias (NEO4J_URI), else its LPM_KG_ name.
            var = alias.choices[0] if isinstance(alias, AliasChoices) else f"LPM_KG_{field.upper()}"
            raise ConfigError(f"environment variable {var}={err.get('input')!r}: {err['msg'].lower()}; "
                              f"fix: set it to a valid value or unset it for the default") from None

    @property
    def server_dir(self) -> Path:
        return self.data_dir / "neo4j"

    @property
    def uses_managed_server(self) -> bool:
        return self.neo4j_uri is None
