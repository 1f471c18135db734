"""Weight-free 3-D baselines for the volume track (marked as baselines in every report).

* :class:`LogBlobDetector` — lung mask from HU alone (air below −400 HU not connected to
  the in-plane border, holes filled slice by slice so nodules inside the lung are kept),
  then multi-scale scale-normalised Laplacian-of-Gaussian blobs in millimetres (anisotropic
  voxels handled per axis), local maxima above a density floor inside the mask, and vessel
  suppression by the Hessian's eigenvalues (a tube has one near-zero eigenvalue, a blob
  three strong negative ones). The candidate's probability is a fixed logistic of its LoG
  response times its blobness: a ranking, not a calibrated probability.
* :class:`BrockLikeMalignancy` — measures the nodule around the given centre (region above
  −700 HU connected to the centre, its equivalent diameter and solid fraction above
  −300 HU) and applies the size and type terms of the published Brock (PanCan) full model
  with every other covariate at its reference value. A size-and-appearance baseline, not
  the Brock model.

Both see the CT volume only (never the label map, which holds the nodule label).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from lesiontrials.io.volumes import Volume

VOLUME_BASELINE_VERSION = "volume-baselines-2"
AIR_HU = -400.0
DENSITY_FLOOR_HU = -650.0


def lung_mask(hu: np.ndarray) -> np.ndarray:
    """Lungs from HU alone: air (< −400 HU) not connected to the x/y border, components of at
    least 0.2 % of the volume, holes filled in each axial slice. ``hu``: ``(x, y, z)``."""
    air = hu < AIR_HU
    labels, n = ndimage.label(air)
    if n == 0:
        return np.zeros(hu.shape, dtype=bool)
    border = np.unique(np.concatenate([labels[0].ravel(), labels[-1].ravel(),
                                       labels[:, 0].ravel(), labels[:, -1].ravel()]))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= 0.002 * hu.size
    keep[border] = False
    keep[0] = False
    lungs = keep[labels]
    filled = np.empty_like(lungs)
    for z in range(lungs.shape[2]):
        filled[:, :, z] = ndimage.binary_fill_holes(lungs[:, :, z])
    return filled


def _hessian_blobness(smooth: np.ndarray, point: tuple[int, int, int],
                      spacing: np.ndarray) -> float:
    """min|λ| / max|λ| of the Hessian (in mm) at ``point`` when all three eigenvalues are
    negative (a bright blob), else 0. 1 = sphere, ~0 = tube or sheet."""
    lo = [max(p - 2, 0) for p in point]
    patch = smooth[lo[0]:point[0] + 3, lo[1]:point[1] + 3, lo[2]:point[2] + 3]
    centre = tuple(p - q for p, q in zip(point, lo, strict=True))
    if min(patch.shape) < 3:
        return 0.0
    grads = np.gradient(patch, *spacing)
    hessian = np.empty((3, 3))
    for i in range(3):
        second = np.gradient(grads[i], *spacing)
        for j in range(3):
            hessian[i, j] = second[j][centre]
    eigen = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    if eigen.max() >= 0:
        return 0.0
    magnitude = np.abs(eigen)
    return float(magnitude.min() / magnitude.max())


def block_mean(volume: Volume, *, working_spacing_mm: float) -> Volume:
    """Average blocks of ``floor(working / spacing)`` voxels per axis (trailing partial
    blocks dropped); the affine maps each block to its centre, so world mm stay exact."""
    spacing = volume.spacing_mm
    factors = [max(1, int(working_spacing_mm // s)) for s in spacing]
    if factors == [1, 1, 1]:
        return volume
    n = [dim // f for dim, f in zip(volume.shape, factors, strict=True)]
    cropped = volume.array[:n[0] * factors[0], :n[1] * factors[1], :n[2] * factors[2]]
    blocks = cropped.astype(np.float32).reshape(n[0], factors[0], n[1], factors[1], n[2],
                                                factors[2]).mean(axis=(1, 3, 5))
    scale = np.eye(4)
    for axis, f in enumerate(factors):
        scale[axis, axis] = f
        scale[axis, 3] = (f - 1) / 2
    return Volume(blocks, volume.affine @ scale)


@dataclass(frozen=True)
class LogBlobDetector:
    """Multi-scale LoG blob detector inside an HU lung mask, with vessel suppression."""

    diameters_mm: tuple[float, ...] = (4.0, 6.0, 9.0, 14.0, 20.0, 28.0)
    max_candidates: int = 60
    min_sigma_voxels: float = 0.6
    working_spacing_mm: float = 1.4
    name: str = "log_blob_3d"
    version: str = VOLUME_BASELINE_VERSION

    def detect(self, volume: Volume) -> pd.DataFrame:
        """Candidates in RAS world mm with probability and an estimated diameter.

        Volumes finer than ``working_spacing_mm`` are block-averaged to about that spacing
        first (a 4 mm blob needs no 0.7 mm grid; 512×512×300 costs 4× less)."""
        volume = block_mean(volume, working_spacing_mm=self.working_spacing_mm)
        hu = volume.array.astype(np.float32, copy=False)
        spacing = np.asarray(volume.spacing_mm, dtype=float)
        lungs = lung_mask(hu)
        columns = ["x_mm", "y_mm", "z_mm", "probability", "diameter_mm", "blobness"]
        if not lungs.any():
            return pd.DataFrame(columns=columns)
        box = ndimage.find_objects(lungs.astype(np.uint8))[0]
        image = np.clip((hu[box] + 1000.0) / 1000.0, 0.0, 1.0)
        image[~lungs[box]] = 0.0
        best, scale = self._responses(image, spacing)
        peaks = (best == ndimage.maximum_filter(best, size=3)) & lungs[box] & (best > 0.05)
        density = ndimage.uniform_filter(hu[box], size=3)
        peaks &= density > DENSITY_FLOOR_HU
        ijk = np.argwhere(peaks)
        order = np.argsort(-best[peaks], kind="stable")[: self.max_candidates]
        rows = []
        for i, j, k in ijk[order]:
            diameter = self.diameters_mm[int(scale[i, j, k])]
            sigma = diameter / (2 * math.sqrt(3)) / spacing
            local = ndimage.gaussian_filter(
                image[max(i - 8, 0):i + 9, max(j - 8, 0):j + 9, max(k - 8, 0):k + 9], sigma)
            point = (min(i, 8), min(j, 8), min(k, 8))
            blobness = _hessian_blobness(local, point, spacing)
            response = float(best[i, j, k])
            probability = blobness / (1.0 + math.exp(-12.0 * (response - 0.25)))
            origin = np.array([i + box[0].start, j + box[1].start, k + box[2].start])
            rows.append((*volume.voxel_to_world(origin).tolist(), probability, diameter,
                         blobness))
        frame = pd.DataFrame(rows, columns=columns)
        return frame.sort_values(["probability", "z_mm", "y_mm", "x_mm"], ascending=False,
                                 kind="stable").reset_index(drop=True)

    def _responses(self, image: np.ndarray, spacing: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Max over scales of the scale-normalised response −σ²∇²G (σ in mm) and its scale."""
        best = np.full(image.shape, -np.inf, dtype=np.float32)
        scale = np.zeros(image.shape, dtype=np.int8)
        finest = self.min_sigma_voxels * float(spacing[:2].max())
        for index, diameter in enumerate(self.diameters_mm):
            sigma_mm = diameter / (2 * math.sqrt(3))  # a ball of radius √3·σ peaks at σ
            if sigma_mm < finest:  # below the voxel: noise, not scale space
                continue
            response = -(sigma_mm ** 2) * _laplacian_mm(image, sigma_mm / spacing, spacing)
            better = response > best
            best[better] = response[better]
            scale[better] = index
        return best, scale


