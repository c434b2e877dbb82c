"""Neo4j Browser, used as a person would: open the managed server's Browser URL in a real (headless)
Chromium, fill the connect form, set the parameters and run a cookbook query in the editor, and
read the result table.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``LPM_KG_CHROMIUM`` names another
binary) and the ``playwright`` Python package, which drives that Chromium: no browser download.
Either missing is a failure, never a skip: CI installs both. The screenshot is kept in the test's
tmp dir; with ``LPM_KG_SAVE_SCREENSHOTS=1`` it is also copied to docs/img/browser-cookbook.png.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from lpm_kg.queries import get_query, run_query

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "img" / "browser-cookbook.png"
QUERY = "similar-perturbations"
FLAGS = [  # headless comes from headless=True (Playwright passes --headless)
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    # Nothing but this machine: every host name but the loopback fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
TIMEOUT_MS = 60_000


def _chromium() -> str:
    path = os.environ.get("LPM_KG_CHROMIUM") or shutil.which("chromium")
    if not path or not Path(path).exists():
        pytest.fail("Chromium is not installed: `apt-get install -y chromium` (Debian's package; scripts/setup "
                    "installs it), or set LPM_KG_CHROMIUM to a Chromium binary")
    return path


def _playwright():
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("the playwright package is not installed: `pip install playwright` (pinned in "
                    "requirements.lock); it drives the system Chromium, no browser download is needed")
    return sync_playwright, expect


def _tiny_model(graph, tmp_path) -> str:
    """A simulated screen synced with a few epochs: a model run whose embeddings are current."""
    from lpm_kg.simulate import SimulationConfig, simulate
    from lpm_kg.sync import SyncConfig, sync

    files = simulate(SimulationConfig(n_genes=40, n_knockdowns=30, n_compounds=4)).write(tmp_path / "sim")
    config = tmp_path / "lpm-kg.toml"
    config.write_text(f'[[sources]]\npath = "{files["genes"]}"\nformat = "hgnc"\ndataset = "sim-genes"\n\n'
                      f'[[sources]]\npath = "{files["measurements"]}"\nformat = "long"\ndataset = "sim"\n\n'
                      '[model]\ndatasets = ["sim"]\npreset = "small"\noverrides = { max_epochs = 5, seeds = [13] }\n\n'
                      '[predict]\nmax_experiments = 20\n')
    report = sync(graph, SyncConfig.from_toml(config), checkpoint_dir=tmp_path / "runs", show_progress=False,
                  echo=lambda *_: None)
    assert report.trained
    return report.run_id


def test_a_cookbook_query_runs_in_neo4j_browser(graph, neo4j_server, tmp_path):
    chromium = _chromium()
    sync_playwright, expect = _playwright()
    run_id = _tiny_model(graph, tmp_path)
    symbol = graph.read("MATCH (p:Perturbation) WHERE p.embedding_run = $run AND p.kind = 'genetic' "
                        "RETURN p.symbol AS s ORDER BY s LIMIT 1", {"run": run_id})[0]["s"]
    params = {"symbol": symbol, "k": 5}
    expected = [r["perturbation"] for r in run_query(graph, QUERY, params)]
    assert len(expected) == 5
    *param_lines, cypher = get_query(QUERY).browser_script(params).split("\n", len(params))
    assert all(line.startswith(":param ") for line in param_lines)

    shot = tmp_path / "browser-cookbook.png"
    blocked: list[str] = []

    def local_only(route):
        host = urlparse(route.request.url).hostname
        if host in LOCAL_HOSTS:
            route.continue_()
        else:  # Browser's usage statistics and remote guides: never leave the machine
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 1100}, timeout=TIMEOUT_MS)
        try:
            context.set_default_timeout(TIMEOUT_MS)
            context.route("**/*", local_only)
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(neo4j_server.browser_url)

            # The connect form, as a person sees it: the URL names the server and preselects
            # username / password authentication, so both fields must be there to fill.
            page.get_by_test_id("connect").wait_for()
            username = page.get_by_test_id("username")
            try:
                username.wait_for(timeout=15_000)
            except Exception:
                page.screenshot(path=shot)
                pytest.fail(f"Neo4j Browser's connect form shows no username / password fields (screenshot {shot});"
                            f" the Browser URL was {neo4j_server.browser_url}: its preselectAuthMethod must be "
                            "one of the Browser's NATIVE, SSO or NO_AUTH")
            assert urlparse(neo4j_server.uri).netloc in page.get_by_test_id("boltaddress").input_value()
            username.fill(neo4j_server.auth[0])
            page.get_by_test_id("password").fill(neo4j_server.auth[1])
            page.get_by_test_id("connect").click()
            page.get_by_text("You are connected as user").wait_for()

            frames = page.get_by_test_id("frame")

            def run(text: str):
                before = frames.count()
                page.get_by_test_id("activeEditor").click()
                page.keyboard.insert_text(text)
                page.keyboard.press("Control+Enter")
                expect(frames).to_have_count(before + 1, timeout=TIMEOUT_MS)
                return frames.first  # the stream shows the newest frame first

            for line in param_lines:
                frame = run(line)
                frame.get_by_text(line.split()[1], exact=False).first.wait_for()
            result = run(cypher)
            result.get_by_text(expected[0]).first.wait_for()
            banner = page.get_by_text("To help make Neo4j Browser better")
            if banner.count():  # the usage-statistics notice: dismiss it, as a person would
                banner.locator("xpath=following-sibling::span[1]").click()
                banner.wait_for(state="detached")
            page.get_by_test_id("activeEditor").hover()  # no hover menu open in the picture
            page.wait_for_timeout(300)  # let the table finish drawing before the picture
            page.screenshot(path=shot)

            assert "name: similar-perturbations" in result.get_by_test_id("frameCommand").inner_text()
            assert result.get_by_test_id("cypherFrameErrorMessage").count() == 0
            text = result.inner_text()
            positions = [text.find(f'"{p}"') for p in expected]
            assert all(i >= 0 for i in positions) and positions == sorted(positions), (expected, text[:2000])
            assert f'"{run_id}"' in text and "Started streaming 5 records" in text
        finally:
            context.close()

    assert shot.stat().st_size > 10_000
    if os.environ.get("LPM_KG_SAVE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
