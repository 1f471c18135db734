"""End-to-end in headless Chromium (Playwright driving the system browser): every page
loads; a search with an LIDC characteristic filter and the exports; the map's colour,
method, filters and k-NN neighbours; the nodule page's CT / label-map toggle (and the
refusal under ``--no-real-pixels``) and similar nodules; the case viewer's slices, 3-D
render and nodule-centred crosshair. Skips when Chromium or Playwright is missing.

Screenshots go to ``$LESIONTRIALS_SCREENSHOTS`` (else the test's tmp dir)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from donor_only import add_donor_only_row

from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask
from lesiontrials.io import (
    Volume,
    VolumeKind,
    decode_png,
    write_png,
    write_record,
    write_volume,
)
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.testing import box_thorax
from lesiontrials.testing_records import insert_record, inserted_nodule, render_record

sync_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
CHROMIUM = os.environ.get("LESIONTRIALS_CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (apt-get install "
                                "chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHARACTERISTICS = ("subtlety", "internal_structure", "calcification", "sphericity", "margin",
                   "lobulation", "spiculation", "texture", "malignancy")
# requests whose failure the UI must show as the server's message, not a console error
EXPECTED_REFUSALS = ("source=ct", "space=image", "method=umap", "/api/nodules/export")
VIEWER_NODULES = ((70, 40, 60), (25, 30, 20))  # voxel centres of the viewer case's nodules


@dataclass(frozen=True)
class BrowserWorld:
    workspace: Workspace
    data_root: DataRoot
    nodule_uid: str  # the nodule whose host label map, mask and raw CT are on disk
    trial: str
    donor_uid: str  # a donor-only nodule: its mask alone, no CT, no label map, no location

    @property
    def viewer_case(self) -> str:
        return f"{self.trial}/{self.trial}-viewer"


def _sphere(shape: tuple[int, ...], centre: tuple[int, int, int], radius: int) -> np.ndarray:
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2


def _hu(labels: np.ndarray) -> np.ndarray:
    return np.where(labels == 0, -1000, np.where(np.isin(labels, anatomy.LOBE_LABELS), -850, 40)
                    ).astype(np.int16)


def _write_viewer_case(ws: Workspace, trial: str) -> None:
    """A synthetic case with two nodules whose insert.json carries realised centres, as
    the insertion stage writes them."""
    thorax = box_thorax()
    affine = thorax.volume.affine
    labels = thorax.volume.array.copy()
    directory = ws.case_dir(trial, f"{trial}-viewer")
    records = []
    for k, centre in enumerate(VIEWER_NODULES):
        mask = _sphere(labels.shape, centre, 3)
        labels[mask] = anatomy.NODULE
        write_volume(directory / f"nodule_{k}.nii.gz", Volume(mask.astype(np.uint8), affine),
                     kind=VolumeKind.MASK)
        records.append(inserted_nodule(
            k, NoduleMask(mask, (0, 0, 0)).tight(), affine, donor_uid=f"LUNA25/x{k}", label=k,
            lobe="right_lung_upper_lobe" if k == 0 else "left_lung_lower_lobe",
            diameter_mm=12.0))
    write_volume(directory / "labels.nii.gz", Volume(labels, affine), kind=VolumeKind.LABELS)
    write_volume(directory / "ct.nii.gz", Volume(_hu(labels), affine), kind=VolumeKind.CT)
    write_record(insert_record(trial=trial, case_uid=f"{trial}-viewer", seed=0,
                               nodules=records), directory / "insert.json")
    write_record(render_record(trial=trial, case_uid=f"{trial}-viewer"),
                 directory / "render.json")


@pytest.fixture(scope="module")
def world(small_world, tmp_path_factory: pytest.TempPathFactory) -> BrowserWorld:
    """A copy of the shared small world (left untouched) plus the first nodule's raw host CT
    and a case whose insert.json has nodule centres."""
    base = tmp_path_factory.mktemp("browser")
    ws = Workspace(Path(shutil.copytree(small_world.workspace.root, base / "ws")))
    root = DataRoot(Path(shutil.copytree(small_world.data_root.root, base / "world")))
    from lesiontrials.index import NoduleIndex

    table = NoduleIndex.load(ws.index_table).table
    row = table[table["nodule_uid"] == small_world.nodule_uid].iloc[0]
    host = box_thorax().volume
    write_volume(root.root / "raw_ct" / str(row["ct_path"]), Volume(_hu(host.array), host.affine),
                 kind=VolumeKind.CT)
    _write_viewer_case(ws, small_world.trial)
    donor = add_donor_only_row(ws, root)
    first_case = ws.case_dir(small_world.trial, f"{small_world.trial}-00000")
    write_png(first_case / "qc.png", np.full((40, 60, 3), 90, np.uint8))
    return BrowserWorld(ws, root, small_world.nodule_uid, small_world.trial, donor)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serve(world: BrowserWorld, *, real_pixels: bool) -> Iterator[str]:
    from lesiontrials.apps import create_app

    app = create_app(world.workspace.root, world.data_root.root, real_pixels=real_pixels)
    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def server(world: BrowserWorld) -> Iterator[str]:
    with _serve(world, real_pixels=True) as url:
        yield url


@pytest.fixture(scope="module")
def private_server(world: BrowserWorld) -> Iterator[str]:
    with _serve(world, real_pixels=False) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


@contextmanager
def _tab(browser, tolerated: tuple[str, ...]):
    # the app's Content-Security-Policy is enforced (no bypass_csp), so the tests use
    # selectors and screenshots, never string evaluation, which that policy forbids
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    errors: list[str] = []

    def on_console(msg) -> None:
        url = (msg.location or {}).get("url", "")
        refused = msg.text.startswith("Failed to load resource") and (
            any(t in url for t in tolerated)  # shown to the user as the server's message
            or ("status of 404" in msg.text and "/api/nodules/" in url and "/slice.png" in url))
        if msg.type == "error" and not refused:
            errors.append(f"{msg.text} ({url})")

    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", on_console)
    yield tab
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def page(browser):
    with _tab(browser, EXPECTED_REFUSALS) as tab:
        yield tab


@pytest.fixture(scope="module")
def private_page(browser):
    with _tab(browser, EXPECTED_REFUSALS) as tab:
        yield tab


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("LESIONTRIALS_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#view[data-ready='1']", timeout=20000)


def _total(server: str, params: list[tuple[str, str]]) -> int:
    response = httpx.get(f"{server}/api/nodules", params=[*params, ("limit", "1")])
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def test_search_with_a_characteristic_filter(page, server, shots) -> None:
    _open(page, f"{server}/#/search")
    everything = _total(server, [])
    page.wait_for_selector(f"#results[data-total='{everything}']")
    for name in CHARACTERISTICS:  # every LIDC characteristic is a range in the form
        assert page.locator(f"#f-{name}_min").count() == 1, name
        assert page.locator(f"#f-{name}_max").count() == 1, name
    page.fill("#f-malignancy_min", "3")
    page.click("#search-form-go")
    expected = _total(server, [("malignancy_min", "3")])
    assert 0 < expected < everything
    page.wait_for_selector(f"#results[data-total='{expected}']")
    assert f"of {expected}" in page.inner_text("#page-info")
    assert "malignancy_min=3" in page.url  # the filters stay in the address
    page.check("#f-dataset-DLCS24")
    page.click("#search-form-go")
    both = _total(server, [("malignancy_min", "3"), ("dataset", "DLCS24")])
    page.wait_for_selector(f"#results[data-total='{both}']")
    assert set(page.locator("#results-table tbody td:nth-child(2)").all_inner_texts()) == {"DLCS24"}
    page.screenshot(path=str(shots / "search.png"), full_page=True)
    page.click("#search-form-reset")
    page.wait_for_selector(f"#results[data-total='{everything}']")
    page.click("#results-table tbody tr a")
    page.wait_for_selector("#nodule-title")
    page.wait_for_selector("#view[data-ready='1']")


def test_search_exports_the_selection(page, server, shots) -> None:
    _open(page, f"{server}/#/search?dataset=DLCS24")
    expected = _total(server, [("dataset", "DLCS24")])
    page.wait_for_selector(f"#results[data-total='{expected}']")
    with page.expect_download() as info:
        page.click("#export-csv")
    lines = Path(info.value.path()).read_text().strip().splitlines()
    assert len(lines) == expected + 1 and lines[0].startswith("nodule_uid")
    page.wait_for_selector("#export-msg:has-text('saved nodules.csv')")
    for kind in ("manifest", "spec"):
        direct = httpx.get(f"{server}/api/nodules/export", params={"format": kind,
                                                                   "dataset": "DLCS24"})
        if direct.status_code != 200:  # refused (nothing to build): the server's message
            page.click(f"#export-{kind}")  # the message replaces the previous one
            page.wait_for_function(
                "text => document.querySelector('#export-msg.refused')?.innerText === text",
                arg=direct.json()["error"])
            continue
        with page.expect_download() as info:
            page.click(f"#export-{kind}")
        assert Path(info.value.path()).read_bytes() == direct.content
        if direct.headers.get("x-export-note"):  # the server's account of the export
            page.wait_for_selector(f"#export-msg:has-text('{direct.headers['x-export-note'][:30]}')")
    page.screenshot(path=str(shots / "search_export.png"))


def _point(page, body: dict, row: int) -> dict[str, float]:
    """Canvas position of map point ``row`` (the bounds the page drew with)."""
    x0, x1, y0, y1, pad = json.loads(page.get_attribute("#map-canvas", "data-bounds"))
    width = int(page.get_attribute("#map-canvas", "width"))
    height = int(page.get_attribute("#map-canvas", "height"))
    return {"x": pad + (body["x"][row] - x0) / ((x1 - x0) or 1) * (width - 2 * pad),
            "y": height - pad - (body["y"][row] - y0) / ((y1 - y0) or 1) * (height - 2 * pad)}


def test_map_colour_method_filters_and_neighbours(page, server, shots) -> None:
    _open(page, f"{server}/#/map")
    page.wait_for_selector("#map-canvas[data-ready='1']")
    options = [o.get_attribute("value") for o in page.locator("#map-colour option").all()]
    assert len(options) >= 4
    target = next(c for c in options if c not in ("dataset",))
    page.select_option("#map-colour", target)
    page.wait_for_selector(f"#map-canvas[data-colour='{target}']")
    assert page.locator("#map-legend span").count() >= 1
    umap = httpx.get(f"{server}/api/nodules/map", params={"method": "umap"}, timeout=30)
    if umap.status_code == 200:  # stored at index time
        page.click("#map-method-umap")
        page.wait_for_selector("#map-canvas[data-method='umap'][data-ready='1']", timeout=60000)
        page.screenshot(path=str(shots / "map_umap.png"), full_page=True)
    else:  # not computed for this index: never fitted on a request, the control disabled
        assert umap.status_code == 409 and "lesiontrials index map" in umap.json()["error"]
        assert page.is_disabled("#map-method-umap") and page.is_checked("#map-method-pca")
        title = page.get_attribute("label[for='map-method-umap']", "title")
        assert "lesiontrials index map" in title
    page.click("#map-method-pca")
    page.wait_for_selector("#map-canvas[data-method='pca'][data-ready='1']")
    assert "method=pca" in page.url and f"colour={target}" in page.url

    body = httpx.get(f"{server}/api/nodules/map", params={"method": "pca"}).json()
    filtered = httpx.get(f"{server}/api/nodules/map", params={"malignancy_min": 3}).json()
    page.fill("#f-malignancy_min", "3")
    page.click("#map-form-go")
    kept = sum(filtered["selected"])
    page.wait_for_selector(f"#map-info[data-selected='{kept}']")
    assert 0 < kept < len(body["uids"])
    page.select_option("#map-others", "hide")
    page.select_option("#map-others", "dim")
    row = filtered["selected"].index(True)
    page.check("#map-edges")
    page.click("#map-canvas", position=_point(page, body, row))
    uid = body["uids"][row]
    page.wait_for_selector(f"#map-selected[data-uid='{uid}']")
    assert page.inner_text("#map-chosen") == uid
    neighbours = httpx.get(f"{server}/api/nodules/{uid}").json()["map"]["neighbours"]
    shown = [li.get_attribute("data-uid") for li in page.locator("#map-neighbours li").all()]
    assert shown == neighbours and len(shown) == 8
    assert f"nodule={uid.replace('/', '%2F')}" in page.url
    page.screenshot(path=str(shots / "map.png"), full_page=True)
    page.click("#map-neighbours li:first-child button")  # a neighbour becomes the selection
    page.wait_for_selector(f"#map-selected[data-uid='{neighbours[0]}']")
    page.click("#map-open")
    page.wait_for_selector("#view[data-ready='1']")
    assert page.inner_text("#nodule-title") == neighbours[0]


def test_nodule_page_ct_toggle_and_similar(page, server, shots, world) -> None:
    _open(page, f"{server}/#/nodule/{world.nodule_uid}")
    page.wait_for_selector("#nodule-slice[data-source='labels']")
    page.click("#slice-source-ct")
    page.wait_for_selector("#nodule-slice[data-source='ct']")
    assert page.is_visible("#slice-center") and page.is_hidden("#slice-msg")
    page.wait_for_selector("#similar[data-space='features']")
    assert page.locator("#similar-table tbody tr").count() == 8
    page.screenshot(path=str(shots / "nodule.png"), full_page=True)
    page.click("#similar-space-image")
    page.wait_for_selector("#similar[data-space^='image']", state="attached")
    image = httpx.get(f"{server}/api/nodules/{world.nodule_uid}/similar",
                      params={"space": "image", "k": 8})
    if image.status_code == 200:
        assert page.get_attribute("#similar", "data-space") == "image"
    else:  # e.g. no embeddings yet: the server's message says what to run
        assert page.get_attribute("#similar", "data-space") == "image-failed"
        assert page.inner_text("#similar-msg") == image.json()["error"]
    page.click("#slice-source-labels")
    page.wait_for_selector("#nodule-slice[data-source='labels']")


def test_nodule_ct_refused_without_real_pixels(private_page, private_server, shots, world) -> None:
    page = private_page
    _open(page, f"{private_server}/#/nodule/{world.nodule_uid}")
    page.wait_for_selector("#nodule-slice[data-source='labels']")
    assert "real pixels off" in page.inner_text("#pixels")
    # the CT is on disk but may not be sent: no CT control is offered, the reason is shown
    assert page.locator("#slice-source-ct").count() == 0
    assert "real pixels are off" in page.inner_text("#slice-no-ct")
    refusal = httpx.get(f"{private_server}/api/nodules/{world.nodule_uid}/slice.png",
                        params={"source": "ct"})
    assert refusal.status_code == 403
    page.screenshot(path=str(shots / "nodule_ct_refused.png"), full_page=True)


def test_case_without_viewable_ct_shows_its_label_map(private_page, private_server, shots,
                                                      small_world) -> None:
    page = private_page  # a CT pasted into a real host scan: refused, the label map shown
    _open(page, f"{private_server}/#/case/{small_world.case(1)}")
    page.wait_for_selector("#case-slice[data-source='labels']")
    assert [o.get_attribute("value") for o in page.locator("#case-source option").all()] == [
        "labels"]
    page.wait_for_selector("#viewer3d-box[data-ready]", timeout=30000)
    assert page.get_attribute("#viewer3d-box", "data-ready") == "1"
    assert "label map" in page.inner_text("#viewer3d-status")
    page.wait_for_timeout(300)
    assert _lit_fraction(page.locator("#viewer3d").screenshot()) > 0.05
    page.screenshot(path=str(shots / "case_labels_only.png"), full_page=True)


def test_trial_and_case_slices(page, server, shots, small_world) -> None:
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
    for overlay in ("bbox", "plain", "bbox_contour"):  # the four guidance overlays
        page.select_option("#case-overlay", overlay)
        page.wait_for_selector(f"#case-slice[data-overlay='{overlay}']")
    # the record's realised centroid centres the button on the nodule's slice
    assert not page.is_disabled("#centre-0")
    assert page.get_attribute("#centre-0", "data-z") == "60"
    page.wait_for_selector("#viewer3d-box[data-ready='1']", timeout=30000)
    page.screenshot(path=str(shots / "case.png"), full_page=True)


def _lit_fraction(png: bytes) -> float:
    """Share of pixels that differ from the canvas's corner (background) colour."""
    image = decode_png(png).astype(int)
    background = image[2, 2]
    return float((np.abs(image - background).sum(axis=-1) > 30).mean())


