"""A lesion's shape without a grid: a signed-distance field built once from a donor mask.

A donor mask is a stack of binary slices at the donor's own spacing (0.5…5 mm). Drawing
the lesion from that mask resampled onto the host grid makes its look depend on two grids
(flat slabs from thick-slice donors, blocky blobs from coarse phantoms). Instead, the mask
becomes a continuous shape first:

1. **Interpolation between samples.** How depends on the donor's voxels:

   - *Thick slices* (slice spacing above ``THICK_RATIO`` × the pixel): shape-based
     interpolation. Each slice gets its in-plane signed distance (mm, + inside, the
     boundary half a pixel outside the pixel centres); the stack is interpolated by a
     cubic spline, so the surface moves smoothly from one slice contour to the next (no
     kink at every slice, as linear interpolation leaves) and in-plane corners are
     rounded. The shape closes beyond the first and last slices with a dome over the end
     contour (an ellipsoidal-cap profile) whose apex lies ``min(DOME_GAPS · gap,
     DOME_DEPTHS · depth)`` beyond the end slice, ``depth`` being the end contour's
     inscribed radius: a small end contour closes about as a hemisphere, a large one
     within 0.7 of the gap to the empty slice (the next slice holds nothing, so the shape
     ends inside the gap). Chosen on ellipsoids (5…20 mm, flat, round and z-elongated)
     stored at 0.7×0.7×2.5 and ×5 mm, four sub-voxel positions each, drawn on a
     0.7×0.7×1.25 mm host: RMS difference from the 0.5 mm donor's render 120 HU with a
     fixed 0.6-gap dome and linear interpolation, 107 HU with cubic interpolation, 97.5 HU
     with this dome (0.5…1.0 gaps and 0.6…1.2 depths were tried).
   - *About isotropic voxels* (1 mm, 3 mm, the phantom's 3×3×4 mm): the mask's signed
     distance (mm, the boundary half a voxel outside the voxel centres) low-pass filtered
     by a Gaussian of ``SMOOTH_VOXELS`` (0.85) voxels per axis and interpolated by a cubic
     spline; the surface is a level set of that smooth field — the smoothest surface the
     samples allow instead of their staircase. Measured on five ellipsoids (5…16 mm,
     round, flat and elongated) at four sub-voxel positions spanning the whole voxel,
     drawn on a 0.7×0.7×1.25 mm host (`benchmarks/lesion_fidelity/grid.py`): RMS
     difference from the 0.5 mm donor's render 1.05 / 3.60 / 4.28 host-noise SD from
     1 mm / 3 mm / 3×3×4 mm donors, against 1.05 / 4.03 / 5.09 when the binary mask
     itself was filtered and interpolated trilinearly (session 5) and 1.07 / 3.63 / 4.72
     with the filtered mask and a cubic spline; 0.7 and 1.0 voxels did no better. A
     coarse mask cannot pin its shape down: the renders of all ellipsoids whose masks are
     the one given spread by 1.7–3.3 SD (the bench's ``floor``), so no reconstruction
     can bring such donors within the host noise. For thick slices the same filter
     spreads each contour over the slice gap and drew a 0.7×0.7×2.5 mm donor further
     from the reference than the per-slice interpolation does, hence the two paths.
2. **Volume kept.** The interpolated field, on a fine isotropic grid (0.25 mm, or
   radius / 40 above 20 mm), is offset by the constant that makes the enclosed volume
   equal the mask's volume (``voxels × voxel volume × scale³``): the equivalent diameter
   the insertion stage planned and measured stays the lesion's diameter.
3. **True 3-D distance.** The fine binary shape's two Euclidean distance transforms give
   the signed distance to the surface in every direction (needed for an isotropic edge
   profile: the in-plane distance of step 1 is wrong above a dome).

:func:`ShapeField.signed_distance` evaluates the field at any point (mm from the shape's
centroid); outside the stored grid it continues with the distance to the grid. Rendering
samples it several times per host voxel (:func:`subsample_shifts_mm`), so a voxel that the
surface cuts gets the covered fraction of it — partial volume — whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import edt
import numpy as np
from scipy import ndimage
from scipy.special import ndtr

FINE_STEP_MM: Final = 0.25
MAX_FINE_VOXELS: Final = 6_000_000  # larger donors get a coarser fine grid
RADIUS_STEPS: Final = 40.0  # ... and so do large ones: at least radius / 40
SUBSAMPLE_MM: Final = 0.5  # supersampling pitch on the host grid
_PAD_MM: Final = 2.0
DOME_GAPS: Final = 0.7  # apex of the end caps beyond the end slices: at most this many gaps
DOME_DEPTHS: Final = 1.0  # ... and at most this many times the end contour's inscribed radius
SMOOTH_VOXELS: Final = 0.85  # Gaussian SD of the reconstruction filter, donor voxels
THICK_RATIO: Final = 1.5  # slice spacing / pixel above which slices are "thick"
COARSE_VOXEL_FRACTION: Final = 0.02  # mask_on_grid: voxels this big a part of the shape


@dataclass(frozen=True)
class ShapeField:
    """Signed distance (mm, + inside) of a lesion on an isotropic grid of ``step_mm``;
    ``origin_mm`` is where ``sd_mm[0, 0, 0]`` lies relative to the shape's centroid."""

    sd_mm: np.ndarray
    step_mm: float
    origin_mm: tuple[float, float, float]
    volume_mm3: float

    @property
    def radius_mm(self) -> float:
        """Radius of the sphere of the same volume."""
        return float((3.0 * self.volume_mm3 / (4.0 * np.pi)) ** (1.0 / 3.0))

    @property
    def extent_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest grid points (mm from the centroid)."""
        low = np.asarray(self.origin_mm)
        return low, low + (np.asarray(self.sd_mm.shape) - 1) * self.step_mm

    def signed_distance(self, points_mm: np.ndarray) -> np.ndarray:
        """The field at ``points_mm`` (``(3, ...)``, mm from the centroid), trilinear inside
        the grid; outside it the border value minus the distance to the grid."""
        shape = points_mm.shape[1:]
        flat = points_mm.reshape(3, -1).astype(np.float64)
        coords = (flat - np.asarray(self.origin_mm)[:, None]) / self.step_mm
        upper = (np.asarray(self.sd_mm.shape) - 1)[:, None]
        clamped = np.clip(coords, 0.0, upper)
        values = ndimage.map_coordinates(self.sd_mm, clamped, order=1, mode="nearest")
        beyond = np.sqrt(((coords - clamped) ** 2).sum(axis=0)) * self.step_mm
        return (values - beyond).astype(np.float32).reshape(shape)


def _slice_signed_distance(mask: np.ndarray, spacing_mm: tuple[float, float, float]
                           ) -> np.ndarray:
    """Per-slice in-plane signed distance (mm), with one dome slice added at each end and
    ``−dome`` in empty slices (see the module docstring)."""
    sx, sy, _ = spacing_mm
    half = 0.5 * min(sx, sy)
    flat = (sx, sy, 1e7)  # a huge z spacing makes edt work slice by slice
    inside = edt.edt(mask.view(np.uint8), anisotropy=flat, black_border=True)
    outside = edt.edt((~mask).view(np.uint8), anisotropy=flat, black_border=False)
    outside = np.minimum(outside, 1e3)
    sd = np.where(mask, inside - half, -(outside - half)).astype(np.float32)
    depth = inside.max(axis=(0, 1))  # deepest inside distance of each slice
    filled = np.flatnonzero(depth > 0)
    for z in np.flatnonzero(depth == 0):  # empty slice: close like a dome
        nearest = int(filled[np.argmin(np.abs(filled - z))])
        sd[:, :, z] = -max(float(depth[nearest]), half)
        if abs(nearest - z) == 1:
            sd[:, :, z] = _dome(sd[:, :, nearest], float(depth[nearest]) - half,
                                gap_mm=float(spacing_mm[2]))
    return sd


def _dome(end: np.ndarray, apex_depth_mm: float, *, gap_mm: float) -> np.ndarray:
    """Values for the empty slice next to an end slice (in-plane signed distances ``end``)
    such that interpolation between the two crosses zero at the height of an
    ellipsoidal cap: ``h = H·sqrt(1 − (1 − d/D)²)`` gaps at depth ``d`` of ``D``
    (``h = d / (d − v)`` solved for ``v``), apex ``H = min(DOME_GAPS, DOME_DEPTHS·D /
    gap)`` gaps. Outside the end contour: ``end``."""
    apex = max(apex_depth_mm, 1e-3)
    apex_gaps = min(DOME_GAPS, DOME_DEPTHS * apex / gap_mm)
    depth = np.clip(end / apex, 0.0, 1.0)
    height = apex_gaps * np.sqrt(np.clip(1.0 - (1.0 - depth) ** 2, 1e-6, None))
    return np.where(end > 0, end - end / height, np.minimum(end, -1e-3)).astype(np.float32)


def _smooth_signed_distance(mask: np.ndarray, spacing_mm: tuple[float, float, float]
                            ) -> np.ndarray:
    """The mask's signed distance (mm, + inside; the boundary half a voxel outside the
    voxel centres) low-pass filtered by ``SMOOTH_VOXELS`` voxels per axis (float32); the
    shape is a level set of it (the level is chosen for the volume)."""
    half = 0.5 * float(np.mean(spacing_mm))
    inside = edt.edt(mask.view(np.uint8), anisotropy=spacing_mm, black_border=True)
    outside = edt.edt((~mask).view(np.uint8), anisotropy=spacing_mm, black_border=False)
    sd = np.where(mask, inside - half, -(outside - half)).astype(np.float32)
    return ndimage.gaussian_filter(sd, SMOOTH_VOXELS, mode="nearest")


def _is_thick(spacing_mm: tuple[float, ...]) -> bool:
    return spacing_mm[2] > THICK_RATIO * min(spacing_mm[0], spacing_mm[1])


def _fine_step(extent_mm: np.ndarray, step_mm: float) -> float:
    count = float(np.prod(extent_mm / step_mm + 1))
    return step_mm * max(1.0, (count / MAX_FINE_VOXELS) ** (1.0 / 3.0))


def shape_from_mask(mask: np.ndarray, spacing_mm: tuple[float, float, float], *,
                    scale: float = 1.0, step_mm: float = FINE_STEP_MM,
                    volume_mm3: float | None = None) -> ShapeField:
    """The continuous shape of a binary donor ``mask`` on ``spacing_mm`` voxels, its size
    multiplied by ``scale`` (module docstring). ``volume_mm3``: the shape's volume (after
    ``scale``) where it is known better than the mask's voxel count (``None``: the count —
    on 3 mm voxels an RMS error of 17 %, the largest part of what a coarse donor's render
    misses beyond what its mask cannot tell; ``benchmarks`` ``--parts grid_volume``).
    Raises ``ValueError`` for an empty mask, a non-positive spacing, scale or volume."""
    if volume_mm3 is not None and not volume_mm3 > 0:
        raise ValueError(f"volume {volume_mm3} mm³ must be positive")
    source = np.asarray(mask) > 0
    if not source.any():
        raise ValueError("the donor mask is empty")
    if not (scale > 0 and all(s > 0 for s in spacing_mm)):
        raise ValueError(f"spacing {spacing_mm} and scale {scale} must be positive")
    spacing = tuple(float(s) * scale for s in spacing_mm)
    box = ndimage.find_objects(source.view(np.uint8))[0]
    thick = _is_thick(spacing)
    # room for the edge (≥ 2 mm) in-plane; in z one dome slice, or the filter's reach
    pad = ([int(np.ceil(_PAD_MM / s)) + 1 for s in spacing[:2]] + [1] if thick
           else [int(np.ceil(_PAD_MM / s)) + 3 for s in spacing[:2]] + [4])
    source = np.pad(source[box], [(p, p) for p in pad])
    stack = (_slice_signed_distance(source, spacing) if thick  # type: ignore[arg-type]
             else _smooth_signed_distance(source, spacing))  # type: ignore[arg-type]
    extent = (np.asarray(source.shape) - 1) * np.asarray(spacing)
    volume = (float(source.sum()) * float(np.prod(spacing)) if volume_mm3 is None
              else float(volume_mm3))
    radius = (3.0 * volume / (4.0 * np.pi)) ** (1.0 / 3.0)
    step = _fine_step(extent, max(step_mm, radius / RADIUS_STEPS))
    axes = [np.arange(0.0, e + 1e-9, step) / s for e, s in zip(extent, spacing, strict=True)]
    interpolated = ndimage.map_coordinates(  # cubic spline (module docstring)
        stack, np.meshgrid(*axes, indexing="ij"), order=3, mode="nearest")
    inside = _one_piece(interpolated, volume / step**3)
    din = edt.edt(inside.view(np.uint8), black_border=True)
    dout = edt.edt((~inside).view(np.uint8), black_border=False)
    sd = (np.where(inside, din - 0.5, -(dout - 0.5)) * step).astype(np.float32)
    centroid = np.argwhere(inside).mean(axis=0) * step
    return ShapeField(sd_mm=sd, step_mm=step, volume_mm3=volume,
                      origin_mm=tuple(float(-c) for c in centroid))  # type: ignore[arg-type]


def _one_piece(values: np.ndarray, voxels: float) -> np.ndarray:
    """:func:`_level_for_volume`, keeping only its largest connected piece: a donor slice
    of one or two pixels at the end of a stack closes with its own small dome, which the
    volume's level can cut off from the body (a speck millimetres away). The specks and
    their 2-voxel surroundings are excluded and the level taken again, so the volume is
    still the mask's."""
    inside = _level_for_volume(values, voxels)
    pieces, count = ndimage.label(inside)
    if count <= 1:
        return inside
    sizes = np.bincount(pieces.ravel())[1:]
    stray = (pieces > 0) & (pieces != int(np.argmax(sizes)) + 1)
    values = np.where(ndimage.binary_dilation(stray, iterations=2), -np.inf, values)
    return _level_for_volume(values, voxels)


