"""Every nodule has a picture and an honest facet: a donor-only nodule (a mask, no CT, no
host label map, no location — LIDC in the embedded data) gets a mask picture and no CT
toggle; blank facet values are a named ``unknown`` bucket; size bins in size order;
label-map pictures name the labels they show; 64-bit seeds reach the browser exactly; the
API docs load no asset from another origin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from donor_only import add_donor_only_row

from lesiontrials import anatomy
from lesiontrials.io import decode_png, write_json
from lesiontrials.paths import DataRoot, Workspace

SEED = 962659976861167146  # a 64-bit seed as the renderer records it (> 2**53)


@pytest.fixture(scope="module")
def donor_world(small_world, tmp_path_factory: pytest.TempPathFactory):
    """The small world plus a donor-only row (:mod:`donor_only`) and a case whose
    render.json has a 64-bit seed."""
    base = tmp_path_factory.mktemp("pictures")
    ws = Workspace(Path(shutil.copytree(small_world.workspace.root, base / "ws")))
    root = DataRoot(Path(shutil.copytree(small_world.data_root.root, base / "world")))
    uid = add_donor_only_row(ws, root)
    case = ws.case_dir(small_world.trial, f"{small_world.trial}-00000")
    render = json.loads((case / "render.json").read_text())
    write_json(render | {"seed": SEED, "global_seed": SEED}, case / "render.json")
    return ws, root, uid


@pytest.fixture(scope="module")
def donor_client(donor_world, small_world):
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    ws, root, _ = donor_world
    return TestClient(create_app(ws.root, root.root), raise_server_exceptions=False,
                      base_url="http://localhost")


def test_donor_only_nodule_has_a_mask_picture_and_no_ct(donor_client, donor_world) -> None:
    _, _, uid = donor_world
    detail = donor_client.get(f"/api/nodules/{uid}").json()
    assert detail["pictures"] == {"labels": False, "ct": False, "mask": True}
    assert donor_client.get(f"/api/nodules/{uid}/slice.png").status_code == 404
    response = donor_client.get(f"/api/nodules/{uid}/slice.png", params={"source": "mask"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = decode_png(response.content)
    assert image.ndim == 3 and image.shape[1] == 3 * 182  # axial, coronal, sagittal
    panels = [image[16:, k * 182:k * 182 + 180] for k in range(3)]
    filled = [int(np.all(p == 175, axis=-1).sum()) for p in panels]
    red = [int(np.all(p == (255, 0, 0), axis=-1).sum()) for p in panels]
    assert all(f > 0 for f in filled) and all(r > 0 for r in red), (filled, red)
    # square display pixels: the axial view shows the 12 × 8 mm ellipse as 12:8, not the
    # voxel counts' ratio, and the coronal view the 12 × 10 mm extent despite 2.5 mm slices
    axial = np.all(panels[0] == 175, axis=-1) | np.all(panels[0] == (255, 0, 0), axis=-1)
    cols, rows = np.ptp(np.argwhere(axial)[:, 1]) + 1, np.ptp(np.argwhere(axial)[:, 0]) + 1
    assert cols / rows == pytest.approx(12 / 8, rel=0.15)
    coronal = np.all(panels[1] == 175, axis=-1) | np.all(panels[1] == (255, 0, 0), axis=-1)
    cols, rows = np.ptp(np.argwhere(coronal)[:, 1]) + 1, np.ptp(np.argwhere(coronal)[:, 0]) + 1
    assert cols / rows == pytest.approx(12 / 10, rel=0.2)


def test_hosted_nodule_offers_its_label_map_with_named_colours(donor_client, small_world) -> None:
    detail = donor_client.get(f"/api/nodules/{small_world.nodule_uid}").json()
    assert detail["pictures"]["labels"] and detail["pictures"]["mask"]
    assert not detail["pictures"]["ct"]  # no raw CT in this world: no CT toggle
    response = donor_client.get(f"/api/nodules/{small_world.nodule_uid}/slice.png",
                                params={"zoom": 1, "overlay": "plain"})
    shown = [int(i) for i in response.headers["x-labels"].split(",")]
    legend = donor_client.get("/api/labels").json()
    assert legend[str(anatomy.NODULE)]["name"] == "lung tumor"
    image = decode_png(response.content)
    colours = {tuple(int(legend[str(i)]["colour"][k:k + 2], 16) for k in (1, 3, 5))
               for i in shown}
    drawn = {tuple(int(c) for c in px) for px in np.unique(image.reshape(-1, 3), axis=0)}
    assert drawn == colours, "every colour drawn is in the legend and vice versa"


def test_facets_name_blank_values_and_order_size_bins(donor_client) -> None:
    facets = donor_client.get("/api/nodules", params={"limit": 1}).json()["facets"]
    for name, counts in facets.items():
        assert all(key.strip() for key in counts), (name, counts)
    assert facets["lobe"]["unknown"] == 1 and list(facets["lobe"])[-1] == "unknown"
    order = [b for b in anatomy.PROFILE_SIZE_BINS if b in facets["size_bin"]]
    assert [b for b in facets["size_bin"] if b != "unknown"] == order
    assert len(order) >= 3  # the fixture spans several bins, so the order is tested


def test_facet_order_puts_size_bins_by_size() -> None:
    from lesiontrials.apps.routes_nodules import facet_order

    shuffled = np.array([">=30", "10-15", "unknown", "<5", "5-10", "20-30", "15-20"])
    assert list(facet_order("size_bin", shuffled)) == [*anatomy.PROFILE_SIZE_BINS, "unknown"]
    assert list(facet_order("lobe", np.array(["unknown", "b", "a"]))) == ["a", "b", "unknown"]


def test_64_bit_seeds_are_sent_as_exact_strings(donor_client, small_world) -> None:
    body = donor_client.get(f"/api/cases/{small_world.case(0)}").json()
    assert body["render"]["seed"] == str(SEED) and body["render"]["global_seed"] == str(SEED)
    assert float(SEED) != SEED  # a JSON number would have reached the browser rounded
    from lesiontrials.apps.routes_results import exact_integers

    assert exact_integers({"a": [2**53 - 1, -(2**60), True]}) == {"a": [2**53 - 1, str(-(2**60)),
                                                                       True]}


def test_api_docs_are_served_offline(donor_client) -> None:
    page = donor_client.get("/docs")
    assert page.status_code == 200
    sources = [part.split('"')[0] for part in page.text.split('src="')[1:]]
    sources += [part.split('"')[0] for part in page.text.split('href="')[1:]]
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert "<script>" not in page.text  # no inline script: the page's own CSP forbids it
    for source in sources:
        if source.endswith((".js", ".css")):
            assert donor_client.get(source).status_code == 200, source
    assert donor_client.get("/redoc").status_code == 404  # no CDN-backed page left
