"""A Neo4j Community server run as a plain, detached Java process under a home directory.

``home/`` holds conf/, data/, logs/ (console.log is the server's stdout), run/lpm-kg.pid,
plugins/ (symlinks to the cached plugin jars) and ``password`` (mode 0600); ``home`` itself is 0700.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import neo4j
from neo4j.exceptions import AuthError, DriverError, Neo4jError

from lpm_kg.server.jars import Jars, _locked

USER = "neo4j"
# What Neo4j's own bin/neo4j passes; -Xmx must be on the command line (conf heap keys are
# only read by that script).
JVM_FLAGS = [
    "-XX:+UseG1GC", "-Djol.skipHotspotSAAttach=true", "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
]


def new_password() -> str:
    """A random initial password that neo4j-admin reads back from an ``@file`` as the positional
    argument: URL-safe characters, and never a leading '-', which picocli would take for an option
    (1 in 64 draws of ``token_urlsafe`` start with one)."""
    while True:
        pw = secrets.token_urlsafe(18)
        if pw[0].isalnum():
            return pw

class Neo4jServerError(RuntimeError):
    pass


@dataclass
class ServerStatus:
    running: bool
    pid: int | None
    bolt_uri: str
    http_url: str
    browser_url: str
    home: Path
    plugins_loaded: list[str] = field(default_factory=list)
    """Plugins whose procedures the running server lists (``apoc``, ``gds``); empty when stopped."""
    plugin_errors: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # Like the server's own bind: a port in TIME_WAIT from our last run is not "in use".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").exists() else shutil.which("java")
    if not java:
        raise Neo4jServerError("Java 17 or 21 is needed to run Neo4j 5.26 (e.g. `sudo apt-get install openjdk-17-jre-headless`).")
    return java


def _tail(path: Path, n: int = 40) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(deque(fh, maxlen=n))
    except OSError:
        return "(no console log)"


class ManagedNeo4j:
    def __init__(self, home: Path, jars: Jars, bolt_port: int = 7687, http_port: int = 7474,
                 heap: str = "1g", pagecache: str = "512m", auth: bool = True) -> None:
        self.home = Path(home).absolute()
        self.jars = jars
        self.bolt_port, self.http_port = bolt_port, http_port
        self.heap, self.pagecache, self.auth_enabled = heap, pagecache, auth
        self._proc: subprocess.Popen | None = None  # set only when this process launched it

    # -- paths and identity -------------------------------------------------------------------
    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def console_log(self) -> Path:
        return self.home / "logs" / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / "lpm-kg.pid"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def browser_url(self) -> str:
        # Browser 5.x knows NATIVE, SSO and NO_AUTH; any other value hides the user/password fields.
        method = "NATIVE" if self.auth_enabled else "NO_AUTH"
        return f"{self.http_url}/browser/?dbms={self.uri}&preselectAuthMethod={method}"

    @property
    def password(self) -> str:
        if not self.password_file.exists():
            raise Neo4jServerError(f"No password yet: {self.password_file} is written by the first start().")
        return self.password_file.read_text().strip()

    @property
    def auth(self) -> tuple[str, str]:
        return (USER, self.password if self.auth_enabled else "")

    def driver(self, **kwargs) -> neo4j.Driver:
        return neo4j.GraphDatabase.driver(self.uri, auth=self.auth if self.auth_enabled else None, **kwargs)

    # -- process ------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """Pid of this home's live server, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if self._alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None  # also reaps our own child, so no zombie lingers
        proc = Path(f"/proc/{pid}")
        if proc.exists():
            # Pids get reused after reboots: it must be a Neo4j server for *this* home.
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                return False
            return state != "Z" and "CommunityEntryPoint" in cmdline and f"--home-dir={self.home}\0" in cmdline
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _make_home(self) -> None:
        """The home, private to this user (0700): it holds the password file, the database and logs."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(self.home.stat().st_mode) != 0o700:
            os.chmod(self.home, 0o700)

    def _write_conf(self) -> None:
        h = self.home
        for d in ("conf", "data", "logs", "run", "plugins", "import"):
            (h / d).mkdir(parents=True, exist_ok=True)
        conf = {
            "server.directories.data": h / "data",
            "server.directories.logs": h / "logs",
            "server.directories.run": h / "run",
            "server.directories.plugins": h / "plugins",
            "server.directories.import": h / "import",
            "server.directories.transaction.logs.root": h / "data" / "transactions",
            "server.default_listen_address": "127.0.0.1",
            "server.default_advertised_address": "127.0.0.1",
            "server.bolt.listen_address": f"127.0.0.1:{self.bolt_port}",
            "server.bolt.advertised_address": f"127.0.0.1:{self.bolt_port}",
            "server.http.enabled": "true",
            "server.http.listen_address": f"127.0.0.1:{self.http_port}",
            "server.http.advertised_address": f"127.0.0.1:{self.http_port}",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": str(self.auth_enabled).lower(),
            "server.memory.pagecache.size": self.pagecache,
            "dbms.usage_report.enabled": "false",
            "dbms.security.procedures.unrestricted": "apoc.*,gds.*",
            # Bolt otherwise waits 2 x 5 s for idle threads/connections on shutdown.
            "internal.server.bolt.thread_pool_shutdown_wait_time": "1s",
            "internal.server.bolt.connection_shutdown_wait_time": "1s",
        }
        # No trailing comments: Neo4j rejects them, and any unknown key aborts the start.
        text = "# Written by lpm-kg on every start; edits are overwritten.\n"
        text += "".join(f"{k}={v}\n" for k, v in conf.items())
        (self.conf_dir / "neo4j.conf").write_text(text)

    def _link_plugins(self) -> None:
        # Neo4j registers procedures only from jars in the plugins directory, so the cached
        # plugins' procedure jars are symlinked there (and put on -cp by the same wildcard).
        # Regular files a user dropped in stay; our stale links (e.g. a plugin that stopped
        # resolving) go.
        plugins = self.home / "plugins"
        for p in plugins.iterdir():
            if p.is_symlink():
                p.unlink()
        for d in self.jars.plugin_dirs.values():
            for jar in sorted(d.glob("*.jar")):
                link = plugins / jar.name
                if not link.exists():
                    link.symlink_to(jar)

    def _classpath(self) -> str:
        # Core first, unlike bin/neo4j: the APOC jar bundles old commons-lang3/-text, slf4j and
        # HdrHistogram unrelocated, which would otherwise shadow the newer ones the core and
        # OpenGDS need. Plugin dependencies (<plugin dir>/lib) are only needed on the classpath.
        dirs = [self.jars.lib_dir, *(d / "lib" for d in self.jars.plugin_dirs.values()), self.home / "plugins"]
        return os.pathsep.join(f"{d}/*" for d in dirs)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "NEO4J_HOME": str(self.home), "NEO4J_CONF": str(self.conf_dir)}

    def _set_initial_password(self) -> None:
        if (self.home / "data" / "databases" / "system").exists():
            raise Neo4jServerError(
                f"{self.password_file} is missing but the database in {self.home / 'data'} already "
                "exists, so its password cannot be set again. Restore the file, or delete "
                f"{self.home} to start over with an empty database.")
        pw = new_password()
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(pw + "\n")
        # Never the password itself on the command line (any local user's `ps` shows that): neo4j-admin
        # parses with picocli, which expands an argument "@file" into the file's contents, so it reads
        # the password from the 0600 file just written (new_password needs no quoting there).
        cmd = [_java(), "-cp", f"{self.jars.lib_dir}/*", "org.neo4j.cli.AdminTool",
               "dbms", "set-initial-password", f"@{self.password_file}"]
        proc = subprocess.run(cmd, env=self._env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=300)
        if proc.returncode != 0:
            self.password_file.unlink(missing_ok=True)
            raise Neo4jServerError(f"neo4j-admin set-initial-password failed:\n{proc.stdout[-4000:]}")

    def start(self, timeout: float = 180) -> None:
        """Start the server unless it already runs, and wait until it answers queries."""
        self._make_home()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.pid_file.with_name("start.lock")):  # two callers, one home: one launches
            if self.pid() is None:
                self._launch()
        self._wait_ready(timeout)

    def _launch(self) -> None:
        busy = [p for p in (self.bolt_port, self.http_port) if not _port_free(p)]
        if busy:
            raise Neo4jServerError(
                f"Port(s) {busy} on 127.0.0.1 are in use by another process, not by the server in "
                f"{self.home}. Stop it, or choose other ports (LPM_KG_BOLT_PORT / LPM_KG_HTTP_PORT).")
        self._write_conf()
        self._link_plugins()
        if self.auth_enabled and not self.password_file.exists():
            self._set_initial_password()
        cmd = [_java(), f"-Xms{self.heap}", f"-Xmx{self.heap}", *JVM_FLAGS, "-cp", self._classpath(),
               "org.neo4j.server.CommunityEntryPoint", f"--home-dir={self.home}",
               f"--config-dir={self.conf_dir}", "--console-mode"]
        with open(self.console_log, "ab") as log:
            log.write(f"\n=== lpm-kg start {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            log.flush()
            # Own session: the server outlives this Python process and ignores its Ctrl-C.
            self._proc = subprocess.Popen(cmd, cwd=self.home, env=self._env(), stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(f"{self._proc.pid}\n")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        with self.driver(connection_timeout=2, max_connection_lifetime=30) as driver:
            while True:
                pid = self.pid()
                if pid is None:
                    raise Neo4jServerError(f"Neo4j exited during startup. Last lines of {self.console_log}:\n"
                                           + _tail(self.console_log))
                try:
                    driver.verify_connectivity()
                    # The default database is online, not just Bolt. An auto-commit run, as
                    # execute_query would retry transient errors for 30 s on its own.
                    with driver.session() as session:
                        session.run("RETURN 1").consume()
                    return
                except AuthError as exc:
                    raise Neo4jServerError(f"Neo4j rejected the password in {self.password_file}: {exc}") from exc
                except (DriverError, Neo4jError, OSError) as exc:
                    last = exc
                if time.monotonic() > deadline:
                    raise Neo4jServerError(
                        f"Neo4j (pid {pid}) not ready after {timeout:.0f} s ({last!r}). "
                        f"Last lines of {self.console_log}:\n" + _tail(self.console_log))
                time.sleep(0.25)

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (a clean shutdown: checkpoint, then exit), SIGKILL after ``timeout``; no-op if stopped."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):  # it may have exited since pid() looked
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while self._alive(pid):
                    time.sleep(0.1)
                break
            time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        self._proc = None

    def status(self) -> ServerStatus:
        pid = self.pid()
        loaded: list[str] = []
        if pid is not None:
            try:
                with self.driver(connection_timeout=5) as driver, driver.session() as session:
                    ns = session.run("SHOW PROCEDURES YIELD name "
                                     "RETURN collect(DISTINCT split(name, '.')[0]) AS ns").single()["ns"]
                loaded = sorted(set(ns) & {"apoc", "gds"})
            except (DriverError, Neo4jError, OSError, Neo4jServerError):
                pass  # running but not (yet) answering: report what we know
        return ServerStatus(running=pid is not None, pid=pid, bolt_uri=self.uri, http_url=self.http_url,
                            browser_url=self.browser_url, home=self.home, plugins_loaded=loaded,
                            plugin_errors=dict(self.jars.plugin_errors))

    def __enter__(self) -> "ManagedNeo4j":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
