"""Where a rendered lesion's texture comes from: its donor's own HU, or its descriptors.

A donor whose scan's CT is in the data root (the real chest CTs the world ships, or a
configured dataset's ``raw_ct/``) has a real texture source: the HU of its deep core
(the donor mask eroded in-plane by :data:`CORE_ERODE_PX` pixels, so the edge's partial
volume does not count) in that CT. Its quantile function, less the scan's noise
(:func:`~lesiontrials.render.appearance.lesion_texture.fit_texture_quantiles`), becomes the
lesion's copula texture: the drawn lesion keeps the donor tumour's HU distribution —
skewness and tails included — on the case's own seeded field. Any other donor (a mask
without a CT: phantom natives, mask-only releases) is textured from its descriptors
(attenuation and heterogeneity: a Gaussian field of ``texture_sd_hu``,
:func:`~lesiontrials.render.appearance.lesion.sample_lesion_params`).

The lookup goes mask → dataset and annotation (``masks/{DS}/nodule_seg/{ID}.nii.gz``) →
the dataset's profiles row (``ct_path``) → ``raw_ct/{ct_path}``. A listed CT that is
missing means no texture source (the world keeps no CT for that dataset); a CT that is
present but not on the mask's grid, or a profiles row without ``ct_path``, is an
:class:`~lesiontrials.errors.InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from lesiontrials.errors import InputError
from lesiontrials.io import read_csv_table, read_volume
from lesiontrials.io.decoded import DecodedCache, read_mask_crop_cached
from lesiontrials.paths import DataRoot
from lesiontrials.records.insert import InsertedNodule
from lesiontrials.render.appearance.lesion_texture import MIN_VALUES, fit_texture_quantiles
from lesiontrials.render.fidelity.noise_measure import estimate_noise

CORE_ERODE_PX = 3  # in-plane erosion of the donor mask before its HU are read
SOFT_TISSUE_HU = (-150.0, 150.0)  # where the scan's noise is measured
NOISE_SLAB_MM = 20.0
DONOR_HU, DESCRIPTOR = "donor_hu", "descriptor"


@dataclass(frozen=True)
class DonorTexture:
    """A donor's texture quantiles (HU about the mean) and where they were measured."""

    quantiles_hu: tuple[float, ...]
    ct_path: str
    core_voxels: int
    noise_sd_hu: float


@lru_cache(maxsize=8)
def _ct_paths(profiles: Path, stamp: tuple[int, int]) -> dict[str, str | None]:
    """AnnotationID → ct_path (``None``: blank) of one profiles CSV, read once per file
    version (``stamp``: its mtime and size) in this process."""
    table = read_csv_table(profiles, dtype={"ct_path": "string", "AnnotationID": "string"})
    if "AnnotationID" not in table.columns:
        return {}
    paths = (table["ct_path"] if "ct_path" in table.columns
             else pd.Series([None] * len(table), dtype="string"))
    return {str(a): (None if pd.isna(c) or not str(c) else str(c))
            for a, c in zip(table["AnnotationID"], paths, strict=True)}


def _profile_ct_path(root: DataRoot, dataset: str, annotation_id: str, mask: Path
                     ) -> str | None:
    profiles = root.profiles_csv(dataset)
    if not profiles.is_file():
        return None
    stat = profiles.stat()
    paths = _ct_paths(profiles, (stat.st_mtime_ns, stat.st_size))
    if annotation_id not in paths:
        return None
    ct_path = paths[annotation_id]
    if ct_path is None:
        raise InputError(f"the profiles row of donor {annotation_id} has no ct_path",
                         path=profiles, column="ct_path",
                         fix=f"give the donor scan's CT path relative to raw_ct/ ({mask})")
    return ct_path


