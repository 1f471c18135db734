"""The JSON API on a small workspace: search, facets, pagination, map, matching, detail,
trials, cases, reports, and JSON errors."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.apps.nodule_map import build_map, knn_graph, map_cache_path, pca_2d
from lesiontrials.io import decode_png


def test_search_paginates_and_counts_facets(client) -> None:
    first = client.get("/api/nodules", params={"limit": 7}).json()
    assert first["total"] == 60 and len(first["items"]) == 7
    second = client.get("/api/nodules", params={"limit": 7, "offset": 7}).json()
    assert {r["nodule_uid"] for r in first["items"]}.isdisjoint(
        r["nodule_uid"] for r in second["items"])
    assert sum(first["facets"]["dataset"].values()) == 60
    last = client.get("/api/nodules", params={"limit": 7, "offset": 56}).json()
    assert len(last["items"]) == 4


def test_search_filters(client) -> None:
    body = client.get("/api/nodules", params=[("dataset", "DLCS24"), ("lobe", "RUL"),
                                              ("diameter_min", 4), ("limit", 500)]).json()
    assert body["items"], "the fixture has DLCS24 nodules in the RUL"
    for row in body["items"]:
        assert row["dataset"] == "DLCS24" and row["lobe_name"] == "right_lung_upper_lobe"
        assert row["nodule_mean_diam_mm"] >= 4
    assert set(body["facets"]["dataset"]) == {"DLCS24"}


@pytest.mark.parametrize("params", [{"label": "7"}, {"lobe": "spleen"}, {"limit": 0},
                                    {"limit": 501}, {"diameter_min": -1}])
def test_bad_search_inputs_are_json_errors(client, params) -> None:
    response = client.get("/api/nodules", params=params)
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error"} and response.json()["error"]


def test_detail_similar_and_match(client, small_world) -> None:
    uid = small_world.nodule_uid
    detail = client.get(f"/api/nodules/{uid}").json()
    assert detail["nodule_uid"] == uid and len(detail["map"]["neighbours"]) == 8
    similar = client.get(f"/api/nodules/{uid}/similar", params={"k": 5}).json()
    distances = [r["match_distance"] for r in similar["items"]]
    assert len(distances) == 5 and distances == sorted(distances)
    assert uid not in {r["nodule_uid"] for r in similar["items"]}
    match = client.post("/api/match", json={"lobe": "RUL", "diameter_mm": 8, "k": 4}).json()
    assert len(match["items"]) == 4
    assert client.post("/api/match", json={"diameter_mm": -3}).status_code == 422
    assert client.get("/api/nodules/LUNA25/nope").status_code == 404


def test_map_is_cached_and_has_edges(client, small_world) -> None:
    body = client.get("/api/nodules/map", params={"colour": "lobe_name", "edges": True}).json()
    assert len(body["x"]) == len(body["uids"]) == len(body["values"]) == 60
    assert len(body["edges"]) == 60 * 8
    assert map_cache_path(small_world.workspace).is_file()
    assert client.get("/api/nodules/map", params={"colour": "ct_path"}).status_code == 400


def test_pca_and_knn_on_known_points() -> None:
    line = np.c_[np.arange(10.0), np.zeros(10), np.zeros(10)]
    xy, shares = pca_2d(line)
    assert shares[0] == pytest.approx(1.0) and np.allclose(xy[:, 1], 0.0)
    neighbours, distances = knn_graph(line, k=2)
    assert set(neighbours[0]) == {1, 2} and distances[5].tolist() == [1.0, 1.0]


def test_build_map_handles_missing_values(small_world) -> None:
    from lesiontrials.index import NoduleIndex

    table = NoduleIndex.load(small_world.workspace.index_table).table.copy()
    table.loc[:5, "reinsertion_pleural_dist_mm"] = np.nan
    built = build_map(NoduleIndex(table), k=3)
    assert np.isfinite(built.xy).all() and built.neighbours.shape == (60, 3)


def test_trials_cases_and_reports(client, small_world) -> None:
    trials = client.get("/api/trials").json()
    assert trials["items"][0]["trial"] == small_world.trial
    assert trials["items"][0]["audit"]["cases"] > 0
    trial = client.get(f"/api/trials/{small_world.trial}", params={"limit": 3}).json()
    assert len(trial["manifest"]["items"]) <= 3 and trial["plan"]["audit"]
    case = client.get(f"/api/cases/{small_world.case(0)}").json()
    assert case["synthetic"] and case["ct_viewable"] and case["shape"] == [96, 80, 80]
    reports = client.get("/api/reports").json()
    assert reports["items"][0]["tables"] == ["by_design.csv"]
    table = client.get("/api/reports/demo/tables/by_design", params={"limit": 3}).json()
    assert table["total"] == 7 and len(table["items"]) == 3 and table["columns"][0] == "design"
    html = client.get("/api/files/reports/demo/report.html")
    assert html.status_code == 200 and "demo" in html.text


def test_slices_are_pngs_with_overlay(client, small_world) -> None:
    response = client.get(f"/api/cases/{small_world.case(0)}/slice.png",
                          params={"zoom": 1, "center": -600, "width": 1500})
    assert response.status_code == 200 and response.headers["x-slice"] == "60"
    image = decode_png(response.content)
    assert image.shape == (80, 96, 3)
    assert (np.all(image == (255, 0, 0), axis=-1)).any(), "red guidance contour drawn"
    plain = decode_png(client.get(f"/api/cases/{small_world.case(0)}/slice.png",
                                  params={"zoom": 1, "overlay": "plain", "z": 5}).content)
    assert plain.shape == (80, 96, 3) and not np.all(plain == (255, 0, 0), axis=-1).any()
    nodule = client.get(f"/api/nodules/{small_world.nodule_uid}/slice.png")
    assert nodule.status_code == 200 and nodule.headers["content-type"] == "image/png"
    bad = client.get(f"/api/cases/{small_world.case(0)}/slice.png", params={"z": 500})
    assert bad.status_code == 400 and "error" in bad.json()


def test_ui_and_openapi_are_served(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/nodules", "/api/nodules/map", "/api/match", "/api/trials",
            "/api/cases/{trial}/{case}/slice.png", "/api/reports", "/api/nodules/filters",
            "/api/nodules/map/colours", "/api/nodules/export", "/api/nodules/export.csv",
            "/api/nodules/{dataset}/{name}/similar"} <= set(paths)
    similar = {p["name"] for p in paths["/api/nodules/{dataset}/{name}/similar"]["get"][
        "parameters"]}
    assert {"k", "space"} <= similar
    exported = {p["name"] for p in paths["/api/nodules/export"]["get"]["parameters"]}
    assert {"format", "name", "n_cases", "dataset", "spiculation_min", "hosts_only"} <= exported
    assert "access-control-allow-origin" not in page.headers
    assert page.headers["x-content-type-options"] == "nosniff"


def test_characteristic_ranges_and_export(client, small_world) -> None:
    from lesiontrials.index import NoduleIndex

    table = NoduleIndex.load(small_world.workspace.index_table).table
    body = client.get("/api/nodules", params={"malignancy_min": 3, "limit": 500}).json()
    assert body["total"] == int((table["malignancy"] >= 3).sum()) > 0
    assert all(row["malignancy"] >= 3 for row in body["items"])
    export = client.get("/api/nodules/export.csv", params={"dataset": "DLCS24"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    lines = export.text.strip().splitlines()
    assert lines[0].startswith("nodule_uid,dataset") and len(lines) == 21


def test_serve_command_builds_the_app(small_world, monkeypatch) -> None:
    import typer
    import uvicorn
    from typer.testing import CliRunner

    from lesiontrials.cli.app_commands import serve

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    cli = typer.Typer()
    cli.command()(serve)
    cli.command("other")(lambda: None)
    result = CliRunner().invoke(cli, ["serve", "-w", str(small_world.workspace.root), "-d",
                                      str(small_world.data_root.root), "--no-real-pixels",
                                      "--port", "9123"])
    assert result.exit_code == 0, result.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 9123
    assert seen["app"].state.lesiontrials.real_pixels is False  # type: ignore[attr-defined]


def test_report_html_keeps_its_styles_but_no_scripts(client) -> None:
    response = client.get("/api/files/reports/demo/report.html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "'unsafe-inline'" in policy
    assert "'unsafe-inline'" not in client.get("/").headers["content-security-policy"]
