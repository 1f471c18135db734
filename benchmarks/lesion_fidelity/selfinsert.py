"""Self-insertion on the real CTs: inside / rim |ΔHU|, edge width and radiomics of each
real lesion removed and drawn again, against the scan's noise SD."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from lesion_fidelity.real import lung_of
from lesion_fidelity.reinsertion import fitted_reinsertion, glcm_noise_sd, remove_lesion
from lesion_fidelity.texture import texture_fit
from lesiontrials.vessel_edges import edge_width_mm


def self_insertion(cases: list[Any]) -> dict[str, Any]:
    from lesiontrials.render.fidelity.radiomics import mirp_available, mirp_glcm

    out: dict[str, Any] = {}
    for name, ct, labels, lesion, spacing in cases:
        removed, noise_sd = remove_lesion(ct, labels, lesion, spacing,
                                           np.random.default_rng(2))
        lung = lung_of(labels)
        distance = ndimage.distance_transform_edt(~lesion, sampling=spacing)
        rim = lung & ~lesion & (distance <= 3.0)
        original_width = edge_width_mm(ct, lesion, lung & ~lesion, spacing)
        best: dict[str, Any] | None = None
        by_margin = []
        for margin in (5.0, 4.0, 3.0, 2.0):
            again, solid = fitted_reinsertion(removed, labels, lesion, spacing, ct, margin,
                                               noise_sd)
            width = edge_width_mm(again, lesion, lung & ~lesion, spacing)
            row = {"margin_score": margin, "fitted_solid_hu": round(solid, 1),
                   "inside_mean_abs_hu": round(float(np.abs(again - ct)[lesion].mean()), 1),
                   "rim_mean_abs_hu": round(float(np.abs(again - ct)[rim].mean()), 1),
                   "inside_mean_hu": round(float(again[lesion].mean()), 1),
                   "edge_width_mm": None if width is None else round(width.width_mm, 2)}
            by_margin.append(row)
            score = (abs(width.width_mm - original_width.width_mm)  # the margin score whose
                     if width is not None and original_width is not None  # edge matches
                     else row["inside_mean_abs_hu"] + row["rim_mean_abs_hu"])
            if best is None or score < best["score"]:
                best = {"row": row, "image": again, "score": score}
        assert best is not None
        row, again = best["row"], best["image"]
        result: dict[str, Any] = {
            "by_margin": by_margin, "best_margin_score": row["margin_score"],
            "inside_mean_hu_original": round(float(ct[lesion].mean()), 1),
            "removed_inside_mean_abs_hu": round(float(np.abs(removed - ct)[lesion].mean()), 1),
            "rim_mean_abs_hu_removed": round(float(np.abs(removed - ct)[rim].mean()), 1)}
        result["noise_sd_hu"] = round(noise_sd, 1)
        result["noise_only_mean_abs_hu"] = round(2.0 / np.sqrt(np.pi) * noise_sd, 1)
        result["inside_over_noise_sd"] = round(row["inside_mean_abs_hu"] / noise_sd, 2)
        result["rim_over_noise_sd"] = round(row["rim_mean_abs_hu"] / noise_sd, 2)
        widths = [edge_width_mm(image, lesion, lung & ~lesion, spacing) for image in (ct, again)]
        result["edge_width_mm"] = {
            "original": None if widths[0] is None else round(widths[0].width_mm, 2),
            "reinserted_best": None if widths[1] is None else round(widths[1].width_mm, 2)}
        copula, _ = fitted_reinsertion(removed, labels, lesion, spacing, ct,
                                       row["margin_score"], noise_sd, copula=True)
        result["copula_inside_over_noise_sd"] = round(
            float(np.abs(copula - ct)[lesion].mean()) / noise_sd, 2)
        result["copula_rim_over_noise_sd"] = round(
            float(np.abs(copula - ct)[rim].mean()) / noise_sd, 2)
        result["texture"] = texture_fit(removed, labels, lesion, spacing, ct,
                                         row["margin_score"], noise_sd)
        if mirp_available():
            box = ndimage.find_objects(lesion.view(np.uint8))[0]
            first = mirp_glcm(ct[box], lesion[box], spacing_mm=spacing)
            second = mirp_glcm(again[box], lesion[box], spacing_mm=spacing)
            spread = glcm_noise_sd(ct, lesion, spacing, noise_sd)
            result["glcm"] = {k: {"original": round(first[k], 4),
                                  "reinserted": round(second[k], 4),
                                  "difference_over_noise_sd": round(
                                      abs(second[k] - first[k]) / max(spread.get(k, 0.0),
                                                                       1e-9), 1)}
                              for k in first if k in second}
        out[name] = result
    return out
