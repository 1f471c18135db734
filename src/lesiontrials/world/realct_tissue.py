"""Bones and spinal cord of a non-contrast chest CT from HU rules (no model); optionally
an approximate heart, liver dome and back muscles.

Used by :func:`lesiontrials.world.realct.segment_host` after body, lungs and airway; arrays
are RAS+ ``(x, y, z)``, thresholds in HU, sizes in mm. The chest cavity is, per slice, the
convex hull of both lungs.

* Bone (MAISI ``bone`` 21, sternum 122): hysteresis threshold — 26-connected components
  above ``bone_low_hu`` that hold a voxel above ``bone_high_hu`` and are at least
  ``bone_min_ml`` large (specks drop out); components under ``calcification_max_ml`` lying
  inside the cavity (eroded by 5 mm) are vascular or nodal calcifications, not bone; small
  in-plane holes (up to ``marrow_hole_mm2``) with a mean of at least ``marrow_min_hu`` are
  marrow and filled (the spinal canal is not). The sternum is the bone in the midline band
  (``sternum_half_width_mm``) as far forward as the lungs' front edge (at the
  sternoclavicular joints it may take in the clavicles' medial ends); spine, ribs and
  shoulder girdle keep the generic id — vertebral levels and rib numbers are not told
  apart without a model.
* Spinal cord (121): per slice the most posterior region enclosed by bone within 15 mm of
  the midline with a cord-like mean HU (the canal; marrow is denser).
* With ``soft_organs`` (off by default; approximate, see below) soft tissue — the CT
  smoothed in plane by ``smooth_mm`` at or above ``soft_hu`` — is also split into: heart
  (115; heart and the great vessels beside it) inside the cavity, in front of the spine's
  centre, above the diaphragm (the lower lobes' base) and ``heart_top_below_carina_mm``
  below the carina; liver (1) under the right lung's base within its footprint; back
  muscles (left/right autochthon 104/105; all the back's muscle) behind the spine's centre
  within ``back_half_width_mm`` of the midline, outside the cavity. Components under
  ``organ_min_ml`` are dropped. These masks miss parts of the heart and take in fat-muscle
  partial volume; rendered by the analytic backend as flat blood / muscle / liver they
  lower the HU-histogram fidelity on the packaged real CTs (``benchmarks/RESULTS.md``),
  so they are for conditioning (MAISI) and profiling, not on by default.

* With ``contrast_blood_hu`` (a contrast-enhanced scan) the enhanced blood pool is found
  first and kept out of the bone: voxels in that HU band inside the cavity, opened by a
  ball of radius ``contrast_core_mm`` (ribs, cortex and calcifications are thinner; heart
  chambers and great vessels are thicker), components of at least ``organ_min_ml``, grown
  back by the same radius within the band. Without it (the default) the scan is assumed
  to have no intravenous contrast: enhanced vessels (> ``bone_high_hu``) would join the bone.
"""

from __future__ import annotations

import cc3d
import numpy as np
from scipy import ndimage

from lesiontrials.anatomy import (
    BODY,
    HEART,
    LABEL_IDS,
    LOBE_LABEL_IDS,
    LOBE_LABELS,
    SPINAL_CORD,
    STERNUM,
    Lobe,
)
from lesiontrials.world.realct_masks import HostParams, dilate_in_plane, fill_holes_per_slice

BONE: int = LABEL_IDS["bone"]  # 21
_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)
LIVER: int = LABEL_IDS["liver"]  # 1
LEFT_BACK_MUSCLE: int = LABEL_IDS["left autochthon"]
RIGHT_BACK_MUSCLE: int = LABEL_IDS["right autochthon"]


def bone_mask(hu: np.ndarray, allowed: np.ndarray, cavity: np.ndarray, *,
              spacing: tuple[float, float, float], params: HostParams) -> np.ndarray:
    """Bone (bool) inside ``allowed`` by hysteresis thresholding (see module doc)."""
    p = params
    low = allowed & (hu >= p.bone_low_hu)
    if not low.any():
        return low
    lab = cc3d.connected_components(low, connectivity=26)
    n = int(lab.max())
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    strong = np.bincount(lab[hu >= p.bone_high_hu], minlength=n + 1)
    core = cavity & ~dilate_in_plane(~cavity, 5.0, spacing)
    inside = np.bincount(lab[core], minlength=n + 1)
    ml = sizes * float(np.prod(spacing)) / 1000.0
    calcified = (ml < p.calcification_max_ml) & (inside >= 0.75 * sizes)
    keep = (strong > 0) & (ml >= p.bone_min_ml) & ~calcified
    keep[0] = False
    bone = keep[lab]
    max_px = int(p.marrow_hole_mm2 / (spacing[0] * spacing[1]))
    holes = fill_holes_per_slice(bone, max_area_px=max_px) & ~bone & allowed
    hole_lab, n_holes = ndimage.label(holes, structure=_IN_PLANE)
    if n_holes:
        mean_hu = np.asarray(ndimage.mean(hu, hole_lab, np.arange(1, n_holes + 1)))
        bone |= np.concatenate([[False], mean_hu >= p.marrow_min_hu])[hole_lab]
    return bone