def _laplacian_mm(image: np.ndarray, sigma_vox: np.ndarray, spacing: np.ndarray
                  ) -> np.ndarray:
    """Laplacian of the Gaussian-smoothed image in 1/mm² (per-axis voxel spacing).

    The sum over axes of ``gaussian_filter(image, sigma_vox, order=e_axis·2)`` (float32),
    with the first pass (axis 0, smoothing) computed once for the y and z terms: the same
    1-D passes in the same order as three ``gaussian_filter`` calls, so the same bytes, in
    8 passes instead of 9."""
    def one_d(source: np.ndarray, axis: int, order: int) -> np.ndarray:
        return ndimage.gaussian_filter1d(source, float(sigma_vox[axis]), axis=axis,
                                         order=order, output=np.float32)

    def in_place(values: np.ndarray, axis: int, order: int) -> np.ndarray:
        return ndimage.gaussian_filter1d(values, float(sigma_vox[axis]), axis=axis,
                                         order=order, output=values)

    total = np.zeros(image.shape, dtype=np.float32)
    total += in_place(in_place(one_d(image, 0, 2), 1, 0), 2, 0) / spacing[0] ** 2
    smoothed_x = one_d(image, 0, 0)  # shared by the y and z terms
    total += in_place(one_d(smoothed_x, 1, 2), 2, 0) / spacing[1] ** 2
    total += in_place(one_d(smoothed_x, 1, 0), 2, 2) / spacing[2] ** 2
    return total


