"""A re-drawn lesion's internal texture against the original's: first-order and GLCM
features over their SD under re-drawn noise."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from lesion_fidelity.reinsertion import fitted_reinsertion

TEXTURE_SCALES_MM = (0.0, 1.5, 3.0, 5.0)  # 0.0: the renderer's default (1 mm, ≥ 0.6 voxel)


def _first_order(hu: np.ndarray, lesion: np.ndarray) -> dict[str, float]:
    """First-order texture of the lesion's core (in-plane erosion by one voxel): HU mean,
    SD, 10th/90th percentiles, skewness and excess kurtosis."""
    from scipy import stats

    core = ndimage.binary_erosion(lesion, structure=np.ones((3, 3, 1), bool))
    values = hu[core if core.sum() > 20 else lesion].astype(np.float64)
    p10, p90 = np.percentile(values, [10, 90])
    return {"mean_hu": float(values.mean()), "sd_hu": float(values.std()),
            "p10_hu": float(p10), "p90_hu": float(p90),
            "skewness": float(stats.skew(values)), "kurtosis": float(stats.kurtosis(values))}


def _texture_features(hu: np.ndarray, lesion: np.ndarray,
                      spacing: tuple[float, float, float]) -> dict[str, float]:
    """First-order features and, when MIRP is installed, its six 3-D GLCM features."""
    from lesiontrials.render.fidelity.radiomics import mirp_available, mirp_glcm

    out = _first_order(hu, lesion)
    if mirp_available():
        box = ndimage.find_objects(lesion.view(np.uint8))[0]
        out.update({f"glcm_{k}": v for k, v in
                    mirp_glcm(hu[box], lesion[box], spacing_mm=spacing).items()})
    return out


def _feature_noise_sd(ct: np.ndarray, lesion: np.ndarray, spacing: tuple[float, float, float],
                      noise_sd: float, draws: int = 4) -> dict[str, float]:
    """Each feature's SD when the scan's noise SD is drawn again (the yardstick)."""
    rng = np.random.default_rng(7)
    values: dict[str, list[float]] = {}
    for _ in range(draws):
        noisy = ct + rng.normal(0.0, noise_sd, ct.shape).astype(np.float32)
        for k, v in _texture_features(noisy, lesion, spacing).items():
            values.setdefault(k, []).append(v)
    return {k: float(np.std(v, ddof=1)) for k, v in values.items()}


def texture_fit(removed: np.ndarray, labels: np.ndarray, lesion: np.ndarray,
                 spacing: tuple[float, float, float], ct: np.ndarray, margin: float,
                 noise_sd: float) -> dict[str, Any]:
    """The redrawn lesion's texture against the original's, for each texture model
    (``gaussian``: the texture SD × a Gaussian field; ``copula``: the lesion's own HU
    quantiles on that field) and texture scale: every feature's |difference| over its SD
    under re-drawn noise, and per model the scale whose mean over features is smallest."""
    box = ndimage.find_objects(ndimage.binary_dilation(lesion, iterations=3).view(np.uint8))[0]
    original = _texture_features(ct[box], lesion[box], spacing)
    spread = _feature_noise_sd(ct[box], lesion[box], spacing, noise_sd)
    rows = []
    for model, scale in ((m, s) for m in ("gaussian", "copula") for s in TEXTURE_SCALES_MM):
        again, _ = fitted_reinsertion(removed, labels, lesion, spacing, ct, margin, noise_sd,
                                      scale, copula=model == "copula")
        redrawn = _texture_features(again[box], lesion[box], spacing)
        ratios = {k: abs(redrawn[k] - original[k]) / max(spread.get(k, 0.0), 1e-9)
                  for k in original if k in redrawn}
        rows.append({"model": model, "texture_scale_mm": scale,
                     "features": {k: {"original": round(original[k], 4),
                                      "redrawn": round(redrawn[k], 4),
                                      "difference_over_noise_sd": round(ratios[k], 1)}
                                  for k in ratios},
                     "mean_difference_over_noise_sd": round(float(np.mean(list(
                         ratios.values()))), 1),
                     "inside_mean_abs_hu": round(float(np.abs(again - ct)[lesion].mean()), 1)})
    best = {model: min((r for r in rows if r["model"] == model),
                       key=lambda r: r["mean_difference_over_noise_sd"])
            for model in ("gaussian", "copula")}
    return {"by_scale": rows,
            "best": {m: {"texture_scale_mm": r["texture_scale_mm"],
                         "mean_difference_over_noise_sd": r["mean_difference_over_noise_sd"],
                         "features_over_noise_sd": {k: v["difference_over_noise_sd"]
                                                    for k, v in r["features"].items()}}
                     for m, r in best.items()},
            "sd_hu_original": round(original["sd_hu"], 1), "noise_sd_hu": round(noise_sd, 1)}