def test_case_3d_render_and_nodule_crosshair(page, server, shots, world) -> None:
    _open(page, f"{server}/#/case/{world.viewer_case}")
    page.wait_for_selector("#case-slice[data-loaded]")
    page.wait_for_selector("#viewer3d-box[data-ready]", timeout=30000)
    status = page.inner_text("#viewer3d-status")
    assert page.get_attribute("#viewer3d-box", "data-ready") == "1", status
    page.select_option("#viewer3d-layout", "render")
    page.wait_for_selector("#viewer3d-box[data-layout='render']")
    page.wait_for_timeout(300)
    render = page.locator("#viewer3d").screenshot(path=str(shots / "case_render.png"))
    assert _lit_fraction(render) > 0.05, "the volume render is blank"
    page.select_option("#viewer3d-layout", "grid")
    page.wait_for_selector("#viewer3d-box[data-layout='grid']")
    for k, centre in reversed(list(enumerate(VIEWER_NODULES))):
        page.click(f"#centre-{k}")
        page.wait_for_selector(f"#case-slice[data-loaded='{centre[2]}']")
        assert page.input_value("#case-z") == str(centre[2])
        page.wait_for_selector(f"#viewer3d-box[data-crosshair='{','.join(map(str, centre))}']")
        assert "current" in (page.get_attribute(f"#case-nodules tbody tr:nth-child({k + 1})",
                                                "class") or "")
    page.wait_for_timeout(300)
    grid = page.locator("#viewer3d").screenshot()
    assert _lit_fraction(grid) > 0.05
    page.screenshot(path=str(shots / "case_3d.png"), full_page=True)
    # the slice slider moves the 3-D crosshair's axial slice too
    below = VIEWER_NODULES[0][2] - 1
    page.focus("#case-z")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(f"#case-slice[data-loaded='{below}']")
    page.wait_for_selector(f"#viewer3d-box[data-crosshair$=',{below}']")