def spine_centre_y(bone: np.ndarray, body: np.ndarray, *, midline_x: float,
                   spacing: tuple[float, float, float]) -> np.ndarray:
    """Per slice, the median y (voxels) of the bone within 15 mm of the midline behind the
    body's antero-posterior centre (the vertebra); slices without it take the nearest
    slice's value (the body's centre when no slice has one)."""
    half = max(1, round(15.0 / spacing[0]))
    lo, hi = max(int(midline_x) - half, 0), int(midline_x) + half + 1
    out = np.full(bone.shape[2], np.nan)
    centres = np.full(bone.shape[2], bone.shape[1] / 2.0)
    for z in range(bone.shape[2]):
        ys = np.flatnonzero(body[:, :, z].any(axis=0))
        if ys.size:
            centres[z] = (ys[0] + ys[-1]) / 2.0
        spine_y = np.nonzero(bone[lo:hi, :, z])[1]
        spine_y = spine_y[spine_y < centres[z]]
        if spine_y.size:
            out[z] = float(np.median(spine_y))
    found = np.flatnonzero(~np.isnan(out))
    if found.size == 0:
        return centres
    return np.interp(np.arange(out.size), found, out[found])


def split_sternum(bone: np.ndarray, lungs: np.ndarray, body: np.ndarray, *, midline_x: float,
                  spacing: tuple[float, float, float], params: HostParams) -> np.ndarray:
    """Sternum (bool): per slice, the part within the midline band of in-plane bone pieces
    centred in it, in front of the body's antero-posterior centre and no further back than
    ``sternum_depth_mm`` behind the lungs' most anterior voxel."""
    sternum = np.zeros_like(bone)
    half_px = params.sternum_half_width_mm / spacing[0]
    band = np.abs(np.arange(bone.shape[0]) - midline_x)[:, None] <= half_px
    depth_px = params.sternum_depth_mm / spacing[1]
    for z in np.flatnonzero(bone.any(axis=(0, 1)) & lungs.any(axis=(0, 1))):
        body_y = np.flatnonzero(body[:, :, z].any(axis=0))
        front = max(np.flatnonzero(lungs[:, :, z].any(axis=0))[-1] - depth_px,
                    (body_y[0] + body_y[-1]) / 2.0)
        lab, n = ndimage.label(bone[:, :, z])
        xs, ys = np.nonzero(lab)
        ids = lab[xs, ys]
        counts = np.maximum(np.bincount(ids, minlength=n + 1), 1)
        cx = np.bincount(ids, weights=xs, minlength=n + 1) / counts
        cy = np.bincount(ids, weights=ys, minlength=n + 1) / counts
        hit = np.flatnonzero((np.abs(cx - midline_x) <= half_px) & (cy >= front))
        hit = hit[hit > 0]
        if hit.size:  # clipped to the band: the clavicles' heads touch the manubrium
            sternum[:, :, z] = np.isin(lab, hit) & band
    return sternum


def spinal_cord(bone: np.ndarray, hu: np.ndarray, body: np.ndarray, *, midline_x: float,
                spacing: tuple[float, float, float]) -> np.ndarray:
    """Per slice, the canal: of the regions enclosed by bone within 15 mm of the midline,
    centred within 8 mm of it, behind the body's antero-posterior centre, with a mean of
    −30…45 HU (cord and fluid; marrow is denser), the most posterior one."""
    half = max(1, round(15.0 / spacing[0]))
    lo, hi = max(int(midline_x) - half, 0), int(midline_x) + half + 1
    out = np.zeros_like(bone)
    band = bone[lo:hi]
    holes = fill_holes_per_slice(band, max_area_px=int(500.0 / (spacing[0] * spacing[1])))
    holes &= ~band
    for z in np.flatnonzero(holes.any(axis=(0, 1))):
        ys = np.flatnonzero(body[:, :, z].any(axis=0))
        lab, n = ndimage.label(holes[:, :, z])
        index = np.arange(1, n + 1)
        mean_hu = np.asarray(ndimage.mean(hu[lo:hi, :, z], lab, index))
        centres = np.array(ndimage.center_of_mass(lab > 0, lab, index)).reshape(-1, 2)
        centre_y = centres[:, 1]
        ok = ((mean_hu >= -30.0) & (mean_hu <= 45.0) & (centre_y < (ys[0] + ys[-1]) / 2.0)
              & (np.abs(centres[:, 0] + lo - midline_x) * spacing[0] <= 8.0))
        if ok.any():
            pick = index[ok][np.argmin(centre_y[ok])]
            out[lo:hi, :, z] = lab == pick
    return out