def _level_for_volume(values: np.ndarray, voxels: float) -> np.ndarray:
    """The ``voxels`` (rounded, ≥ 1) highest ``values``; ties at the level (a grid point
    half-way between two source voxels) are taken in index order."""
    keep = int(min(max(1, round(voxels)), values.size - 1))
    flat = values.ravel()
    level = np.partition(flat, flat.size - keep)[flat.size - keep]
    inside = flat > level
    tied = np.flatnonzero(flat == level)[:keep - int(inside.sum())]
    inside[tied] = True
    return inside.reshape(values.shape)


def subsample_shifts_mm(spacing_mm: tuple[float, float, float], *,
                        pitch_mm: float = SUBSAMPLE_MM) -> np.ndarray:
    """``(k, 3)`` offsets (mm) of the sub-samples that average a voxel: a regular
    ``ceil(spacing / pitch)`` lattice per axis, centred on the voxel centre."""
    per_axis = []
    for s in spacing_mm:
        k = max(1, int(np.ceil(s / pitch_mm - 1e-9)))
        per_axis.append(((np.arange(k) + 0.5) / k - 0.5) * s)
    grid = np.meshgrid(*per_axis, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1)


#: The slice profile's Gaussian is followed this many SDs either side of its box.
PROFILE_REACH_SD: Final = 3.0