def test_results_page(page, server, shots) -> None:
    _open(page, f"{server}/#/results")
    page.wait_for_selector("table")
    assert "7 rows" in page.inner_text("#view")
    page.screenshot(path=str(shots / "results.png"), full_page=True)


def test_donor_only_nodule_shows_its_mask_and_no_ct_control(page, server, shots, world) -> None:
    _open(page, f"{server}/#/nodule/{world.donor_uid}")
    page.wait_for_selector("#nodule-slice[data-source='mask']")
    assert page.locator("#slice-source-ct").count() == 0
    assert page.locator("#slice-source-labels").count() == 0
    assert page.inner_text("#slice-no-ct") == "no CT for this nodule"
    assert "mask outline, no CT in the embedded data" in page.inner_text("#slice-caption")
    assert page.is_disabled("#slice-overlay")
    assert "Location unknown" in page.inner_text("#nodule-location-note")
    facts = page.inner_text("#nodule-facts")
    assert "lobe name\tunknown" in facts and "lung side\tunknown" in facts
    picture = decode_png(page.locator("#nodule-slice").screenshot())
    assert (np.abs(picture[..., 0].astype(int) - picture[..., 1]) > 100).any(), "red outline"
    assert "different spaces" in page.inner_text("#why-different")
    page.screenshot(path=str(shots / "nodule_donor_only.png"), full_page=True)


