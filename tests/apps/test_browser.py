"""End-to-end in headless Chromium (Playwright driving the system browser): every page
loads, a search runs, a nodule and a case open. Skips when either is missing.

Screenshots go to ``$LESIONTRIALS_SCREENSHOTS`` (else the test's tmp dir)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
CHROMIUM = os.environ.get("LESIONTRIALS_CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (apt-get install "
                                "chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(small_world) -> Iterator[str]:
    from lesiontrials.apps import create_app

    app = create_app(small_world.workspace.root, small_world.data_root.root)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def page(server: str):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        # the app's Content-Security-Policy is enforced (no bypass_csp), so the tests use
        # selectors, never string evaluation, which that policy forbids
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        yield tab
        browser.close()
        assert not errors, errors


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("LESIONTRIALS_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#view[data-ready='1']", timeout=15000)


def test_search_page_runs_a_search(page, server, shots) -> None:
    _open(page, f"{server}/#/search")
    assert "of 60" in page.inner_text("#page-info")
    page.fill("#f-dataset", "DLCS24")
    page.click("#search-go")
    page.wait_for_selector("#page-info:has-text('of 20')")
    page.screenshot(path=str(shots / "search.png"), full_page=True)
    page.click("#results tbody tr")
    page.wait_for_selector("#nodule-title")
    page.wait_for_selector("#view[data-ready='1']")
    assert page.inner_text("#nodule-title").startswith("DLCS24/")
    page.screenshot(path=str(shots / "nodule.png"), full_page=True)


def test_map_page_click_opens_a_nodule(page, server, shots) -> None:
    _open(page, f"{server}/#/map?colour=lobe_name")
    assert "60 nodules" in page.inner_text("#map-info")
    page.check("#map-edges")
    page.screenshot(path=str(shots / "map.png"), full_page=True)
    body = httpx.get(f"{server}/api/nodules/map").json()
    x, y = body["x"][0], body["y"][0]
    width, height, pad = 760, 560, 20  # the canvas and its padding in app.js
    point = (pad + (x - min(body["x"])) / (max(body["x"]) - min(body["x"])) * (width - 2 * pad),
             height - pad - (y - min(body["y"])) / (max(body["y"]) - min(body["y"]))
             * (height - 2 * pad))
    page.click("#map-canvas", position={"x": point[0], "y": point[1]})
    page.wait_for_selector("#nodule-title")
    assert page.inner_text("#nodule-title") == body["uids"][0]


def test_trial_and_case_viewer(page, server, shots, small_world) -> None:
    _open(page, f"{server}/#/trials")
    page.screenshot(path=str(shots / "trials.png"), full_page=True)
    page.click("tbody tr")
    page.wait_for_selector("h2:has-text('Trial')")
    page.wait_for_selector("#view[data-ready='1']")
    _open(page, f"{server}/#/case/{small_world.case(0)}")
    page.wait_for_selector("#case-slice[data-loaded='60']")
    assert page.input_value("#case-z") == "60"
    page.fill("#case-width", "400")
    page.dispatch_event("#case-width", "input")
    page.select_option("#case-overlay", "bbox_contour")
    page.wait_for_selector("#case-slice[data-overlay='bbox_contour']")
    page.screenshot(path=str(shots / "case.png"), full_page=True)


def test_results_page(page, server, shots) -> None:
    _open(page, f"{server}/#/results")
    page.wait_for_selector("table")
    assert "7 rows" in page.inner_text("#view")
    page.screenshot(path=str(shots / "results.png"), full_page=True)


def test_case_3d_view_with_niivue(page, server, shots, small_world) -> None:
    _open(page, f"{server}/#/case/{small_world.case(0)}")
    page.click("#open-3d")
    page.wait_for_selector("#viewer3d-box[data-ready]", timeout=30000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "case_3d.png"), full_page=True)
    status = page.inner_text("#viewer3d-status")
    assert page.get_attribute("#viewer3d-box", "data-ready") == "1", status

