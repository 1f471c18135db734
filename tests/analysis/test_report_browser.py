"""The report as a reader sees it, in headless Chromium: the summary is on the first
screen, every contents link lands on its section, and the trial appears by its own name.
Skips when Chromium or Playwright is missing. Screenshot: ``$LESIONTRIALS_SCREENSHOTS``
(else the test's tmp dir)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
from evalsynth import TRIAL, write_trial

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("LESIONTRIALS_CHROMIUM") or next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "chromium-headless-shell"))
     if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (apt-get install "
                                "chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lesiontrials.analysis.workspace import run_analysis
    from lesiontrials.scoring.runner import score
    from lesiontrials.scoring.splits import make_split
    from lesiontrials.slicing.sets import build_eval_set

    trial = write_trial(tmp_path_factory.mktemp("reportbrowser"))
    build_eval_set(trial=TRIAL, workspace=trial.workspace, show_progress=False)
    for model in ("majority", "overlay_reader"):
        score(model=model, workspace=trial.workspace, sets=[TRIAL], show_progress=False)
    make_split(workspace=trial.workspace, name="main", sets=[TRIAL])
    return run_analysis(trial.workspace, name="browser", replicates=50)


def test_summary_first_contents_links_land_and_the_trial_is_named(report, tmp_path):
    shots = Path(os.environ.get("LESIONTRIALS_SCREENSHOTS") or tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(report.as_uri())
        summary = page.locator("#summary")
        box = summary.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900  # on the first screen
        assert "Headline accuracies" in summary.inner_text()
        assert "(baseline)" in summary.inner_text()
        page.screenshot(path=str(shots / "report_top.png"))
        links = page.locator("a[href^='#']")
        hrefs = [links.nth(k).get_attribute("href") for k in range(links.count())]
        assert f"#trial-{TRIAL}" in hrefs and len(hrefs) >= 8
        for href in hrefs:
            assert href is not None
            target = page.locator(f"[id='{href[1:]}']")
            assert target.count() == 1, href
            page.locator(f"a[href='{href}']").first.click()
            top = target.bounding_box()
            assert top is not None and -2 <= top["y"] < 900, (href, top)  # in view
        heading = page.locator(f"[id='trial-{TRIAL}']")
        assert heading.inner_text() == f"Trial: {TRIAL}"
        closed = page.locator("details").first
        assert not closed.evaluate("d => d.open")  # detail starts collapsed
        browser.close()
