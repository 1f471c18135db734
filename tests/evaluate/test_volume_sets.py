"""Volume sets, the volume runner and the 3-D track report, on the handmade trial."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evalsynth import AFFINE, TRIAL, write_trial

from lesiontrials.analysis.detection_report import volume_track
from lesiontrials.errors import InputError
from lesiontrials.io import Volume, read_json, write_parquet
from lesiontrials.scoring import detection as det
from lesiontrials.scoring.models.volume_baselines import BrockLikeMalignancy, LogBlobDetector
from lesiontrials.scoring.splits import uid_hash
from lesiontrials.scoring.volume_runner import (
    read_candidates,
    read_malignancy,
    run_detector,
    run_malignancy,
)
from lesiontrials.slicing.volumes import build_volume_set, load_volume_set


@pytest.fixture
def trial(tmp_path: Path):
    return write_trial(tmp_path / "ws")


def test_volume_set_truth_in_world_mm_and_frozen_uids(trial) -> None:
    ws = trial.workspace
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    assert vs.scans["scan_uid"].tolist() == ["t1-00000", "t1-00001", "t1-00002"]
    assert vs.scans["nodule_free"].tolist() == [False, False, True]
    assert len(vs.truth) == 3 and set(vs.truth["appearance"]) == {"solid"}
    first = vs.truth.iloc[0]
    centre_voxel = trial.masks["t1-00000"][0].centroid_voxel()
    expected = AFFINE[:3, :3] @ np.asarray(centre_voxel) + AFFINE[:3, 3]
    np.testing.assert_allclose(first[["x_mm", "y_mm", "z_mm"]].to_numpy(float), expected)
    info = read_json(ws.volume_set_dir(TRIAL) / "volumes.json")
    assert info["sha256"] == uid_hash(vs.scans["scan_uid"]) == vs.sha256
    assert load_volume_set(ws, TRIAL).truth.equals(vs.truth)
    # what a model could be pointed at holds no truth
    assert not {"x_mm", "diameter_mm", "label", "lobe"} & set(vs.scans.columns)
    tampered = vs.scans.iloc[:2]
    write_parquet(tampered, ws.volume_set_dir(TRIAL) / "scans.parquet")
    with pytest.raises(InputError, match="frozen uid list"):
        load_volume_set(ws, TRIAL)


def test_slab_cases_are_left_out_of_volume_sets_with_the_reason(trial) -> None:
    """A slab keeps its nodules away from its ends and is shorter than a scan: a detector
    would know where not to look and its FPs would be per slab, so such a case never
    enters a volume set, and the set says why."""
    from lesiontrials.io import read_record, write_record
    from lesiontrials.records.render import RenderRecord

    ws = trial.workspace
    path = ws.case_dir(TRIAL, "t1-00001") / "render.json"
    write_record(read_record(path, RenderRecord).model_copy(update={"ct_is_slab": True}), path)
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    assert vs.scans["scan_uid"].tolist() == ["t1-00000", "t1-00002"]
    assert set(vs.truth["scan_uid"]) == {"t1-00000"}
    info = read_json(ws.volume_set_dir(TRIAL) / "volumes.json")
    assert "axial slab" in str(info).replace("\\n", " ")


def test_host_lesions_kept_in_the_image_are_findings_not_truth(trial) -> None:
    """A real host's own nodule stays in a synthetic case's image: the set lists it as a
    finding in world mm (never as truth), and the scan is not "absent" for presence."""
    from lesiontrials.io import read_record, write_record
    from lesiontrials.records.insert import HostNative, InsertRecord
    from lesiontrials.scoring.volume_questions import volume_question_truth

    ws = trial.workspace
    path = ws.case_dir(TRIAL, "t1-00002") / "insert.json"  # the nodule-free case
    record = read_record(path, InsertRecord)
    host = record.host.model_copy(update={"affine": AFFINE.tolist(),
                                          "spacing_mm": (1.0, 1.0, 1.0)})
    native = HostNative(uid="host_n1", voxels=113, centroid_voxel=(10.0, 12.0, 8.0))
    write_record(record.model_copy(update={"host": host, "host_natives": [native]}), path)
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    assert set(vs.truth["scan_uid"]) == {"t1-00000", "t1-00001"}
    assert vs.findings["finding_id"].tolist() == ["host_n1"]
    expected = AFFINE[:3, :3] @ np.array([10.0, 12.0, 8.0]) + AFFINE[:3, 3]
    np.testing.assert_allclose(vs.findings[["x_mm", "y_mm", "z_mm"]].to_numpy(float)[0],
                               expected)
    assert vs.findings["diameter_mm"].iloc[0] == pytest.approx((6 * 113 / np.pi) ** (1 / 3))
    loaded = load_volume_set(ws, TRIAL)
    assert loaded.findings["finding_id"].tolist() == ["host_n1"]
    presence = volume_question_truth(loaded).query("task == 'presence'").set_index("scan_uid")
    assert presence.loc["t1-00002", "truth"] == "present"


class _Spy:
    """A detector that records what it is given (the cheat would want the label map)."""

    name, version = "spy", "1"

    def __init__(self) -> None:
        self.seen: list[Volume] = []

    def detect(self, volume: Volume) -> pd.DataFrame:
        self.seen.append(volume)
        return pd.DataFrame(columns=["x_mm", "y_mm", "z_mm", "probability"])


def test_models_see_the_ct_only(trial) -> None:
    ws = trial.workspace
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    spy = _Spy()
    run_detector(spy, vs, workspace=ws)
    assert len(spy.seen) == 3
    for volume in spy.seen:
        assert set(vars(volume)) == {"array", "affine"}
        assert volume.array.dtype == np.int16 and volume.array.min() < -500  # HU, not labels
    assert read_candidates(ws, "spy", TRIAL).empty


def test_baselines_end_to_end_and_report(trial) -> None:
    ws = trial.workspace
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    run_detector(LogBlobDetector(), vs, workspace=ws)
    run_malignancy(BrockLikeMalignancy(), vs, workspace=ws)
    candidates = read_candidates(ws, "log_blob_3d", TRIAL)
    matching = det.match(vs.truth, candidates, scans=vs.scans["scan_uid"].tolist())
    hits = matching.nodules.set_index("diameter_mm")["best_probability"]
    assert hits[hits.index > 20].notna().all()  # the 24 mm nodule is found
    assert len(read_malignancy(ws, "brock_like", TRIAL)) == 3
    track = volume_track(ws, replicates=50)
    assert track is not None
    titles = [t for t, _ in track.sections]
    assert titles == ["3-D track: detection (FROC, CPM)", "3-D track: malignancy (AUROC)"]
    assert track.figures[f"froc_{TRIAL}"].startswith(b"\x89PNG")
    assert track.figures["sensitivity_by_size"].startswith(b"\x89PNG")
    froc = track.tables["volume_froc"]
    assert float(froc.loc[froc["fp_per_scan"] == "CPM", "sensitivity"].iloc[0]) == \
        pytest.approx(det.froc(matching).cpm)


def test_changed_ct_is_refused(trial) -> None:
    ws = trial.workspace
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    ct = vs.ct_file("t1-00001")
    ct.write_bytes(ct.read_bytes() + b"\0")
    with pytest.raises(InputError, match="changed since"):
        run_detector(LogBlobDetector(), vs, workspace=ws)


def test_results_are_reused_and_deterministic(trial) -> None:
    ws = trial.workspace
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    path = run_detector(LogBlobDetector(), vs, workspace=ws)
    first = path.read_bytes()
    spy = _Spy()
    object.__setattr__(spy, "name", "log_blob_3d")
    spy.version = LogBlobDetector().version
    run_detector(spy, vs, workspace=ws)  # same name, version and set: reused, not re-run
    assert spy.seen == []
    run_detector(LogBlobDetector(), vs, workspace=ws, force=True)
    assert path.read_bytes() == first


def test_real_volume_set_from_a_data_root(tmp_path: Path) -> None:
    from test_sets import _real_root

    from lesiontrials.paths import Workspace
    from lesiontrials.slicing.volumes import build_real_volume_set

    root = _real_root(tmp_path)
    ws = Workspace(tmp_path / "ws")
    vs = build_real_volume_set(data_root=root, workspace=ws)
    assert vs.scans["scan_uid"].tolist() == ["LUNA16/scan1"]
    assert vs.scans["source"].tolist() == ["real"]
    assert vs.ct_file("LUNA16/scan1") == (root.root / "raw_ct/LUNA16/scan1.nii.gz").resolve()
    profiles = pd.read_csv(root.root / "profiles" / "LUNA16_nodule_profiles.csv")
    truth = vs.truth.set_index("nodule_id")
    assert truth.loc["LUNA16/scan1/a1", "lobe"] == "right_lung_upper_lobe"
    assert truth.loc["LUNA16/scan1/a2", "size_bin"] == "5-10"
    a1 = profiles.set_index("AnnotationID").loc["a1"]
    np.testing.assert_allclose(truth.loc["LUNA16/scan1/a1", ["x_mm", "y_mm", "z_mm"]]
                               .to_numpy(float), [a1.coordX, a1.coordY, a1.coordZ])
    assert load_volume_set(ws, "real").sha256 == vs.sha256


def test_run_stage_builds_trial_and_real_sets(tmp_path: Path) -> None:
    from test_sets import _real_root

    from lesiontrials.pipeline import volumes
    from lesiontrials.settings import Settings
    from lesiontrials.slicing.volumes import list_volume_sets

    ws = write_trial(tmp_path / "ws").workspace
    settings = Settings(workspace=ws.root, data_root=_real_root(tmp_path).root)
    lines = volumes(settings, trials=(TRIAL, "absent_trial"))
    assert list_volume_sets(ws) == ["real", TRIAL]
    assert len(lines) == 4  # two baselines × two sets
    track = volume_track(ws, replicates=20)
    assert track is not None
    assert set(track.tables["volume_froc"]["source"]) == {"real", "synthetic"}


def test_real_set_in_a_workspace_holding_its_data_root_stores_relative_paths(tmp_path: Path
                                                                             ) -> None:
    """The demo's world lives in its workspace: the real set then stores CT paths relative
    to the workspace, so a copy of the workspace has the same bytes and reads its own CTs."""
    import shutil
    from dataclasses import replace

    from test_sets import _real_root

    from lesiontrials.paths import Workspace
    from lesiontrials.slicing.volumes import build_real_volume_set

    root = _real_root(tmp_path / "ws")  # the data root at ws/root
    ws = Workspace(tmp_path / "ws")
    vs = build_real_volume_set(data_root=root, workspace=ws)
    assert vs.scans["ct_path"].tolist() == ["root/raw_ct/LUNA16/scan1.nii.gz"]
    shutil.copytree(tmp_path / "ws", tmp_path / "copy")
    copy = Workspace(tmp_path / "copy")
    again = build_real_volume_set(data_root=_root_at(tmp_path / "copy" / "root"), workspace=copy)
    scans = Path("volumes") / "real" / "scans.parquet"
    assert (ws.root / scans).read_bytes() == (copy.root / scans).read_bytes()
    loaded = load_volume_set(copy, "real")
    assert loaded.ct_file("LUNA16/scan1") == copy.root / "root/raw_ct/LUNA16/scan1.nii.gz"
    assert loaded.ct_file("LUNA16/scan1").is_file() and again.sha256 == vs.sha256
    escaping = loaded.scans.assign(ct_path="../elsewhere/scan1.nii.gz")
    with pytest.raises(InputError, match="leaves the workspace"):
        replace(loaded, scans=escaping).ct_file("LUNA16/scan1")


def _root_at(path: Path):
    from lesiontrials.paths import DataRoot

    return DataRoot(path)
