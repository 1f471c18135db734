"""The app reads per-scan mask files (IMDCT) through the shared donor extraction."""

from __future__ import annotations

import pytest

from lesiontrials.index import build_index, write_index
from lesiontrials.paths import Workspace
from lesiontrials.testing_release import write_release_root


@pytest.fixture(scope="module")
def release_client(tmp_path_factory: pytest.TempPathFactory):
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    base = tmp_path_factory.mktemp("release-app")
    release = write_release_root(base / "root")
    built = build_index(release.root)
    write_index(built, Workspace(base / "ws"))
    app = create_app(base / "ws", release.root.root)
    return TestClient(app, raise_server_exceptions=False, base_url="http://localhost"), built.table


def test_each_imdct_nodule_shows_its_own_component(release_client) -> None:
    client, table = release_client
    scan = table[(table.dataset == "IMDCT") & (table.ct_id == "I001")]
    assert len(scan) == 3 and set(scan.mask_path) == {"masks/IMDCT/nodule_seg/I001_seg.nii.gz"}
    images = []
    for uid in scan.nodule_uid:
        response = client.get(f"/api/nodules/{uid}/slice.png", params={"overlay": "contour"})
        assert response.status_code == 200, response.text
        images.append(response.content)
    assert len(set(images)) == 3  # the whole-scan mask would give one slice for all three
