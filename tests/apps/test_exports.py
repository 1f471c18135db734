"""Exporting a selection: CSV, a native-placement manifest and a ``targeted`` spec that
loads as a ``TrialSpec`` and plans (``lesiontrials plan``) on a small world."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from imaging_world import ImagingWorld, build_imaging_world

from lesiontrials.trials.manifest import RELEASE_CSV_COLUMNS


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ImagingWorld:
    return build_imaging_world(tmp_path_factory.mktemp("exports"))


@pytest.fixture(scope="module")
def client(world: ImagingWorld):
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    return TestClient(create_app(world.workspace.root, world.root.root),
                      raise_server_exceptions=False,
                      base_url="http://localhost")


def _index(world: ImagingWorld) -> pd.DataFrame:
    from lesiontrials.index import NoduleIndex

    return NoduleIndex.load(world.workspace.index_table).table


def test_csv_export_both_paths(client) -> None:
    new = client.get("/api/nodules/export", params={"format": "csv", "dataset": "PH"})
    old = client.get("/api/nodules/export.csv", params={"dataset": "PH"})
    assert new.status_code == old.status_code == 200 and new.text == old.text
    rows = pd.read_csv(io.StringIO(new.text))
    assert len(rows) == 4 and set(rows["dataset"]) == {"PH"}
    assert "spiculation" in rows.columns and "malignancy" in rows.columns
    assert new.headers["content-disposition"] == 'attachment; filename="nodules.csv"'


def test_manifest_export_places_each_nodule_in_its_own_scan(client, world) -> None:
    response = client.get("/api/nodules/export", params={"format": "manifest",
                                                         "name": "twins"})
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/csv")
    assert response.headers["x-export-cases"] == "4"
    assert response.headers["x-export-skipped"] == "3"  # the donor-only DON rows
    manifest = pd.read_csv(io.StringIO(response.text), dtype={"host_ct_id": str})
    assert tuple(manifest.columns) == RELEASE_CSV_COLUMNS
    assert sorted(manifest["donor_uid"]) == sorted(world.ph_uids)
    assert manifest["case_uid"].is_unique and manifest["case_uid"].str.startswith("twins-").all()
    index = _index(world).set_index("nodule_uid")
    for row in manifest.itertuples():
        assert row.host_ct_id == index.loc[row.donor_uid, "ct_id"]  # its own scan
        assert row.target_lobe == index.loc[row.donor_uid, "lobe_name"]
        assert row.planned_diameter_mm == pytest.approx(
            index.loc[row.donor_uid, "nodule_mean_diam_mm"])
    assert set(manifest["scale"]) == {1.0} and set(manifest["nodule_index"]) == {0}
    assert set(manifest["design"]) == {"digital_twin_isolation"}
    none = client.get("/api/nodules/export", params={"format": "manifest", "dataset": "DON"})
    assert none.status_code == 409 and "placed natively" in none.json()["error"]
    assert "none of the 3 selected nodules" in none.json()["error"]


def test_spec_export_round_trips_and_plans(client, world, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app
    from lesiontrials.trials import load_spec

    table = _index(world)
    side = str(table.loc[table["dataset"] == "PH", "lung_side"].iloc[0])
    params = [("format", "spec"), ("dataset", "PH"), ("side", side), ("airway_max", 100),
              ("name", "picked")]
    response = client.get("/api/nodules/export", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/yaml")
    chosen = table[(table["dataset"] == "PH") & (table["lung_side"] == side)
                   & (table["airway_distance_mm"] <= 100)]
    donors = chosen[chosen["mask_available"].astype(bool)]
    assert response.headers["x-export-skipped"] == str(len(chosen) - len(donors))
    path = tmp_path / "picked.yaml"
    path.write_text(response.text)
    spec = load_spec(path)
    assert spec.name == "picked" and spec.design == "custom"
    assert spec.donor_uids == list(donors["nodule_uid"].astype(str))
    assert spec.n_cases == len(donors) >= 1
    result = CliRunner().invoke(app, ["plan", str(path), "-w", str(world.workspace.root),
                                      "-d", str(world.root.root)])
    assert result.exit_code == 0, result.output
    manifest = pd.read_parquet(world.workspace.trial_dir("picked") / "manifest.parquet")
    primary = manifest[manifest["primary"]]
    assert sorted(primary["donor_uid"]) == sorted(spec.donor_uids)  # each selected donor once


def test_spec_n_cases_reuses_the_selected_donors(client, world) -> None:
    import yaml

    from lesiontrials.index import NoduleIndex
    from lesiontrials.trials import PlanContext, hosts_from_index, parse_spec, plan_spec

    text = client.get("/api/nodules/export", params={"format": "spec", "dataset": "PH",
                                                     "n_cases": 7}).text
    spec = parse_spec(yaml.safe_load(text))
    index = NoduleIndex.load(world.workspace.index_table)
    plan = plan_spec(PlanContext(index, hosts_from_index(index)), spec)
    primary = plan.manifest[plan.manifest["primary"]]
    assert len(primary) == 7 and set(primary["donor_uid"]) <= set(spec.donor_uids)


def test_spec_export_of_nothing_is_an_error(client) -> None:
    response = client.get("/api/nodules/export", params={"format": "spec",
                                                         "diameter_min": 999})
    assert response.status_code == 409 and "empty" in response.json()["error"]
    bad = client.get("/api/nodules/export", params={"format": "spec", "name": "../x"})
    assert bad.status_code == 422 and "name" in bad.json()["error"]
    assert client.get("/api/nodules/export", params={"format": "xml"}).status_code == 422


def test_a_selection_without_donors_makes_no_spec() -> None:
    from lesiontrials.apps.exports import NoDonorsError, selection_spec

    table = pd.DataFrame({"nodule_uid": ["A/1", "A/2"], "mask_available": [False, False]})
    with pytest.raises(NoDonorsError, match="none of the 2 selected nodules has a mask"):
        selection_spec(table, {"dataset": ["A"]}, name="x")
    mixed = table.assign(mask_available=[True, False])
    export = selection_spec(mixed, {"dataset": ["A"]}, name="x")
    assert export.spec.donor_uids == ["A/1"] and export.skipped == ["A/2"]
    assert export.spec.n_cases == 1 and "1 selected nodules have no mask" in export.yaml