def smooth_in_plane(hu: np.ndarray, *, sigma_mm: float,
                    spacing: tuple[float, float, float]) -> np.ndarray:
    """float32 HU smoothed by an in-plane Gaussian of ``sigma_mm``."""
    sigma = (sigma_mm / spacing[0], sigma_mm / spacing[1], 0.0)
    return ndimage.gaussian_filter(np.asarray(hu, dtype=np.float32), sigma, mode="nearest")


def chest_cavity(lungs: np.ndarray) -> np.ndarray:
    """The lungs and what lies between them: per slice, the convex hull of both lungs."""
    from scipy.spatial import ConvexHull, QhullError

    out = lungs.copy()
    for z in np.flatnonzero(lungs.any(axis=(0, 1))):
        plane = lungs[:, :, z]
        edge = np.argwhere(plane & ~ndimage.binary_erosion(plane)).astype(float)
        try:
            facets = ConvexHull(edge).equations  # rows (a, b, c): a·x + b·y + c <= 0 inside
        except (QhullError, ValueError):  # too few or collinear points
            continue
        lo, hi = edge.min(axis=0).astype(int), edge.max(axis=0).astype(int) + 1
        xs = np.arange(lo[0], hi[0], dtype=float)[:, None, None]
        ys = np.arange(lo[1], hi[1], dtype=float)[None, :, None]
        inside = (xs * facets[:, 0] + ys * facets[:, 1] + facets[:, 2] <= 1e-9).all(axis=2)
        out[lo[0]:hi[0], lo[1]:hi[1], z] |= inside
    return out


def lung_base(lungs: np.ndarray) -> np.ndarray:
    """Per column ``(x, y)``, the lowest slice of ``lungs`` (pass the lower lobes: the
    diaphragm's height); other columns take the nearest such column's value (−1: none)."""
    has = lungs.any(axis=2)
    if not has.any():
        return np.full(has.shape, -1)
    base = np.argmax(lungs, axis=2)
    _, (ix, iy) = ndimage.distance_transform_edt(~has, return_indices=True)
    return base[ix, iy]


def _large_components(mask: np.ndarray, *, min_ml: float,
                      spacing: tuple[float, float, float]) -> np.ndarray:
    if not mask.any():
        return mask
    min_voxels = int(min_ml * 1000.0 / float(np.prod(spacing)))
    return cc3d.dust(mask, threshold=max(min_voxels, 1), connectivity=6) > 0


def heart_mask(soft: np.ndarray, cavity: np.ndarray, above: np.ndarray, spine_y: np.ndarray,
               *, carina_z: int | None, spacing: tuple[float, float, float],
               params: HostParams) -> np.ndarray:
    """Soft tissue inside the cavity, above the lung base, in front of the spine's centre,
    below the heart's top (see module doc)."""
    region = soft & cavity & above & (np.arange(soft.shape[1])[None, :, None]
                                      > spine_y[None, None, :])
    if carina_z is not None:
        top = carina_z - round(params.heart_top_below_carina_mm / spacing[2]) + 1
        region[:, :, max(top, 0):] = False
    return _large_components(region, min_ml=params.organ_min_ml, spacing=spacing)


def liver_mask(soft: np.ndarray, lungs: np.ndarray, above: np.ndarray, *, midline_x: float,
               spacing: tuple[float, float, float], params: HostParams) -> np.ndarray:
    """Soft tissue under the right lung's base, within the right lung's footprint (filled
    in plane), right of the midline: the liver's dome."""
    right = lungs & (np.arange(lungs.shape[0])[:, None, None] >= midline_x)
    footprint = ndimage.binary_fill_holes(right.any(axis=2))
    region = soft & ~above & footprint[:, :, None]
    return _large_components(region, min_ml=params.organ_min_ml, spacing=spacing)


