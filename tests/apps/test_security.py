"""Path traversal refused, --no-real-pixels honoured, no wildcard CORS."""

from __future__ import annotations

import pytest

from lesiontrials.apps import create_app
from lesiontrials.apps.state import ApiError, inside

TRAVERSALS = ["/api/files/%2e%2e/%2e%2e/etc/passwd", "/api/files/reports/../../../etc/passwd",
              "/api/files/%2Fetc%2Fpasswd", "/api/files/reports/%2e%2e%2f%2e%2e%2fsecret.json",
              "/api/trials/..%2F..%2Fetc", "/api/cases/..%2Ftrials/x",
              "/api/reports/demo/tables/..%2F..%2F..%2Findex%2Fnodules"]


@pytest.mark.parametrize("url", TRAVERSALS)
def test_path_traversal_is_refused(client, url) -> None:
    response = client.get(url)
    assert 400 <= response.status_code < 500
    assert "root:" not in response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "error" in response.json()


def test_inside_refuses_escapes(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    assert inside(tmp_path, "a") == (tmp_path / "a").resolve()
    for bad in ("../x", "a/../../x", "/etc/passwd"):
        with pytest.raises(ApiError):
            inside(tmp_path, bad)
    outside = tmp_path.parent / "elsewhere"
    outside.mkdir(exist_ok=True)
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(ApiError):
        inside(tmp_path, "link/file")


def test_only_listed_file_types_are_served(client) -> None:
    assert client.get("/api/files/index/nodules.parquet").status_code == 403


def test_no_real_pixels(private_client, client, small_world) -> None:
    real_case = f"/api/cases/{small_world.case(1)}/slice.png"
    assert client.get(real_case).status_code == 200
    refused = private_client.get(real_case)
    assert refused.status_code == 403 and "real" in refused.json()["error"]
    assert private_client.get(f"/api/cases/{small_world.case(1)}").json()[
        "ct_viewable"] is False
    synthetic = private_client.get(f"/api/cases/{small_world.case(0)}/slice.png")
    assert synthetic.status_code == 200
    labels = private_client.get(real_case, params={"source": "labels"})
    assert labels.status_code == 200
    ct = private_client.get(f"/api/nodules/{small_world.nodule_uid}/slice.png",
                            params={"source": "ct"})
    assert ct.status_code == 403
    assert private_client.get("/api/health").json()["real_pixels"] is False


def test_wildcard_cors_is_refused(small_world) -> None:
    with pytest.raises(ValueError, match="wildcard"):
        create_app(small_world.workspace.root, small_world.data_root.root,
                   allowed_origins=("*",))
