"""The managed local Neo4j server: jars from Maven Central, run as a detached Java process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from lpm_kg.server.jars import Jars, MavenError, ensure_jars
from lpm_kg.server.managed import ManagedNeo4j, Neo4jServerError, ServerStatus, free_port

if TYPE_CHECKING:
    from lpm_kg.settings import Settings

__all__ = ["ensure_jars", "Jars", "MavenError", "ManagedNeo4j", "Neo4jServerError", "ServerStatus",
           "free_port", "managed_server"]


def managed_server(settings: "Settings", progress: Callable[[str], None] | None = None) -> ManagedNeo4j:
    """The managed server described by ``settings`` (resolving jars on first use; not started)."""
    jars = ensure_jars(settings.cache_dir, progress)
    return ManagedNeo4j(settings.server_dir, jars, bolt_port=settings.bolt_port, http_port=settings.http_port,
                        heap=settings.heap, pagecache=settings.pagecache)
