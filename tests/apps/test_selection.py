"""The shared selection (every LIDC characteristic as a range), the filter list, the map
(PCA/UMAP, colours, ``selected``) and the response cache, on the small workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lesiontrials.anatomy import LIDC_CHARACTERISTICS
from lesiontrials.apps.selection import RANGE_FILTERS
from lesiontrials.paths import Workspace


@pytest.fixture(scope="module")
def table(small_world):
    from lesiontrials.index import NoduleIndex

    return NoduleIndex.load(small_world.workspace.index_table).table


def _expected(table, column: str, low: float | None, high: float | None) -> set[str]:
    values = table[column].to_numpy(dtype=float, na_value=np.nan)
    keep = np.isfinite(values)
    if low is not None:
        keep &= values >= low
    if high is not None:
        keep &= values <= high
    return set(table.loc[keep, "nodule_uid"].astype(str))


@pytest.mark.parametrize("name", LIDC_CHARACTERISTICS)
def test_every_characteristic_filters_search_export_and_map(client, table, name) -> None:
    scores = table[name].to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(scores).any():  # the fixture's profiles leave it empty: give a range
        low, high = 0.0, 6.0
    else:
        low = high = float(np.nanmedian(scores))
    params = {f"{name}_min": low, f"{name}_max": high}
    wanted = _expected(table, name, low, high)
    body = client.get("/api/nodules", params={**params, "limit": 500}).json()
    assert body["total"] == len(wanted)
    assert {r["nodule_uid"] for r in body["items"]} == wanted
    assert all(low <= r[name] <= high for r in body["items"])
    export = client.get("/api/nodules/export", params=params)
    assert len(export.text.strip().splitlines()) == len(wanted) + 1
    selected = client.get("/api/nodules/map", params=params).json()
    assert selected["n_selected"] == len(wanted)
    assert {u for u, s in zip(selected["uids"], selected["selected"], strict=True) if s} == wanted


def test_malignancy_range_keeps_scores_and_drops_missing(client, table) -> None:
    body = client.get("/api/nodules", params={"malignancy_min": 2, "malignancy_max": 4,
                                              "limit": 500}).json()
    assert body["total"] == len(_expected(table, "malignancy", 2, 4)) > 0
    unset = client.get("/api/nodules", params={"limit": 1}).json()
    assert unset["total"] == 60  # an unset range keeps rows without a score


@pytest.mark.parametrize(("params", "message"), [
    ({"spiculation_min": 4, "spiculation_max": 2}, "must not exceed"),
    ({"margin_min": 7}, "between 0 and 6"),
    ({"calcification_max": "high"}, "must be a number"),
    ({"multiplicity_min": 1.5}, "must be an integer"),
    ({"hosts_only": "perhaps"}, "true or false"),
    ({"lobe": "spleen"}, "spleen"),
])
def test_bad_filters_are_json_errors(client, params, message) -> None:
    for path in ("/api/nodules", "/api/nodules/map", "/api/nodules/export"):
        response = client.get(path, params=params)
        assert 400 <= response.status_code < 500, path
        assert message in response.json()["error"]


def test_empty_values_count_as_unset(client) -> None:
    body = client.get("/api/nodules", params={"diameter_min": "", "texture_max": "",
                                              "limit": 1}).json()
    assert body["total"] == 60


def test_filter_list_describes_every_parameter(client, table) -> None:
    filters = {f["name"]: f for f in client.get("/api/nodules/filters").json()["filters"]}
    assert set(LIDC_CHARACTERISTICS) <= set(filters)
    assert {f.name for f in RANGE_FILTERS} <= set(filters)
    malignancy = filters["malignancy"]
    assert malignancy["kind"] == "range" and malignancy["characteristic"] is True
    assert (malignancy["min_param"], malignancy["max_param"]) == ("malignancy_min",
                                                                  "malignancy_max")
    scores = table["malignancy"].dropna()
    assert malignancy["bounds"] == [scores.min(), scores.max()]
    assert malignancy["missing"] == 30 and malignancy["limits"] == [0, 6]
    dataset = filters["dataset"]
    assert dataset["kind"] == "choice" and dataset["multiple"] is True
    assert dataset["choices"] == ["DLCS24", "LUNA25"]
    assert dataset["counts"] == {"DLCS24": 20, "LUNA25": 40}
    assert set(filters["label"]["choices"]) <= {"0", "1", "none"}
    assert filters["side"]["multiple"] is False and filters["hosts_only"]["kind"] == "flag"
    documented = {p["name"] for p in client.get("/openapi.json").json()["paths"][
        "/api/nodules"]["get"]["parameters"]}
    params = {p for f in filters.values()
              for p in (f.get("param"), f.get("min_param"), f.get("max_param")) if p}
    assert params <= documented


def test_map_colours_and_selection(client, table) -> None:
    colours = client.get("/api/nodules/map/colours").json()
    names = [c["name"] for c in colours["colours"]]
    assert {"dataset", "size", "lobe", "label", *LIDC_CHARACTERISTICS} <= set(names)
    assert {m["name"] for m in colours["methods"]} == {"pca", "umap"}
    size = client.get("/api/nodules/map", params={"colour": "size"}).json()
    diameters = table["nodule_mean_diam_mm"].to_numpy(dtype=float)
    np.testing.assert_allclose(size["values"], diameters)
    assert size["colour_kind"] == "numeric" and size["range"] == [diameters.min(),
                                                                  diameters.max()]
    assert size["explained_variance"][0] >= size["explained_variance"][1] > 0
    lobe = client.get("/api/nodules/map", params={"colour": "lobe", "dataset": "DLCS24"}).json()
    assert lobe["colour_kind"] == "category" and lobe["colour_column"] == "lobe_name"
    assert set(lobe["categories"]) == set(table["lobe_name"].astype(str)) - {""}
    assert lobe["n_selected"] == sum(lobe["selected"]) == 20
    assert lobe["filters"] == {"dataset": ["DLCS24"]}
    every = client.get("/api/nodules/map").json()
    assert all(every["selected"]) and every["n_selected"] == 60
    assert client.get("/api/nodules/map", params={"colour": "ct_path"}).status_code == 400
    assert client.get("/api/nodules/map", params={"method": "tsne"}).status_code == 422


def test_search_responses_are_cached_per_query(client) -> None:
    params = [("lobe", "RUL"), ("dataset", "LUNA25"), ("limit", 5)]
    first = client.get("/api/nodules", params=params)
    again = client.get("/api/nodules", params=list(reversed(params)))
    assert "x-cache" not in first.headers and again.headers["x-cache"] == "hit"
    assert again.content == first.content
    assert again.headers["x-content-type-options"] == "nosniff"  # headers still added
    other = client.get("/api/nodules", params=[*params, ("offset", 5)])
    assert "x-cache" not in other.headers and other.json()["offset"] == 5
    bad = client.get("/api/nodules", params={"limit": 0})
    assert bad.status_code == 422 and "x-cache" not in client.get(
        "/api/nodules", params={"limit": 0}).headers  # errors are never cached


def test_cached_search_keeps_last_value_of_a_single_valued_parameter(client) -> None:
    """Repeated single-valued parameters: the last value wins, so the same values in
    another order are another query (not a cache hit of the first)."""
    left_last = client.get("/api/nodules", params=[("side", "right"), ("side", "left")])
    right_last = client.get("/api/nodules", params=[("side", "left"), ("side", "right")])
    assert left_last.status_code == right_last.status_code == 200
    assert "x-cache" not in right_last.headers
    assert right_last.json() == client.get("/api/nodules", params={"side": "right"}).json()
    assert left_last.json() == client.get("/api/nodules", params={"side": "left"}).json()
    assert left_last.json()["total"] != right_last.json()["total"] or (
        left_last.json()["facets"]["side"] != right_last.json()["facets"]["side"])


def _copy_workspace(small_world, tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path / "ws")
    workspace.index_dir.mkdir(parents=True)
    shutil.copy(small_world.workspace.index_table, workspace.index_table)
    return workspace


def _app_client(workspace: Workspace, small_world):
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    return TestClient(create_app(workspace.root, small_world.data_root.root),
                      raise_server_exceptions=False,
                      base_url="http://localhost")


@pytest.mark.slow  # numba compiles umap-learn on first use (≈ 20 s)
def test_umap_is_reproducible_and_cached(small_world, tmp_path: Path) -> None:
    pytest.importorskip("umap", reason="umap-learn not installed (the web extra has it)")
    from lesiontrials.apps.nodule_map import (
        FEATURE_COLUMNS,
        compute_layouts,
        standardised_features,
        umap_2d,
        umap_cache_path,
    )
    from lesiontrials.index import NoduleIndex

    index = NoduleIndex.load(small_world.workspace.index_table)
    features = standardised_features(np.column_stack(
        [index.array(c).astype(float) for c in FEATURE_COLUMNS]))
    direct = umap_2d(features)
    workspace = _copy_workspace(small_world, tmp_path)
    # computed once at index time (`index build` / `index map`), read by the service
    assert compute_layouts(index, workspace=workspace) == {"pca": "stored", "umap": "stored"}
    assert umap_cache_path(workspace).is_file()
    body = _app_client(workspace, small_world).get(
        "/api/nodules/map", params={"method": "umap", "edges": True}).json()
    assert body["method"] == "umap" and body["params"]["random_state"] == 0
    assert len(body["x"]) == 60 and len(body["edges"]) == 60 * 8
    assert umap_cache_path(workspace).is_file()
    # two independent fits (here and in the service) give the same coordinates
    np.testing.assert_allclose(np.c_[body["x"], body["y"]], direct, atol=1e-4)
    again = _app_client(workspace, small_world).get("/api/nodules/map",
                                                    params={"method": "umap"}).json()
    assert again["x"] == body["x"] and again["y"] == body["y"]


def test_umap_without_umap_learn_names_the_extra(small_world, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from lesiontrials.apps.nodule_map import compute_layouts
    from lesiontrials.index import NoduleIndex

    monkeypatch.setitem(sys.modules, "umap", None)  # import umap → ImportError
    workspace = _copy_workspace(small_world, tmp_path)
    done = compute_layouts(NoduleIndex.load(workspace.index_table), workspace=workspace)
    assert done["pca"] == "stored" and "lesiontrials[web]" in done["umap"]  # index time
    client = _app_client(workspace, small_world)
    response = client.get("/api/nodules/map", params={"method": "umap"})
    assert response.status_code == 409
    assert "lesiontrials index map" in response.json()["error"]
    methods = {m["name"]: m for m in client.get("/api/nodules/map/colours").json()["methods"]}
    assert not methods["umap"]["available"] and "lesiontrials[web]" in methods["umap"]["hint"]
    assert client.get("/api/nodules/map").status_code == 200  # PCA still works


def test_startup_warms_the_caches(small_world, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    app = create_app(small_world.workspace.root, small_world.data_root.root)
    # the context runs the lifespan: warm-up before the first request
    with TestClient(app, base_url="http://localhost") as client:
        state = app.state.lesiontrials
        assert state.facet_codes is not None and "_row_bytes" in state.__dict__
        assert client.get("/api/nodules", params={"limit": 1}).json()["total"] == 60
    empty = create_app(tmp_path / "ws", small_world.data_root.root)
    with TestClient(empty, raise_server_exceptions=False,
                      base_url="http://localhost") as client:  # no index: no warm-up
        assert client.get("/api/health").status_code == 200
        missing = client.get("/api/nodules")
        assert missing.status_code == 404 and "index build" in missing.json()["error"]


def test_umap_is_never_computed_on_a_request(small_world, tmp_path: Path) -> None:
    """Without a stored UMAP the service answers 409 naming the command that computes it
    (at index time) instead of fitting one during the request (68 s on the demo index)."""
    from lesiontrials.apps.nodule_map import umap_cache_path

    workspace = _copy_workspace(small_world, tmp_path)
    umap_cache_path(workspace).unlink(missing_ok=True)
    response = _app_client(workspace, small_world).get("/api/nodules/map",
                                                       params={"method": "umap"})
    assert response.status_code == 409
    assert "lesiontrials index map" in response.json()["error"]
    assert not umap_cache_path(workspace).exists()