# --------------------------------------------------------------------------- malignancy
_BROCK_INTERCEPT = -6.7892
_BROCK_SIZE = -5.5537  # × ((diameter / 10) ** -0.5 − 1.58113883)
_BROCK_PART_SOLID = 0.377
_BROCK_NONSOLID = -0.1276
GGO_HU = -700.0
SOLID_HU = -300.0


def measure_nodule(volume: Volume, centre_mm: np.ndarray, *, radius_mm: float = 20.0
                   ) -> tuple[float, float]:
    """(equivalent diameter mm, solid fraction) of the region above −700 HU connected to
    the centre voxel, inside a ±``radius_mm`` box; (0, 0) when the centre is below −700 HU
    (the size term then gives the lowest probability)."""
    spacing = np.asarray(volume.spacing_mm)
    centre = np.rint(volume.world_to_voxel(np.asarray(centre_mm, dtype=float))).astype(int)
    half = np.ceil(radius_mm / spacing).astype(int)
    lo = np.maximum(centre - half, 0)
    hi = np.minimum(centre + half + 1, volume.shape)
    if (hi <= lo).any():
        return 0.0, 0.0
    patch = volume.array[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(float)
    seed = tuple(int(c) for c in np.clip(centre - lo, 0, np.array(patch.shape) - 1))
    labels, _ = ndimage.label(patch > GGO_HU)
    if labels[seed] == 0:
        return 0.0, 0.0
    region = labels == labels[seed]
    volume_mm3 = float(region.sum() * np.prod(spacing))
    diameter = (6.0 * volume_mm3 / math.pi) ** (1 / 3)
    solid = float((patch[region] > SOLID_HU).mean())
    return diameter, solid


def brock_like_probability(diameter_mm: float, solid_fraction: float) -> float:
    """Size and type terms of the Brock full model (other covariates at reference)."""
    size = max(diameter_mm, 1.0)
    logit = _BROCK_INTERCEPT + _BROCK_SIZE * ((size / 10.0) ** -0.5 - 1.58113883)
    if solid_fraction < 0.1:
        logit += _BROCK_NONSOLID
    elif solid_fraction < 0.8:
        logit += _BROCK_PART_SOLID
    return 1.0 / (1.0 + math.exp(-logit))


@dataclass(frozen=True)
class BrockLikeMalignancy:
    """Size-and-appearance malignancy baseline (see the module docstring)."""

    name: str = "brock_like"
    version: str = VOLUME_BASELINE_VERSION

    def malignancy(self, volume: Volume, centres_mm: np.ndarray) -> np.ndarray:
        out = [brock_like_probability(*measure_nodule(volume, c))
               for c in np.asarray(centres_mm, dtype=float).reshape(-1, 3)]
        return np.asarray(out, dtype=float)
