"""The web app reads the typed stage records: an old or damaged record is a 409 that names
the file (relative to the workspace) and the stage to re-run, never a page of undefined."""

from __future__ import annotations

import json
import shutil

from lesiontrials.paths import Workspace


def _client(workspace_root, data_root):
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    app = create_app(workspace_root, data_root, real_pixels=True)
    return TestClient(app, raise_server_exceptions=False, base_url="http://localhost")


def test_case_with_an_old_insert_json_is_refused_with_the_rerun_hint(small_world, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(small_world.workspace.root, root)
    client = _client(root, small_world.data_root.root)
    trial, case = small_world.case(0).split("/")
    good = client.get(f"/api/cases/{trial}/{case}")
    assert good.status_code == 200
    assert good.json()["insert"]["nodules"][0]["realised"]["centroid_voxel"]
    path = Workspace(root).case_files(trial, case).insert_json
    record = json.loads(path.read_text())
    del record["nodules"][0]["realised"]["centroid_mm"]  # an insert.json from before it
    path.write_text(json.dumps(record))
    old = client.get(f"/api/cases/{trial}/{case}")
    assert old.status_code == 409
    message = old.json()["error"]
    assert f"cases/{trial}/{case}/insert.json" in message and str(root) not in message
    assert "centroid_mm" in message and "lesiontrials insert" in message


def test_trials_listing_reads_the_typed_plan(client, small_world):
    listing = client.get("/api/trials").json()
    assert listing["items"][0]["audit"]["cases"] > 0
    detail = client.get(f"/api/trials/{small_world.trial}").json()
    assert detail["plan"]["schema_version"] == 1 and "params" in detail["plan"]
