"""The release layout with its quirks, end to end: index → plan --all → insert → render →
slices (``lesiontrials.testing_release`` writes the data root; every answer is known)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from typer.testing import CliRunner

from lesiontrials import anatomy
from lesiontrials.cli.main import app
from lesiontrials.errors import InputError
from lesiontrials.io import read_json, read_volume
from lesiontrials.paths import Workspace
from lesiontrials.testing_release import ReleaseRoot, write_release_root

pytestmark = pytest.mark.slow
runner = CliRunner()
ENV = {"COLUMNS": "200"}
FAITHFUL = "faithful"
ZONED = "zoned"
TWINS = ("digital_twin_isolation", "digital_twin_cross")
#: the fixture has 7 patients: plan --all's demo cross (5 donors, 5 other host patients) is
#: infeasible, so the cross design is planned from a spec with 3 donors × 3 hosts
CROSS_SPEC = {"name": "digital_twin_cross", "design": "digital_twin_cross", "seed": 3, "n_cases": 9,
              "params": {"n_donors": 3, "hosts_per_donor": 3, "donors_per_host": 3}}
RENDERED = ("digital_twin_isolation", FAITHFUL)


@dataclass
class Run:
    release: ReleaseRoot
    workspace: Workspace
    plan_all: Any
    strict: Any
    stats: Any


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    from lesiontrials.insert.trial import insert_trial
    from lesiontrials.render.trial import render_trial
    from lesiontrials.slicing.sets import build_eval_set

    base = tmp_path_factory.mktemp("release")
    release = write_release_root(base / "root")
    ws, root = base / "ws", str(release.root.root)
    built = runner.invoke(app, ["index", "build", "-w", str(ws), "-d", root], env=ENV)
    assert built.exit_code == 0, built.output
    assert "DLCS24.lobe_ml_pct (4)" in built.output  # the build names out-of-range columns
    stats = runner.invoke(app, ["index", "stats", "-w", str(ws)], env=ENV)
    plan_all = runner.invoke(app, ["plan", "--all", "-w", str(ws), "-d", root], env=ENV)
    strict = runner.invoke(app, ["plan", "--all", "--strict", "-w", str(ws), "-d", root],
                           env=ENV)
    for name, spec in ((FAITHFUL, _faithful_spec()), (ZONED, _zoned_spec()),
                       ("digital_twin_cross", CROSS_SPEC)):
        path = base / f"{name}.json"
        path.write_text(json.dumps(spec))
        planned = runner.invoke(app, ["plan", str(path), "-w", str(ws), "-d", root], env=ENV)
        assert planned.exit_code == 0, planned.output
    workspace = Workspace(ws)
    for trial in (*TWINS, FAITHFUL, ZONED):
        insert_trial(trial, workspace=workspace, data_root=release.root.root,
                     show_progress=False)
    for trial in RENDERED:
        render_trial(trial, workspace=workspace, data_root=release.root.root,
                     show_progress=False)
        build_eval_set(trial=trial, workspace=workspace, data_root=release.root,
                       show_progress=False)
    return Run(release, workspace, plan_all, strict, stats)


def _faithful_spec() -> dict[str, Any]:
    return {"name": FAITHFUL, "n_cases": 24, "seed": 1, "allow_same_patient": True,
            "donors": {"include": ["DLCS24", "IMDCT", "LUNA25", "LNDbv4"]},
            "placement": {"mode": "profile_faithful"}}


def _zoned_spec() -> dict[str, Any]:
    return {"name": ZONED, "n_cases": 10, "seed": 2, "donors": {"include": ["LIDC"]},
            "zones": ["upper"], "position": "central"}


def _records(run: Run, trial: str) -> list[dict[str, Any]]:
    return [read_json(p) for p in sorted(run.workspace.cases_dir(trial).glob("*/insert.json"))]


def test_index_flags_the_release_quirks(run: Run):
    info = read_json(run.workspace.index_info)["datasets"]
    dlcs = info["DLCS24"]["quality"]
    assert dlcs["lobe_ml_pct"]["out_of_range"] == 4 and dlcs["lobe_ap_pct"]["out_of_range"] == 2
    assert dlcs["reinsertion_lobe_ml_pct"]["out_of_range"] == 4
    assert {"annotation_id", "mask_path", "label"} <= set(info["IMDCT"]["quality"])
    assert "reader_rows" in info["LNDbv4"]["quality"]
    table = pd.read_parquet(run.workspace.index_table)
    assert set(table.loc[table.dataset == "IMDCT", "mask_scope"]) == {"scan"}
    lndb = table[table.dataset == "LNDbv4"]
    assert len(lndb) == 2 and set(lndb.n_readers) == {2}
    dlcs_rows = table[table.dataset == "DLCS24"]
    assert dlcs_rows.quality_flags.str.contains("reinsertion_lobe_ml_pct:out_of_range").all()
    assert run.stats.exit_code == 0, run.stats.output
    assert "out-of-range columns" in run.stats.output
    assert "DLCS24.reinsertion_lobe_ml_pct (4)" in run.stats.output


def test_plan_all_plans_the_feasible_designs_and_lists_the_rest(run: Run):
    assert run.plan_all.exit_code == 0, run.plan_all.output
    record = read_json(run.workspace.root / "trials" / "plan_all.json")
    assert "digital_twin_isolation" in record["planned"]
    assert record["infeasible"], "the fixture has no demographics: template designs fail"
    for item in record["infeasible"]:
        assert item["reason"] and item["fix"]
        assert item["design"] in run.plan_all.output
        if item["design"] != CROSS_SPEC["name"]:  # planned afterwards from CROSS_SPEC
            assert not (run.workspace.trial_dir(item["design"]) / "manifest.parquet").exists()
    assert "infeasible design(s): not planned" in run.plan_all.output
    assert isinstance(run.strict.exception, InputError)  # main() turns it into exit status 2
    assert "designs are infeasible" in str(run.strict.exception)


def test_every_case_is_inserted_with_its_planned_lobe_and_size(run: Run):
    for trial in (*TWINS, FAITHFUL, ZONED):
        records = _records(run, trial)
        assert records and all(r["status"] == "done" for r in records), [
            r["reason"] for r in records if r["status"] != "done"]
        for record in records:
            for nodule in record["nodules"]:
                assert nodule["realised"]["lobe"] == nodule["planned"]["lobe"]
                assert abs(nodule["diameter_error_mm"]) <= 0.15 * nodule["planned"][
                    "diameter_mm"], (trial, nodule["donor_uid"])


def test_imdct_donors_are_one_nodule_of_the_scan_mask(run: Run):
    table = pd.read_parquet(run.workspace.index_table).set_index("nodule_uid")
    seen = 0
    for trial in (*TWINS, FAITHFUL):
        for record in _records(run, trial):
            for nodule in record["nodules"]:
                if nodule["donor_dataset"] != "IMDCT":
                    continue
                seen += 1
                expected = float(table.loc[nodule["donor_uid"], "nodule_mean_diam_mm"])
                realised = nodule["realised"]["equivalent_diameter_mm"]
                assert realised == pytest.approx(expected, rel=0.15)  # not the scan's union
                assert nodule["planned"]["donor_mask_scope"] == "scan"
    assert seen >= 5


def test_dlcs24_faithful_insertions_are_not_collapsed_onto_the_lobe_edge(run: Run):
    pleural: dict[str, list[float]] = {"DLCS24": [], "other": []}
    for record in _records(run, FAITHFUL):
        nodule = record["nodules"][0]
        key = "DLCS24" if nodule["donor_dataset"] == "DLCS24" else "other"
        pleural[key].append(nodule["realised"]["pleural_distance_mm"])
        assert bool(nodule["planned"]["pct_fallback"]) == (key == "DLCS24")
        if key == "DLCS24":  # measured on the donor's own scan (it has a label map)
            assert nodule["planned"]["pct_fallback_rule"] == "donor_scan"
    assert len(pleural["DLCS24"]) >= 3
    # clamped to 0 or 100 % the centroid sits on the lobe's edge (pleura within a radius)
    assert np.median(pleural["DLCS24"]) >= 0.4 * np.median(pleural["other"])
    assert np.median(pleural["DLCS24"]) > 6.0
    plan = read_json(run.workspace.trial_dir(FAITHFUL) / "plan.json")
    assert plan["audit"]["percent_fallbacks"]["DLCS24"] == len(pleural["DLCS24"])
    assert any("percent_fallback" in w for c in plan["cohorts"] for w in c["warnings"])


def test_zones_and_position_are_realised_for_location_less_donors(run: Run):
    records = _records(run, ZONED)
    assert len(records) == 10
    for record in records:
        nodule = record["nodules"][0]
        assert nodule["donor_dataset"] == "LIDC"
        assert nodule["realised"]["zone"] == "upper_zone"
        assert nodule["realised"]["central_peripheral"] == "central"
        assert nodule["planned"]["zones"] == ["upper_zone"]


def _lung_blobs(case_dir: Path, z: int) -> int:
    """Nodule-dense blobs (> -400 HU) inside the lungs on axial slice ``z`` of the case CT."""
    ct = read_volume(case_dir / "ct.nii.gz").array[:, :, z]
    labels = read_volume(case_dir / "labels.nii.gz").array[:, :, z]
    lungs = np.isin(labels, (*anatomy.LOBE_LABELS, anatomy.NODULE))
    return int(ndimage.label((ct > -400) & lungs)[1])


def test_eval_truth_lists_every_nodule_on_the_slice(run: Run):
    ambiguous = 0
    for trial in RENDERED:
        items = pd.read_parquet(run.workspace.eval_dir(trial, "lung") / "cases.parquet")
        plain = items[items.condition == "plain"]
        for row in plain.itertuples():
            case_dir = run.workspace.cases_dir(trial) / row.case_uid
            blobs = _lung_blobs(case_dir, int(row.z_index))
            on_slice = json.loads(row.nodules_on_slice)
            if row.kind == "negative":
                assert on_slice == [] and blobs == 0, (trial, row.case_uid, row.z_index)
                continue
            assert len(on_slice) == blobs, (trial, row.case_uid, row.z_index, on_slice)
            assert {e["kind"] for e in on_slice} <= {"inserted", "native"}
            lobes = {e["lobe"] for e in on_slice}
            sizes = {e["size"] for e in on_slice}
            assert row.truth_lobe == (lobes.pop() if len(lobes) == 1 else "")
            assert row.truth_size == (sizes.pop() if len(sizes) == 1 else "")
            ambiguous += len(on_slice) > 1
    assert ambiguous > 0, "the fixture puts natives on some positive slices"


def test_isolation_twins_state_the_scans_other_natives(run: Run):
    table = pd.read_parquet(run.workspace.index_table)
    for record in _records(run, "digital_twin_isolation"):
        host = record["host"]
        scan = table[(table.dataset == host["dataset"]) & (table.ct_id == host["ct_id"])]
        own = {n["donor_uid"] for n in record["nodules"]}
        listed = {n["uid"] for n in record["host_natives"]}
        assert listed == set(scan.nodule_uid) - own and len(own) == 1


def test_the_cross_design_never_pairs_a_patient_with_itself(run: Run):
    """LUNA25 U001 and U002 are two studies of one patient (UP1): no cross pair may join them."""
    from lesiontrials.io.tables import read_parquet

    manifest = read_parquet(run.workspace.trial_dir("digital_twin_cross") / "manifest.parquet")
    assert len(manifest) == 9
    donor = manifest["donor_dataset"] + "|" + manifest["donor_patient_id"]
    host = manifest["host_dataset"] + "|" + manifest["host_patient_id"]
    assert not (donor == host).any()
    assert "LUNA25|UP1" in set(donor) | set(host)  # the two-study patient takes part
