"""MONAI lung-nodule RetinaNet adapter: built from MONAI's detection classes, a tiny random
network of the same classes loaded from a bundle layout, boxes → world mm on anisotropic
volumes, a missing checkpoint names the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesiontrials.errors import InputError
from lesiontrials.io.volumes import Volume
from lesiontrials.scoring.models.volume_adapters import build_volume_model

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from lesiontrials.scoring.models.monai_detection import (  # noqa: E402
    MonaiLungNoduleDetector,
    RetinaNetConfig,
    boxes_to_world,
    build_detector,
    resample,
)

TINY = RetinaNetConfig(block="basic", layers=(1, 1, 1, 1), block_inplanes=(4, 8, 16, 32),
                       roi_size=(32, 32, 16), spacing_mm=(2.0, 2.0, 2.5),
                       score_threshold=0.0)


def test_resample_and_boxes_keep_world_mm() -> None:
    affine = np.array([[0.8, 0, 0, -50.0], [0, 0.8, 0, 10.0], [0, 0, 2.5, -90.0],
                       [0, 0, 0, 1]])
    volume = Volume(np.zeros((41, 31, 9), dtype=np.int16), affine)
    grid = resample(volume, (1.6, 1.6, 1.25))
    assert grid.shape == (21, 16, 17)
    np.testing.assert_allclose(grid.voxel_to_world(np.array([20, 15, 16])),
                               volume.voxel_to_world(np.array([40, 30, 8])))
    centre = boxes_to_world(np.array([[2, 4, 6, 4, 6, 8]]), grid)[0]
    np.testing.assert_allclose(centre, grid.voxel_to_world(np.array([3, 5, 7])))


def test_tiny_bundle_runs_end_to_end(tmp_path: Path) -> None:
    """Through a models YAML entry, with sliding-window inference (roi < volume)."""
    torch.manual_seed(0)
    detector = build_detector(TINY)
    (tmp_path / "models").mkdir()
    torch.save(detector.network.state_dict(), tmp_path / "models" / "model.pt")
    model = build_volume_model({"name": "retina", "monai_bundle": str(tmp_path)},
                               monai_config=TINY)
    assert isinstance(model, MonaiLungNoduleDetector)
    affine = np.diag([1.5, 1.5, 2.0, 1.0])
    array = np.full((60, 60, 30), -850, dtype=np.int16)
    array[25:35, 25:35, 12:18] = 30
    found = model.detect(Volume(array, affine))
    assert list(found.columns[:4]) == ["x_mm", "y_mm", "z_mm", "probability"]
    assert len(found) > 0 and found["probability"].between(0, 1).all()
    inside = (found[["x_mm", "y_mm", "z_mm"]].to_numpy() >= -10).all() and \
        (found[["x_mm", "y_mm", "z_mm"]].to_numpy() <= np.array([100, 100, 70])).all()
    assert inside


def test_missing_checkpoint_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="weights not found") as info:
        MonaiLungNoduleDetector(tmp_path, config=TINY)
    assert str(tmp_path / "models" / "model.pt") in str(info.value)
    (tmp_path / "models").mkdir()
    torch.save({"wrong": torch.zeros(1)}, tmp_path / "models" / "model.pt")
    with pytest.raises(InputError, match="does not fit"):
        MonaiLungNoduleDetector(tmp_path, config=TINY)
