"""One connection to the graph: an existing server named by NEO4J_URI, or the managed local one."""

from __future__ import annotations

from typing import Any

import neo4j
from neo4j import GraphDatabase, RoutingControl
from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired

from lpm_kg.errors import ServerError
from lpm_kg.server import managed_server
from lpm_kg.settings import Settings


class Graph:
    """A thin wrapper over the driver: parameterised ``execute_query`` calls with retries.

    The driver retries managed transactions on transient failures (a lost connection, a
    leader switch) for ``max_transaction_retry_time``; past that a :class:`ServerError` names
    the server and what to do, never a silent drop.
    """

    def __init__(self, uri: str, auth: tuple[str, str] | None, database: str = "neo4j", retry_seconds: float = 30.0):
        self.uri, self.database = uri, database
        self.driver = GraphDatabase.driver(uri, auth=auth, max_transaction_retry_time=retry_seconds,
                                           connection_timeout=15.0, notifications_min_severity="OFF")

    @classmethod
    def connect(cls, settings: Settings | None = None, *, start: bool = True) -> "Graph":
        """Connect to NEO4J_URI if set, else to the managed server (started if ``start``)."""
        settings = settings or Settings()
        if settings.neo4j_uri:
            password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
            auth = (settings.neo4j_user, password) if password else None
            graph = cls(settings.neo4j_uri, auth, settings.neo4j_database)
        else:
            server = managed_server(settings)
            if not server.status().running:
                if not start:
                    raise ServerError("the managed Neo4j server is not running; start it with `lpm-kg neo4j start`")
                server.start()
            graph = cls(server.uri, server.auth, settings.neo4j_database)
        graph.verify()
        return graph

    def verify(self) -> None:
        try:
            self.driver.verify_connectivity()
        except AuthError as exc:
            raise ServerError(f"Neo4j at {self.uri} refused the credentials ({exc.message}); "
                              "check NEO4J_USER/NEO4J_PASSWORD") from None
        except (ServiceUnavailable, SessionExpired, OSError) as exc:
            raise ServerError(f"cannot reach Neo4j at {self.uri} ({exc}); start it with `lpm-kg neo4j start` "
                              "or set NEO4J_URI to a running server") from None

    def query(self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = True) -> list[neo4j.Record]:
        """Run one parameterised statement in a managed (retried) transaction; return its records."""
        try:
            records, _, _ = self.driver.execute_query(
                cypher, params or {}, database_=self.database,
                routing_=RoutingControl.WRITE if write else RoutingControl.READ)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise ServerError(f"lost the connection to Neo4j at {self.uri} and retries did not recover it ({exc}); "
                              "nothing was half-written: rerun the same command once the server is back") from None
        return records

    def read(self, cypher: str, params: dict[str, Any] | None = None) -> list[neo4j.Record]:
        return self.query(cypher, params, write=False)

    def in_batches(self, cypher: str, params: dict[str, Any] | None = None, *, batch: int = 10_000) -> int:
        """Run a statement that changes at most ``$batch`` things and returns ``count(*) AS n`` until
        a run changes fewer than ``batch``; returns the total. Each run is its own transaction, so a
        large delete never holds the whole change in the server's heap, and a killed one is
        finished by running it again."""
        if "$batch" not in cypher:
            raise ValueError("in_batches needs a statement limited by $batch")
        total = 0
        while True:
            n = self.query(cypher, {**(params or {}), "batch": int(batch)})[0]["n"]
            total += n
            if n < batch:
                return total

    def stream(self, cypher: str, params: dict[str, Any] | None, consume, *, fetch_size: int = 1_000):
        """``consume(records)`` over a read's records as they arrive (``fetch_size`` at a time, so a
        large read is never held whole), in one retried read transaction. A transient failure runs
        ``consume`` again from the first record, so it must build its result from scratch."""
        def work(tx):
            return consume(tx.run(cypher, params or {}))

        try:
            with self.driver.session(database=self.database, fetch_size=fetch_size) as session:
                return session.execute_read(work)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise ServerError(f"lost the connection to Neo4j at {self.uri} and retries did not recover it ({exc}); "
                              "rerun the same command once the server is back") from None

    def write_tx(self, work, *args, **kwargs):
        """Run ``work(tx, *args)`` as one retried write transaction: several statements, all or nothing."""
        try:
            with self.driver.session(database=self.database) as session:
                return session.execute_write(work, *args, **kwargs)
        except (ServiceUnavailable, SessionExpired) as exc:
            raise ServerError(f"lost the connection to Neo4j at {self.uri} and retries did not recover it ({exc}); "
                              "the batch in flight was rolled back: rerun the same command once the server is back"
                              ) from None

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> "Graph":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
