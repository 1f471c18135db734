"""Phantom natives drawn from their source shape (session 9, fidvol): a world phantom's
native nodule is a library donor's continuous shape sampled on the phantom grid
(``world/natives.py``); reused as a donor, the renderer now shapes it from the source's
fine mask (``render/appearance/shape_source.py``) instead of from the native's own
coarse mask. This part measures both against the 0.5 mm donor's render."""

from __future__ import annotations

from typing import Any

import numpy as np

from lesion_fidelity.common import HOSTS, NATIVE_SOURCE, NATIVES, PHASES
from lesion_fidelity.grid import SHAPES, _Scene, _whole_voxel_phase
from lesiontrials.shape_field import shape_from_mask
from lesiontrials.testing import ellipsoid_mask
from lesiontrials.world.natives import DonorShape, native_mask


def _rms(values: list[float]) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def native_source() -> dict[str, Any]:
    """For each native grid and host: the RMS difference (÷ host noise SD) from the 0.5 mm
    donor's render of five ellipsoids × four whole-voxel positions of the source (sub-pixel
    LIDC-like outlines, 0.35×0.35×2.5 mm), drawn from the native's mask (``coarse_mask``:
    before, and what an older trial still does), from the source's mask (``source_shape``:
    now) and — for scale — with the native's shape given the true volume (``coarse_mask_
    true_volume``, an oracle); and the relative volume error of the native's voxel count
    and of the source shape. The native *is* its source's shape sampled, so the source
    shape's own render is that nodule's truth: ``coarse_mask_vs_source_shape`` is what the
    coarse mask loses of it (what drawing from the source removes)."""
    out: dict[str, Any] = {name: {} for name in HOSTS}
    for native_name, grid in NATIVES.items():
        for host_name, host in HOSTS.items():
            coarse, oracle, source_rows, coarse_volume, source_volume = [], [], [], [], []
            versus_source = []
            for radii in SHAPES:
                scene = _Scene(radii, host)
                true_volume = 4.0 / 3.0 * np.pi * float(np.prod(radii))
                for k in range(PHASES):
                    source = ellipsoid_mask(radii, NATIVE_SOURCE,
                                            centre_mm=_whole_voxel_phase(k, NATIVE_SOURCE))  # type: ignore[arg-type]
                    native = native_mask(DonorShape("d", source, NATIVE_SOURCE), grid)
                    source_field = shape_from_mask(source, NATIVE_SOURCE)
                    from_source = scene.render(source_field)
                    from_coarse = scene.render(shape_from_mask(native, grid))
                    coarse.append(scene.rms_over_noise(from_coarse))
                    versus_source.append(scene.rms_over_noise(from_coarse, from_source))
                    oracle.append(scene.rms_over_noise(scene.render(
                        shape_from_mask(native, grid, volume_mm3=true_volume))))
                    source_rows.append(scene.rms_over_noise(from_source))
                    coarse_volume.append(float(native.sum()) * float(np.prod(grid))
                                         / true_volume - 1.0)
                    source_volume.append(source_field.volume_mm3 / true_volume - 1.0)
            out[host_name][native_name] = {
                "coarse_mask_rms_over_noise_sd": round(float(np.mean(coarse)), 2),
                "coarse_mask_true_volume_rms_over_noise_sd": round(float(np.mean(oracle)), 2),
                "source_shape_rms_over_noise_sd": round(float(np.mean(source_rows)), 2),
                "source_shape_worst_over_noise_sd": round(float(np.max(source_rows)), 2),
                "coarse_mask_vs_source_shape_rms_over_noise_sd": round(
                    float(np.mean(versus_source)), 2),
                "coarse_mask_volume_error_rms": round(_rms(coarse_volume), 3),
                "source_shape_volume_error_rms": round(_rms(source_volume), 3)}
    return out
