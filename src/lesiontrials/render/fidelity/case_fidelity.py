"""Per-case fidelity record: histograms vs the real host, lesion HU, noise, texture."""

from __future__ import annotations

from typing import Any

import numpy as np

from lesiontrials.geometry import expand_box
from lesiontrials.io import Volume, check_same_grid
from lesiontrials.render.appearance.lesion import mask_in_box
from lesiontrials.render.backends.scanner import noise_sd_hu, nps_peak_cyc_per_mm
from lesiontrials.render.fidelity.fidelity import (
    host_histograms,
    lesion_stats,
    noise_stats,
    texture_features,
)
from lesiontrials.render.interface import Acquisition, LesionSpec, RenderResult


def lesion_records(hu: np.ndarray, lesions: list[LesionSpec], targets: dict[int, float],
                   spacing_mm: tuple[float, float, float]) -> list[dict[str, Any]]:
    """Lesion HU statistics and GLCM texture per lesion."""
    rows = []
    for spec in lesions:
        tight = spec.mask.tight()
        box = expand_box(tight.box, 1, hu.shape)
        mask = mask_in_box(tight, box)
        crop = hu[box]
        target = targets.get(spec.index, float("nan"))
        rows.append({"index": spec.index, **lesion_stats(crop, mask, target, spacing_mm),
                     "texture": texture_features(crop, mask)})
    return rows


def case_fidelity(*, result: RenderResult, labels: Volume, lesions: list[LesionSpec],
                  host_ct: Volume | None, acquisition: Acquisition) -> dict[str, Any]:
    """Fidelity numbers of one rendered case (JSON-ready; ``summary`` holds the headline);
    ``host_ct``: the host's real CT on the label grid, when it has one (histograms)."""
    qc = result.qc
    targets = {int(x["index"]): float(x["target_mean_hu"]) for x in qc.get("lesions", [])}
    lesion_rows = lesion_records(result.hu, lesions, targets, labels.spacing_mm)
    expected_sd = qc.get("expected_noise_sd_hu", noise_sd_hu(acquisition))
    noise = noise_stats(result.hu, labels.array, labels.spacing_mm, expected_sd_hu=expected_sd,
                        expected_peak=nps_peak_cyc_per_mm(acquisition))
    summary: dict[str, Any] = {
        "noise_sd_hu": noise["noise_sd_hu"], "nps_peak_cyc_per_mm": noise["nps_peak_cyc_per_mm"],
        "expected_noise_sd_hu": expected_sd,
        "lesion_mean_error_hu": [x["mean_error_hu"] for x in lesion_rows],
    }
    if host_ct is not None:
        check_same_grid(host_ct, labels, path_a="host CT", path_b="labels")
        summary.update(host_histograms(result.hu, host_ct.array, labels.array))
    return {"summary": summary, "noise": noise, "lesions": lesion_rows}
