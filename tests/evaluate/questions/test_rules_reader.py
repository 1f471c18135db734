"""The rules-based reader baseline on a constructed chest: one nodule, known lobe."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from lesiontrials.anatomy import LOBE_LABEL_IDS, Lobe
from lesiontrials.evaluate.questions.adapters import Asked
from lesiontrials.evaluate.questions.reader import RulesReader, lobe_at, lobe_map
from lesiontrials.evaluate.structured.parse import parse_report
from lesiontrials.evaluate.structured.report import narrative
from lesiontrials.io.volumes import Volume

SPACING = (1.5, 1.5, 2.0)
NODULE_MM = np.array([-45.0, 0.0, 0.0])  # centre of the nodule in world mm
DIAMETER_MM = 10.0


def _chest(*, nodule: bool) -> tuple[Volume, Volume]:
    """(CT, lobe labels): soft tissue body, two lungs (−850 HU), optional solid sphere."""
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
