"""The rules-based reader baseline on a constructed chest: one nodule, known lobe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lesiontrials.anatomy import LOBE_LABEL_IDS, Lobe
from lesiontrials.errors import StageFailedError
from lesiontrials.io import read_json, write_json
from lesiontrials.io.volumes import Volume, write_volume
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.scoring.questions.adapters import Asked
from lesiontrials.scoring.questions.ask import ask_reader
from lesiontrials.scoring.questions.reader import RulesReader, lobe_at, lobe_map
from lesiontrials.scoring.questions.workspace import write_question_bank
from lesiontrials.scoring.structured.parse import parse_report
from lesiontrials.scoring.structured.report import narrative

SPACING = (1.5, 1.5, 2.0)
NODULE_MM = np.array([-45.0, 0.0, 0.0])  # centre of the nodule in world mm
DIAMETER_MM = 10.0


def _chest(*, nodule: bool, segmentation: bool = False) -> tuple[Volume, Volume]:
    """(CT, lobe labels): soft tissue body, two lungs (−850 HU), optional solid sphere.
    ``segmentation``: the host's whole label map instead (lobes and other labels: a native
    nodule label 23 around the nodule and a vessel label 24 through the right lung)."""
    shape = (96, 64, 40)
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = [-(shape[0] - 1) * SPACING[0] / 2, -(shape[1] - 1) * SPACING[1] / 2,
                     -(shape[2] - 1) * SPACING[2] / 2]
    volume = Volume(np.zeros(shape, np.float32), affine)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    world = volume.voxel_to_world(ijk)
    labels = np.zeros(shape, np.int16)
    ct = np.full(shape, 40.0, np.float32)
    for sign, lobe in ((-1.0, Lobe.RLL), (1.0, Lobe.LUL)):
        centre = np.array([sign * 40.0, 0.0, 0.0])
        inside = (((world - centre) / np.array([30.0, 35.0, 32.0])) ** 2).sum(-1) <= 1.0
        ct[inside] = -850.0
        labels[inside] = LOBE_LABEL_IDS[lobe]
    labels[0, 0, 0] = 23  # a non-lobe label ("lung tumor") is erased by lobe_map
    if nodule:
        ct[np.linalg.norm(world - NODULE_MM, axis=-1) <= DIAMETER_MM / 2] = 30.0
    if segmentation:  # more non-lobe than lobe voxels around the nodule's centre
        labels[np.linalg.norm(world - NODULE_MM, axis=-1) <= 1.5 * DIAMETER_MM] = 23
        labels[(np.abs(world[..., 1]) < 4.0) & (labels == LOBE_LABEL_IDS[Lobe.RLL])] = 24
        return Volume(ct, affine), Volume(labels, affine)
    return Volume(ct, affine), Volume(lobe_map(labels), affine)


def _asked(template: str) -> Asked:
    return Asked(uid=f"c/{template}/p0", case_uid="c", template_id=template,
                 answer_type="choice", question="", options=(), unit="", prompt="")


def test_lobe_map_keeps_lobes_only() -> None:
    labels = np.array([[[0, 23, 28, 30, 5]]])
    assert lobe_map(labels).tolist() == [[[0, 0, 28, 30, 0]]]


def test_reader_reports_the_constructed_nodule() -> None:
    ct, lobes = _chest(nodule=True)
    reader = RulesReader()
    findings = reader.findings(ct, lobes)
    assert len(findings) == 1
    found = findings[0]
    assert np.linalg.norm(np.array(found.centre_mm) - NODULE_MM) <= 3.0
    assert found.lobe == Lobe.RLL
    assert found.diameter_mm == pytest.approx(DIAMETER_MM, abs=3.0)
    replies = {t: reader.answer(_asked(t), findings)
               for t in ("presence", "count", "side", "lobe", "mean_diameter", "lung_rads")}
    assert replies["presence"] == "yes" and replies["count"] == "1"
    assert replies["side"] == "right" and replies["lobe"] == "right lower lobe"
    assert replies["lung_rads"] is None  # not a reader template: cannot answer
    report = reader.report("c", findings)
    assert report.category is None and report.nodules[0].attenuation is None
    parsed = parse_report(narrative(report), case_uid="c")
    assert parsed.nodules[0].lobe == "right lower lobe"
    assert parsed.nodules[0].size_mm == report.nodules[0].size_mm


def test_reader_on_a_nodule_free_chest() -> None:
    ct, lobes = _chest(nodule=False)
    reader = RulesReader()
    findings = reader.findings(ct, lobes)
    assert findings == []
    assert reader.answer(_asked("presence"), findings) == "no"
    assert reader.answer(_asked("count"), findings) == "0"
    assert reader.answer(_asked("lobe"), findings) == "cannot be determined"
    assert reader.report("c", findings).nodules == ()


def test_lobe_at_searches_nearby_and_refuses_outside() -> None:
    _, lobes = _chest(nodule=False)
    assert lobe_at(lobes, np.array([-40.0, 0.0, 0.0]), search_mm=5.0) == Lobe.RLL
    assert lobe_at(lobes, np.array([0.0, 0.0, 0.0]), search_mm=2.0) is None
    assert lobe_at(lobes, np.array([500.0, 0.0, 0.0]), search_mm=5.0) is None


def test_lobes_read_from_the_whole_segmentation_as_from_the_lobe_map() -> None:
    """The reader reads the host segmentation itself: labels other than the lobes count as
    background, so a centre on a native-nodule label and a neighbourhood mostly of other
    labels give the lobe, exactly as the reduced lobe map does."""
    ct, seg = _chest(nodule=True, segmentation=True)
    lobes = Volume(lobe_map(seg.array), seg.affine)
    assert int(seg.array[tuple(np.rint(seg.world_to_voxel(NODULE_MM)).astype(int))]) == 23
    for point in (NODULE_MM, np.array([-40.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0])):
        assert lobe_at(seg, point, search_mm=12.0) == lobe_at(lobes, point, search_mm=12.0)
    assert lobe_at(seg, NODULE_MM, search_mm=12.0) == Lobe.RLL
    reader = RulesReader()
    assert reader.findings(ct, seg) == reader.findings(ct, lobes)
    assert [f.lobe for f in reader.findings(ct, seg)] == [Lobe.RLL]


@dataclass(frozen=True)
class Unsized:
    """A 3-D detector (e.g. a user's callable) that gives centres but no diameters."""

    name: str = "my_cad"
    version: str = "7"

    def detect(self, volume: Volume) -> pd.DataFrame:
        return pd.DataFrame({"x_mm": [*NODULE_MM[:1], 40.0], "y_mm": [0.0, 0.0],
                             "z_mm": [0.0, 0.0], "probability": [0.9, 0.2]})


def test_any_volume_detector_answers_through_the_rules() -> None:
    ct, lobes = _chest(nodule=True)
    reader = RulesReader(detector=Unsized())
    assert reader.name == "reader_my_cad" and "my_cad-7" in reader.version
    findings = reader.findings(ct, lobes)
    assert [f.lobe for f in findings] == [Lobe.RLL]  # p = 0.2 below the threshold
    assert reader.answer(_asked("lobe"), findings) == "right lower lobe"
    assert reader.answer(_asked("mean_diameter"), findings) is None  # no size: cannot answer
    assert reader.report("c", findings).nodules[0].size_mm is None


def test_ask_reader_on_a_workspace_skips_unrendered_cases(tmp_path: Path) -> None:
    """End to end: insert.json names the host segmentation under the data root; the reader
    reads the CT and that map (never labels.nii.gz); a case without a CT is no_view."""
    ws, root = Workspace(tmp_path / "ws"), DataRoot(tmp_path / "root")
    ct, lobes = _chest(nodule=True)
    write_volume(root.root / "masks/H/refined_seg/H_0_seg.nii.gz", lobes, kind="labels")
    nodule = {"nodule_index": 0, "realised": {
        "lobe": "right_lung_lower_lobe", "side": "right", "zone": "middle_zone",
        "equivalent_diameter_mm": DIAMETER_MM, "max_axis_diameter_mm": DIAMETER_MM,
        "volume_mm3": 520.0, "pleural_distance_mm": 9.0, "centroid_mm": list(NODULE_MM)}}
    for k, rendered in ((0, True), (1, False)):
        case_dir = ws.case_dir("t", f"t-{k:05d}")
        write_json({"case_uid": f"t-{k:05d}", "status": "done", "nodules": [nodule],
                    "host": {"seg_path": "masks/H/refined_seg/H_0_seg.nii.gz"}},
                   case_dir / "insert.json")
        if rendered:
            write_volume(case_dir / "ct.nii.gz", ct, kind="ct")
            write_json({"status": "done"}, case_dir / "render.json")
    write_question_bank(ws, "t", seed=0, dev_fraction=0.0)
    rows = pd.read_parquet(ask_reader(RulesReader(), workspace=ws, data_root=root, trial="t"))
    first = rows[rows["case_uid"] == "t-00000"].set_index("template_id")
    assert first.loc["lobe", "status"] == "answered" and bool(first.loc["lobe", "correct"])
    assert bool(first.loc["count", "correct"]) and bool(first.loc["presence", "correct"])
    assert first.loc["lung_rads", "status"] == "cannot_answer"
    assert set(rows[rows["case_uid"] == "t-00001"]["status"]) == {"no_view"}
    record = read_json(ws.question_results_dir("rules_reader") / "t.reports.json")
    assert record["n_cases"] == 1
    lobe = next(f for f in record["fields"] if f["field"] == "lobe")
    assert lobe["precision"] == 1.0 and lobe["recall"] == 1.0
    assert "right lower lobe" in record["reports"][0]["text"]


def _reader_workspace(tmp_path: Path, n_cases: int) -> tuple[Workspace, DataRoot]:
    """``n_cases`` rendered cases of trial ``t`` on one host whose segmentation holds
    non-lobe labels too; the nodule of case k sits k mm further right."""
    ws, root = Workspace(tmp_path / "ws"), DataRoot(tmp_path / "root")
    _, seg = _chest(nodule=False, segmentation=True)
    write_volume(root.root / "masks/H/refined_seg/H_0_seg.nii.gz", seg, kind="labels")
    for k in range(n_cases):
        centre = NODULE_MM + np.array([float(k), 0.0, 0.0])
        ct, _ = _chest(nodule=False)
        ijk = np.stack(np.meshgrid(*[np.arange(n) for n in ct.shape], indexing="ij"), -1)
        inside = np.linalg.norm(ct.voxel_to_world(ijk) - centre, axis=-1) <= DIAMETER_MM / 2
        ct.array[inside] = 30.0
        nodule = {"nodule_index": 0, "realised": {
            "lobe": "right_lung_lower_lobe", "side": "right", "zone": "middle_zone",
            "equivalent_diameter_mm": DIAMETER_MM, "max_axis_diameter_mm": DIAMETER_MM,
            "volume_mm3": 520.0, "pleural_distance_mm": 9.0, "centroid_mm": list(centre)}}
        case_dir = ws.case_dir("t", f"t-{k:05d}")
        write_json({"case_uid": f"t-{k:05d}", "status": "done", "nodules": [nodule],
                    "host": {"seg_path": "masks/H/refined_seg/H_0_seg.nii.gz"}},
                   case_dir / "insert.json")
        write_volume(case_dir / "ct.nii.gz", ct, kind="ct")
        write_json({"status": "done"}, case_dir / "render.json")
    write_question_bank(ws, "t", seed=0, dev_fraction=0.0)
    return ws, root


def test_ask_reader_on_a_pool_writes_the_same_bytes(tmp_path: Path) -> None:
    """Cases read on two worker processes give the same result and report files as read
    one after another in this process."""
    ws, root = _reader_workspace(tmp_path, 3)
    written = {}
    for workers in (1, 2):
        path = ask_reader(RulesReader(), workspace=ws, data_root=root, trial="t",
                          workers=workers)
        reports = ws.question_results_dir("rules_reader") / "t.reports.json"
        written[workers] = (path.read_bytes(), reports.read_bytes())
    assert written[1] == written[2]
    rows = pd.read_parquet(ws.question_results_dir("rules_reader") / "t.parquet")
    lobes = rows[rows["template_id"] == "lobe"]
    assert len(lobes) == 3 and lobes["correct"].all()


def test_ask_reader_names_the_case_it_cannot_read(tmp_path: Path) -> None:
    """A corrupt CT fails the reader with the case named, after the others were read —
    never a result file with that case silently missing."""
    ws, root = _reader_workspace(tmp_path, 3)
    (ws.case_dir("t", "t-00001") / "ct.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(StageFailedError, match="t-00001") as caught:
        ask_reader(RulesReader(), workspace=ws, data_root=root, trial="t", workers=2)
    assert "1 of 3 cases" in str(caught.value) and "t-00000" not in str(caught.value)
    assert not (ws.question_results_dir("rules_reader") / "t.parquet").exists()
