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


def test_pictures_through_the_decoded_cache_equal_pictures_without_it(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app, images
    from lesiontrials.io.decoded import forget_remembered_crops

    release = write_release_root(tmp_path / "root")
    built = build_index(release.root)
    pictures = []
    for name, gb in (("plain", 0.0), ("cold", 1.0), ("warm", 1.0)):
        ws = Workspace(tmp_path / ("cached" if gb else name))
        write_index(built, ws)
        images._volumes.clear()  # the in-process volume LRU would hide the reads
        forget_remembered_crops()  # and so would the in-process mask-crop memo
        client = TestClient(create_app(ws.root, release.root.root, decoded_cache_gb=gb),
                            base_url="http://localhost")
        shown = {}
        for uid, seg in zip(built.table.nodule_uid, built.table.seg_path, strict=True):
            if not seg:
                continue
            for source in ("labels", "ct"):
                response = client.get(f"/api/nodules/{uid}/slice.png",
                                      params={"source": source, "overlay": "contour"})
                shown[(uid, source)] = (response.status_code, response.content)
        pictures.append(shown)
    assert sum(status == 200 for status, _ in pictures[0].values()) >= 20
    assert pictures[0] == pictures[1] == pictures[2]
    entries = list((tmp_path / "cached" / "cache" / "decoded").rglob("*.npy"))
    assert any(p.stem.endswith("-nonzero") for p in entries)  # masks kept as their crops
    assert not (tmp_path / "plain" / "cache").exists()
