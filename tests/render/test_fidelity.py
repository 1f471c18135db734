"""Fidelity measures: histogram intersection, noise estimate, texture diversity."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.render import (
    estimate_noise,
    histogram_intersection,
    texture_diversity,
    texture_features,
    trial_fidelity,
)
from lesiontrials.render.fidelity.fidelity import GLCM_FEATURES


def test_histogram_intersection_bounds() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(-850, 40, 20000)
    assert histogram_intersection(a, a) == pytest.approx(1.0)
    assert histogram_intersection(a, rng.normal(-850, 40, 20000)) > 0.9
    assert histogram_intersection(a, rng.normal(40, 10, 20000)) == pytest.approx(0.0)


def test_noise_estimate_recovers_white_noise_sd() -> None:
    rng = np.random.default_rng(1)
    image = rng.normal(40.0, 12.0, (128, 128, 6)).astype(np.float32)
    estimate = estimate_noise(image, np.ones(image.shape, bool), (0.7, 0.7))
    assert estimate is not None
    assert estimate.sd_hu == pytest.approx(12.0, rel=0.05)


def test_texture_features_and_diversity() -> None:
    rng = np.random.default_rng(2)
    mask = np.zeros((16, 16, 6), bool)
    mask[3:13, 3:13, 1:5] = True
    smooth = texture_features(np.full(mask.shape, 30.0) + rng.normal(0, 2, mask.shape), mask)
    rough = texture_features(rng.normal(-300, 300, mask.shape), mask)
    assert set(smooth) == set(GLCM_FEATURES)
    assert rough["contrast"] > smooth["contrast"]
    assert texture_diversity([smooth, smooth]) == pytest.approx(0.0)
    assert texture_diversity([smooth, rough]) > 0.0
    summary = trial_fidelity([{"hist_intersection_body": 0.8,
                               "lesions": [{"mean_error_hu": 5.0, "texture": smooth},
                                           {"mean_error_hu": -15.0, "texture": rough}]}])
    assert summary["lesion_abs_mean_error_hu"] == 10.0
    assert summary["texture_diversity"] > 0
    assert summary["texture_library"].startswith("lesiontrials.glcm")
    # a near-constant lesion falls in one 25 HU bin: energy ≈ 1
    assert smooth["energy"] > 0.9 and rough["energy"] < 0.05