def slice_profile_samples(box_mm: float, gauss_mm: float, *, pitch_mm: float = SUBSAMPLE_MM
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Offsets along z (mm, from the slice centre) and weights (summing to 1) that average
    a continuous shape over a slice profile: a box of ``box_mm`` convolved with a Gaussian
    of SD ``gauss_mm``. A regular lattice of pitch ≤ ``pitch_mm`` over the box and
    :data:`PROFILE_REACH_SD` SDs either side, each weighted by the profile at its position
    (midpoint rule); with ``gauss_mm = 0`` it is :func:`subsample_shifts_mm`'s lattice over
    the box, equally weighted. Sampled this way rather than by blurring the sampled slices,
    because a Gaussian under about one slice spacing has no faithful kernel on that grid
    (sampled, a 1.6 mm SD on 5 mm slices keeps 0.6 mm)."""
    if not (box_mm > 0 and gauss_mm >= 0):
        raise ValueError(f"slice profile box {box_mm} mm and SD {gauss_mm} mm: box must be "
                         "positive and SD non-negative")
    width = box_mm + 2.0 * PROFILE_REACH_SD * gauss_mm
    k = max(1, int(np.ceil(width / pitch_mm - 1e-9)))
    z = ((np.arange(k) + 0.5) / k - 0.5) * width
    if gauss_mm == 0:
        return z, np.full(k, 1.0 / k)
    weights = (ndtr((z + 0.5 * box_mm) / gauss_mm) - ndtr((z - 0.5 * box_mm) / gauss_mm))
    return z, weights / weights.sum()


def covered_fraction(field: ShapeField, spacing_mm: tuple[float, float, float], *,
                     pitch_mm: float = SUBSAMPLE_MM,
                     offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """The fraction (0…1, float32) of every voxel of a ``spacing_mm`` grid that the shape
    covers, on a box holding the whole shape; the shape's centroid lies ``offset_mm`` from
    the centre of the box's middle voxel. Averaged over :func:`subsample_shifts_mm` (pitch
    ≤ ``pitch_mm``), so it is the shape's partial volume on that grid, whatever grid the
    shape came from."""
    low, high = field.extent_mm
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    half = np.ceil(np.maximum(-low, high) / spacing).astype(int) + 2
    axes = [np.arange(-h, h + 1) * s - o for h, s, o in zip(half, spacing, offset_mm,
                                                            strict=True)]
    centres = np.stack(np.meshgrid(*axes, indexing="ij")).astype(np.float32)
    total = np.zeros(centres.shape[1:], dtype=np.float32)
    shifts = subsample_shifts_mm(spacing_mm, pitch_mm=pitch_mm)
    for shift in shifts.astype(np.float32):
        total += field.signed_distance(centres + shift[:, None, None, None]) > 0
    return total / np.float32(len(shifts))


def mask_on_grid(field: ShapeField, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """The shape as a tight boolean mask on a ``spacing_mm`` grid: voxels that it covers
    at least half of (:func:`covered_fraction`). Where a voxel holds more than
    ``COARSE_VOXEL_FRACTION`` of the shape's volume the count depends on where the shape
    sits in its voxels, so the centroid is put at the voxel centre or half a voxel off it
    per axis — whichever of the eight keeps the shape's volume best (the first on a tie;
    on finer grids the centre). Measured on the 12×10×9 mm ellipsoid from 0.35×0.35×2.5 mm
    outlines, rendered from its 3×3×4 mm mask: 7.5–9.3 host-noise SD from the 0.5 mm
    donor's render at the centre, 5.2–5.4 with the choice (on 0.7×0.7×1.25 mm the choice
    did worse, 1.9 against 1.7 SD). The covered fraction is sampled 3 times per axis on
    coarse voxels (pitch ``max(0.5 mm, voxel / 3)``): only its side of one half matters. A
    shape smaller than half a voxel keeps its most covered voxel, so a nodule never
    vanishes."""
    coarse = float(np.prod(spacing_mm)) > COARSE_VOXEL_FRACTION * field.volume_mm3
    best: tuple[float, np.ndarray] | None = None
    for offset in np.ndindex(2, 2, 2) if coarse else [(0, 0, 0)]:
        shift = tuple(0.5 * o * s for o, s in zip(offset, spacing_mm, strict=True))
        fraction = covered_fraction(field, spacing_mm, offset_mm=shift,
                                    pitch_mm=max(SUBSAMPLE_MM, min(spacing_mm) / 3.0))
        error = abs(float((fraction >= 0.5).sum()) * float(np.prod(spacing_mm))
                    - field.volume_mm3)
        if best is None or error < best[0]:
            best = (error, fraction)
    assert best is not None
    fraction = best[1]
    mask = fraction >= 0.5
    if not mask.any():
        mask = np.zeros(fraction.shape, dtype=bool)
        mask[np.unravel_index(int(np.argmax(fraction)), fraction.shape)] = True
    box = ndimage.find_objects(mask.view(np.uint8))[0]
    return np.ascontiguousarray(mask[box])