def core_values(ct: np.ndarray, mask_crop: np.ndarray, offset: tuple[int, int, int]
                ) -> np.ndarray:
    """The CT's HU in the donor mask eroded in-plane by ``CORE_ERODE_PX`` pixels (fewer
    when that leaves under ``MIN_VALUES`` voxels: small lesions)."""
    box = tuple(slice(o, o + n) for o, n in zip(offset, mask_crop.shape, strict=True))
    region = np.asarray(ct[box], dtype=np.float32)
    for pixels in range(CORE_ERODE_PX, -1, -1):
        core = (ndimage.binary_erosion(mask_crop, structure=np.ones((3, 3, 1), bool),
                                       iterations=pixels) if pixels else mask_crop)
        if int(core.sum()) >= MIN_VALUES:
            return region[core]
    return region[mask_crop]


def _noise_sd(ct: np.ndarray, z_range: tuple[int, int], spacing: tuple[float, float, float]
              ) -> float | None:
    half = int(np.ceil(NOISE_SLAB_MM / spacing[2]))
    for zs in (slice(max(0, z_range[0] - half), z_range[1] + half), slice(None)):
        image = np.asarray(ct[:, :, zs], dtype=np.float32)
        region = (image > SOFT_TISSUE_HU[0]) & (image < SOFT_TISSUE_HU[1])
        estimate = estimate_noise(image, region, spacing[:2])
        if estimate is not None:
            return estimate.sd_hu
    return None


def _offset_on(ct_affine: np.ndarray, crop_affine: np.ndarray, crop_shape: tuple[int, ...],
               ct_shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """The crop's first voxel on the CT grid, ``None`` unless the crop lies on that grid
    (same axes and spacing, whole-voxel offset, inside the volume)."""
    if not np.allclose(ct_affine[:3, :3], crop_affine[:3, :3], atol=1e-4):
        return None
    where = np.linalg.solve(ct_affine[:3, :3], crop_affine[:3, 3] - ct_affine[:3, 3])
    offset = np.round(where)
    if not np.allclose(where, offset, atol=1e-2):
        return None
    start = tuple(int(v) for v in offset)
    if any(o < 0 or o + n > s for o, n, s in zip(start, crop_shape, ct_shape, strict=True)):
        return None
    return start  # type: ignore[return-value]


def donor_texture(data_root: Path, nodule: InsertedNodule,
                  cache: DecodedCache | None = None) -> DonorTexture | None:
    """The donor's measured texture, or ``None`` when it has no real texture source
    (module docstring: no donor mask, a per-scan mask file, no profiles row, no CT in
    the data root, too few core voxels or no measurable noise)."""
    rel = nodule.planned.donor_mask_path
    if not rel or nodule.planned.donor_mask_scope == "scan":
        return None
    parts = Path(rel).parts
    if len(parts) != 4 or parts[0] != "masks" or parts[2] != "nodule_seg":
        return None
    root = DataRoot(Path(data_root))
    dataset, annotation_id = parts[1], parts[3].removesuffix(".nii.gz")
    mask_path = root.root / rel
    ct_rel = _profile_ct_path(root, dataset, annotation_id, mask_path)
    if ct_rel is None or not root.raw_ct_from_profile(ct_rel).is_file():
        return None
    crop = read_mask_crop_cached(mask_path, cache)
    ct = read_volume(root.raw_ct_from_profile(ct_rel))
    offset = _offset_on(ct.affine, crop.crop_affine, crop.mask.shape, ct.shape)
    if offset is None:
        raise InputError("the donor mask is not on its scan's CT grid", path=mask_path,
                         fix=f"rebuild the world so that the mask and raw_ct/{ct_rel} match")
    values = core_values(ct.array, crop.mask, offset)
    noise = _noise_sd(ct.array, (offset[2], offset[2] + crop.mask.shape[2]), ct.spacing_mm)
    if values.size < MIN_VALUES or noise is None:
        return None
    return DonorTexture(quantiles_hu=fit_texture_quantiles(values, noise_sd_hu=noise),
                        ct_path=ct_rel, core_voxels=int(values.size), noise_sd_hu=noise)
