"""Fidelity of rendered CT: histograms, lesion HU, noise, texture diversity.

* Histogram intersection ``Σ min(p, q)`` of normalised HU histograms (8 HU bins over
  −1024…1024) of a synthetic and a real volume inside the body and inside the lungs
  (1 = identical distributions; the original study's target is > 0.80).
* Lesion HU: mean and SD in the lesion core (≥ 1.5 mm inside the mask surface), against
  the descriptor target (the drawn HU over the mask, before blur and noise).
* Noise: SD and NPS peak measured in homogeneous soft tissue
  (:mod:`~lesiontrials.render.fidelity.noise_measure`) against the acquisition model.
* Texture diversity: IBSI 3-D GLCM features of each lesion
  (:mod:`~lesiontrials.render.fidelity.glcm`, the numbers MIRP gives), and per trial
  the mean over features of ``var(f) / mean(|f|)²`` across lesions (scale-free; 0 when
  every lesion has the same texture).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lesiontrials import anatomy
from lesiontrials.render.appearance.tissue import LUNG_LABELS
from lesiontrials.render.fidelity.glcm import TEXTURE_LIBRARY, glcm_3d
from lesiontrials.render.fidelity.noise_measure import estimate_noise

HIST_EDGES = np.arange(-1024, 1025, 8, dtype=np.float64)
GLCM_FEATURES = ("contrast", "correlation", "energy", "homogeneity", "dissimilarity", "entropy")


def histogram_intersection(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of the normalised HU histograms of two value arrays (0…1)."""
    if a.size == 0 or b.size == 0:
        return float("nan")
    p, _ = np.histogram(np.clip(a, -1024, 1023), bins=HIST_EDGES)
    q, _ = np.histogram(np.clip(b, -1024, 1023), bins=HIST_EDGES)
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


def host_histograms(synthetic: np.ndarray, real: np.ndarray, labels: np.ndarray
                    ) -> dict[str, float]:
    """Histogram intersection inside the body (everything but background) and the lungs."""
    body = labels != anatomy.BACKGROUND
    lungs = np.isin(labels, (*LUNG_LABELS, anatomy.NODULE))
    return {"hist_intersection_body": round(histogram_intersection(synthetic[body], real[body]), 4),
            "hist_intersection_lungs": round(
                histogram_intersection(synthetic[lungs], real[lungs]), 4)}


def lesion_core(mask: np.ndarray, spacing_mm: tuple[float, float, float],
                depth_mm: float = 1.5) -> np.ndarray:
    """Mask voxels at least ``depth_mm`` inside the surface (the deepest fifth when none)."""
    import edt

    depth = edt.edt(mask.astype(np.uint8), anisotropy=spacing_mm, black_border=True)
    core = depth >= depth_mm
    if not core.any() and mask.any():
        core = mask & (depth >= np.quantile(depth[mask], 0.8))
    return core


def lesion_stats(hu: np.ndarray, mask: np.ndarray, target_mean_hu: float,
                 spacing_mm: tuple[float, float, float]) -> dict[str, float]:
    """Mean/SD HU in the lesion core against the descriptor target (``mask``: crop-sized)."""
    values = hu[lesion_core(mask, spacing_mm)].astype(np.float64)
    mean = float(values.mean()) if values.size else float("nan")
    return {"mean_hu": round(mean, 1), "sd_hu": round(float(values.std()), 1),
            "target_mean_hu": round(float(target_mean_hu), 1),
            "mean_error_hu": round(mean - float(target_mean_hu), 1)}


def noise_stats(hu: np.ndarray, labels: np.ndarray, spacing_mm: tuple[float, float, float],
                *, expected_sd_hu: float | None = None,
                expected_peak: float | None = None) -> dict[str, Any]:
    """Measured noise SD / NPS peak (16 evenly spaced slices) in heart and aorta when they
    are labelled (no painted texture there), else in homogeneous soft tissue; with the
    expected values."""
    picks = np.flatnonzero((labels[::8, ::8, :] != anatomy.BACKGROUND).any(axis=(0, 1)))
    if picks.size > 16:
        picks = picks[np.linspace(0, picks.size - 1, 16).round().astype(int)]
    hu, labels = hu[:, :, picks], labels[:, :, picks]
    blood = np.isin(labels, (anatomy.HEART, anatomy.AORTA))  # untextured where labelled
    soft = (labels != anatomy.BACKGROUND) & ~np.isin(labels, (*LUNG_LABELS, anatomy.NODULE))
    estimate = estimate_noise(hu, blood & (hu > -150) & (hu < 250), spacing_mm[:2])
    if estimate is None:
        estimate = estimate_noise(hu, soft & (hu > -150) & (hu < 150), spacing_mm[:2])
    out: dict[str, Any] = {"expected_noise_sd_hu": expected_sd_hu,
                           "expected_nps_peak_cyc_per_mm": expected_peak}
    if estimate is None:
        return {**out, "noise_sd_hu": None, "nps_peak_cyc_per_mm": None, "noise_patches": 0}
    return {**out, **estimate.summary()}


def texture_library() -> str:
    """The implementation computing lesion texture (recorded next to the features)."""
    return TEXTURE_LIBRARY


def texture_features(hu: np.ndarray, mask: np.ndarray, *,
                     bin_width_hu: float = 25.0) -> dict[str, float]:
    """Six IBSI 3-D GLCM features of the HU inside ``mask`` (crop-sized arrays; fixed bin
    width in HU, 13 directions merged; the same numbers as MIRP's ``*_d1_3d_v_mrg``
    features, see :mod:`~lesiontrials.render.fidelity.glcm`). ``{}`` below 8 voxels."""
    if mask.sum() < 8:
        return {}
    return glcm_3d(hu, mask, bin_width_hu=bin_width_hu)


def texture_diversity(rows: Sequence[Mapping[str, float]]) -> float | None:
    """Mean over features of ``var(f)/mean(|f|)²`` across lesions (``None`` below 2)."""
    rows = [r for r in rows if r]
    if len(rows) < 2:
        return None
    scores = []
    for name in GLCM_FEATURES:
        values = np.array([r[name] for r in rows if name in r and np.isfinite(r[name])])
        if len(values) >= 2:
            scale = float(np.mean(np.abs(values))) or 1.0
            scores.append(float(values.var()) / scale**2)
    return round(float(np.mean(scores)), 5) if scores else None


def trial_fidelity(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregate per-case fidelity records (``render.json`` ``fidelity`` blocks)."""
    def collect(key: str) -> list[float]:
        return [float(c[key]) for c in cases if c.get(key) is not None
                and np.isfinite(float(c[key]))]

    lesions = [lesion for c in cases for lesion in c.get("lesions", [])]
    errors = [abs(float(x["mean_error_hu"])) for x in lesions
              if x.get("mean_error_hu") is not None and np.isfinite(x["mean_error_hu"])]
    summary: dict[str, Any] = {"cases": len(cases), "lesions": len(lesions)}
    for key in ("hist_intersection_body", "hist_intersection_lungs", "noise_sd_hu",
                "nps_peak_cyc_per_mm"):
        values = collect(key)
        summary[f"{key}_mean"] = round(float(np.mean(values)), 4) if values else None
    summary["lesion_abs_mean_error_hu"] = round(float(np.mean(errors)), 1) if errors else None
    summary["texture_diversity"] = texture_diversity([x.get("texture", {}) for x in lesions])
    summary["texture_library"] = texture_library()
    return summary