def back_muscles(soft: np.ndarray, cavity: np.ndarray, spine_y: np.ndarray, *,
                 midline_x: float, spacing: tuple[float, float, float],
                 params: HostParams) -> np.ndarray:
    """Soft tissue behind the spine's centre, near the midline, outside the cavity."""
    x = np.arange(soft.shape[0])[:, None, None]
    y = np.arange(soft.shape[1])[None, :, None]
    near = np.abs(x - midline_x) * spacing[0] <= params.back_half_width_mm
    region = soft & ~cavity & near & (y < spine_y[None, None, :])
    return _large_components(region, min_ml=params.organ_min_ml, spacing=spacing)


def enhanced_blood(hu: np.ndarray, region: np.ndarray, *,
                   spacing: tuple[float, float, float], params: HostParams) -> np.ndarray:
    """Contrast-enhanced blood pool (bool): the thick parts of ``region`` within the
    ``contrast_blood_hu`` band (a 3-D opening by ``contrast_core_mm``, via distance
    transforms in mm), components of at least ``organ_min_ml``, grown back within the band."""
    assert params.contrast_blood_hu is not None
    low, high = params.contrast_blood_hu
    if not low < high or params.contrast_core_mm <= 0:
        raise ValueError(
            f"HostParams.contrast_blood_hu={params.contrast_blood_hu} and contrast_core_mm="
            f"{params.contrast_core_mm}: need low < high HU and a positive radius. Fix: use "
            "the enhanced blood's HU band measured on the scan, e.g. (150, 800)")
    band = region & (hu >= low) & (hu <= high)
    radius = params.contrast_core_mm
    core = ndimage.distance_transform_edt(band, sampling=spacing) > radius
    labels, n = ndimage.label(core)
    if n == 0:
        return np.zeros_like(band)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * voxel_ml
    keep = sizes >= params.organ_min_ml
    keep[0] = False
    core = keep[labels]
    grown = ndimage.distance_transform_edt(~core, sampling=spacing) <= radius + max(spacing)
    return grown & band


def tissue_labels(hu: np.ndarray, labels: np.ndarray, body: np.ndarray, *, midline_x: float,
                  carina_z: int | None, spacing: tuple[float, float, float],
                  params: HostParams) -> np.ndarray:
    """uint8 map of bone 21, sternum 122 and spinal cord 121 (with ``soft_organs`` also
    heart 115, liver 1, back muscles 104/105) over the voxels ``labels`` holds as body;
    0 elsewhere."""
    p = params
    free = labels == BODY
    lungs = np.isin(labels, LOBE_LABELS)
    cavity = chest_cavity(lungs)
    if p.contrast_blood_hu is not None:
        free = free & ~enhanced_blood(hu, free & cavity, spacing=spacing, params=p)
    bone = bone_mask(hu, free, cavity, spacing=spacing, params=p)
    spine_y = spine_centre_y(bone, body, midline_x=midline_x, spacing=spacing)
    out = np.zeros(hu.shape, dtype=np.uint8)
    if p.soft_organs:
        soft = free & ~bone & (smooth_in_plane(hu, sigma_mm=p.smooth_mm, spacing=spacing)
                               >= p.soft_hu)
        lower = np.isin(labels, (LOBE_LABEL_IDS[Lobe.RLL], LOBE_LABEL_IDS[Lobe.LLL]))
        above = np.arange(hu.shape[2])[None, None, :] >= lung_base(lower)[:, :, None]
        back = back_muscles(soft, cavity, spine_y, midline_x=midline_x, spacing=spacing,
                            params=p)
        x = np.arange(hu.shape[0])[:, None, None]
        out[back & (x < midline_x)] = LEFT_BACK_MUSCLE
        out[back & (x >= midline_x)] = RIGHT_BACK_MUSCLE
        out[liver_mask(soft, lungs, above, midline_x=midline_x, spacing=spacing,
                       params=p)] = LIVER
        out[heart_mask(soft, cavity, above, spine_y, carina_z=carina_z, spacing=spacing,
                       params=p)] = HEART
    out[bone] = BONE
    out[split_sternum(bone, lungs, body, midline_x=midline_x, spacing=spacing,
                      params=p)] = STERNUM
    out[spinal_cord(bone, hu, body, midline_x=midline_x, spacing=spacing) & free] = SPINAL_CORD
    return out