def test_label_maps_and_qc_pictures_have_legends(page, server, shots, world, small_world) -> None:
    _open(page, f"{server}/#/nodule/{world.nodule_uid}")
    page.wait_for_selector("#nodule-slice[data-source='labels']")
    page.wait_for_selector("#slice-legend .legend-item")
    shown = page.locator("#slice-legend .legend-item").all_inner_texts()
    assert any("lobe" in t for t in shown) and len(shown) >= 3
    _open(page, f"{server}/#/case/{small_world.case(0)}")
    page.select_option("#case-source", "labels")
    page.wait_for_selector("#case-slice[data-source='labels']")
    page.wait_for_selector("#case-legend .legend-item")
    assert "lung tumor" in page.inner_text("#case-legend")  # the inserted nodule's label
    legend = page.inner_text("#case-qc-legend")
    assert "red outline" in legend and "−600 HU" in legend and "1500 HU" in legend
    page.screenshot(path=str(shots / "case_labels_legend.png"), full_page=True)


def test_search_facets_are_named_and_ordered(page, server) -> None:
    _open(page, f"{server}/#/search")
    page.wait_for_selector("#facets .facet")
    lines = [line.strip() for line in page.inner_text("#facets").splitlines() if ":" in line]
    assert lines and not any(line.startswith(":") for line in lines), lines
    assert "unknown: 1" in lines  # the donor-only nodule's lobe, zone and side


def test_api_docs_load_offline_under_the_pages_policy(page, server, shots) -> None:
    page.goto(f"{server}/docs")  # console errors (a blocked script or CDN) fail the test
    page.wait_for_selector(".opblock", timeout=20000)
    assert page.locator(".opblock").count() >= 10
    assert "/api/nodules" in page.inner_text("#swagger-ui")
    page.screenshot(path=str(shots / "api_docs.png"), full_page=True)
