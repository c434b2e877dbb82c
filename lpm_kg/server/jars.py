"""Resolve the Neo4j server, Browser and plugin jars from Maven Central into a shared cache.

Layout under ``cache_dir/neo4j-<version>/``::

    work/<name>/pom.xml, artifacts.txt   what Maven resolved (name: core, apoc, gds)
    lib/*.jar, lib/.complete             the server classpath; the marker is written last
    plugins/<name>/*.jar, lib/*.jar      each plugin's jars that are not already in lib/: those
                                         declaring procedures, and (lib/) their dependencies
    plugins.json                         per plugin: resolved or the error, so failures aren't retried

Maven only resolves (``dependency:list``); the jars are then hard-linked (or copied) out of
``~/.m2``. That gives us groupId:artifactId for each jar, which is what de-duplication against
the core must compare: OpenGDS has artifacts named ``annotations`` and ``neo4j-values`` just like
Neo4j's own, so file names alone would drop the wrong jars.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

from lpm_kg.settings import BROWSER_VERSION, NEO4J_VERSION

PLUGINS = ("apoc", "gds")  # each has lpm_kg/server/<name>.pom.xml
_LAYOUT = "4"  # bump when the cache layout or jar selection changes: caches re-resolve once

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Jars:
    lib_dir: Path
    plugin_dirs: dict[str, Path] = field(default_factory=dict)
    """Plugins that resolved: name -> directory whose ``*.jar`` belong in Neo4j's plugins
    directory; ``<dir>/lib/*.jar`` are their dependencies, needed on the classpath only."""
    plugin_errors: dict[str, str] = field(default_factory=dict)
    """Plugins that did not resolve: name -> Maven's error text."""


class MavenError(RuntimeError):
    pass


def _props() -> dict[str, str]:
    # Plugin-only versions (gds.version) live in their own pom, so they don't touch the core's print.
    return {"neo4j.version": NEO4J_VERSION, "browser.version": BROWSER_VERSION}


def _pom_text(name: str) -> str:
    return resources.files("lpm_kg.server").joinpath(f"{name}.pom.xml").read_text()


def _fingerprint(name: str) -> str:
    # Editing a pom template or a version re-resolves; an unchanged one never calls Maven again.
    # The core pom is in every plugin's print, since a plugin keeps only the jars the core lacks.
    blob = _pom_text(name) + _pom_text("core") + json.dumps(_props(), sort_keys=True) + _LAYOUT
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Parallel test workers / two CLIs share one cache; only one may run Maven into it.
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _resolve(name: str, work: Path, progress: Progress) -> dict[tuple[str, ...], Path]:
    """Run Maven on ``<name>.pom.xml`` in ``work``; return {(groupId, artifactId, type[, classifier]): jar}."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError(
            "Maven ('mvn') is not on PATH; it is needed once to download the Neo4j jars. "
            "Install it, e.g. `sudo apt-get install maven` (Debian/Ubuntu) or `brew install maven`."
        )
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(_pom_text(name))
    listing = work / "artifacts.txt"
    listing.unlink(missing_ok=True)
    cmd = [mvn, "-B", "-q", "-f", str(work / "pom.xml"), "dependency:list", "-DincludeScope=runtime",
           "-DoutputAbsoluteArtifactFilename=true", f"-DoutputFile={listing}"]
    cmd += [f"-D{k}={v}" for k, v in _props().items()]
    progress(f"Resolving {name} jars with Maven (first time only; downloads into ~/.m2)...")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    if proc.returncode != 0 or not listing.exists():
        lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout).splitlines()]
        msgs = [line[len("[ERROR]"):].strip() for line in lines if line.startswith("[ERROR]")]
        errors = [m for m in msgs if m and not m.startswith(("To see", "Re-run", "For more", "[Help"))]
        errors = errors or [line for line in lines if line]
        raise MavenError(f"mvn failed for {name} (exit {proc.returncode}):\n" + "\n".join(errors[-25:]))
    found: dict[tuple[str, ...], Path] = {}
    for line in listing.read_text().splitlines():
        # "   group:artifact:type[:classifier]:version:scope:/abs/path.jar" (newer plugins add " -- module x")
        line = line.split(" -- ")[0].strip()
        parts = line.split(":")
        if len(parts) >= 6 and parts[-1].endswith(".jar"):
            # Keyed with type/classifier: netty ships one native jar per platform, all needed.
            found[tuple(parts[:-3])] = Path(parts[-1])
    if not found:
        raise MavenError(f"mvn resolved no jars for {name}; see {listing}")
    return found


_PROC_ANNOTATIONS = tuple(f"Lorg/neo4j/procedure/{a};".encode()
                          for a in ("Procedure", "UserFunction", "UserAggregationFunction"))


def _has_procedures(jar: Path) -> bool:
    # An annotation's type descriptor sits verbatim in the constant pool of the class using it.
    with zipfile.ZipFile(jar) as z:
        return any(any(a in z.read(n) for a in _PROC_ANNOTATIONS) for n in z.namelist() if n.endswith(".class"))


def _install(jars: dict[tuple[str, ...], Path], dest: Path, split_plugin: bool = False) -> None:
    """Fill ``dest`` (replaced atomically) with the given jars.

    With ``split_plugin``, only jars that declare procedures/functions stay in ``dest``; their
    dependencies go to ``dest/lib``. Neo4j loads *every class* of every jar in its plugins
    directory to look for procedures (~130 jars for GDS: seconds per start, and warnings about
    optional classes); dependencies only need to be on the classpath.
    """
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "lib" if split_plugin else tmp).mkdir(parents=True)
    for (group, *_), src in sorted(jars.items()):
        target = (tmp if not split_plugin or _has_procedures(src) else tmp / "lib") / src.name
        if target.exists():  # same file name from two groups: keep both
            target = target.with_name(f"{group}.{src.name}")
        try:
            os.link(src, target)  # no second copy of ~200 MB when ~/.m2 is on the same disk
        except OSError:
            shutil.copy2(src, target)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _core_keys(root: Path) -> set[tuple[str, str]]:
    lines = (root / "work" / "core" / "artifacts.txt").read_text().splitlines()
    return {tuple(p[:2]) for p in (line.split(" -- ")[0].strip().split(":") for line in lines) if len(p) >= 6}


def ensure_jars(cache_dir: Path, progress: Progress | None = None, *, retry_failed: bool = False) -> Jars:
    """Return the server's jars, resolving them with Maven the first time (and only then).

    A plugin that fails to resolve is recorded in ``plugins.json`` and not retried until its pom
    or version changes, or ``retry_failed=True``; the core failing raises :class:`MavenError`.
    """
    say = progress or (lambda _msg: None)
    root = Path(cache_dir) / f"neo4j-{NEO4J_VERSION}"
    lib, marker, state_file = root / "lib", root / "lib" / ".complete", root / "plugins.json"

    def current(retry: bool) -> Jars | None:
        if not (marker.exists() and marker.read_text().strip() == _fingerprint("core")):
            return None
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        dirs, errors = {}, {}
        for name in PLUGINS:
            entry = state.get(name)
            if not entry or entry.get("fingerprint") != _fingerprint(name):
                return None
            if entry.get("ok") and (root / "plugins" / name).is_dir():
                dirs[name] = root / "plugins" / name
            elif entry.get("ok") or retry:
                return None
            else:
                errors[name] = entry.get("error", "unknown error")
        return Jars(lib, dirs, errors)

    if (jars := current(retry_failed)) is not None:
        return jars
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        if (jars := current(retry_failed)) is not None:  # another process finished it while we waited
            return jars
        core_ok = marker.exists() and marker.read_text().strip() == _fingerprint("core")
        if not (core_ok and (root / "work" / "core" / "artifacts.txt").exists()):
            core = _resolve("core", root / "work" / "core", say)
            _install(core, lib)
            marker.write_text(_fingerprint("core") + "\n")
            say(f"Neo4j {NEO4J_VERSION}: {len(core)} jar(s) in {lib}")
        core_keys = _core_keys(root)
        state = json.loads(state_file.read_text()) if state_file.exists() else {}
        for name in PLUGINS:
            entry = state.get(name) or {}
            fresh = entry.get("fingerprint") == _fingerprint(name)
            if fresh and entry.get("ok") and (root / "plugins" / name).is_dir():
                continue
            if fresh and not entry.get("ok") and not retry_failed:
                continue
            try:
                resolved = _resolve(name, root / "work" / name, say)
            except (MavenError, subprocess.TimeoutExpired) as exc:
                say(f"Plugin {name} unavailable: {exc}")
                state[name] = {"ok": False, "error": str(exc), "fingerprint": _fingerprint(name)}
            else:
                # The core's copy wins: two versions of a class on one classpath is a lottery.
                extra = {k: p for k, p in resolved.items() if k[:2] not in core_keys}
                _install(extra, root / "plugins" / name, split_plugin=True)
                state[name] = {"ok": True, "jars": len(extra), "fingerprint": _fingerprint(name)}
                say(f"Plugin {name}: {len(extra)} jar(s), {len(resolved) - len(extra)} more already in the core")
            state_file.write_text(json.dumps(state, indent=2))
    jars = current(False)
    assert jars is not None
    return jars
