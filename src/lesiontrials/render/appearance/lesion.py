"""Lesion appearance from descriptors: decide the parameters, then draw them.

:func:`sample_lesion_params` draws everything random about one lesion (HU levels, core
position, lobulation and spicule directions, calcification foci, texture seed) from an
explicit generator; :func:`lesion_layer` turns those parameters and the realised mask into
an opacity map and a HU map on a crop of the host grid. A backend composites the layer
over its background: ``hu = background·(1 − α) + lesion_hu·α``.

HU targets (non-contrast, before blur and noise): solid core 35 HU (10…60), ground glass
−600 HU (−700…−450), calcium 500…900 HU, fat −90 HU, fluid 10 HU, cavity air −950 HU.
Edge: a lesion is blurred by the host's own system response — the blur its vessel edges
show (:mod:`lesiontrials.vessel_edges`) — and its margin adds an intrinsic width on top
(Gaussian SD ``MARGIN_EDGE_MM_PER_SCORE × (5 − margin)``, added in quadrature): margin 5
(sharp) adds nothing, so a sharp lesion is exactly as sharp as the host's vessels; margin 1
(poorly defined) adds 1.8 mm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lesiontrials.anatomy import Texture
from lesiontrials.geometry import Box, NoduleMask, expand_box, margin_voxels
from lesiontrials.lesion_text.descriptors import Calcification, Internal, LesionDescriptors
from lesiontrials.render.appearance.fields import smooth_field
from lesiontrials.render.appearance.lesion_shape import (
    ball_opacity,
    lobulation_offset_mm,
    segment_distance,
    segment_opacity,
    soft_edge,
    unit_directions,
)
from lesiontrials.render.appearance.lesion_texture import copula_texture
from lesiontrials.shape_field import (
    PROFILE_REACH_SD,
    SUBSAMPLE_MM,
    ShapeField,
    shape_from_mask,
    slice_profile_samples,
    subsample_shifts_mm,
)

SOLID_HU = (35.0, 10.0, 60.0)  # mean, low, high
GGO_HU = (-600.0, -700.0, -450.0)
CALCIUM_HU = (500.0, 900.0)
SPICULE_TIP_MM = 0.3  # strand width at its tip
SPICULE_EDGE_MM = 0.3  # the strand's edge (segment_opacity's default)
MARGIN_EDGE_MM_PER_SCORE = 0.45  # intrinsic edge SD per margin score below 5 (sharp)
#: The narrowest edge the layer is drawn with (SD, mm): half the sub-sample pitch (≤ 0.5 mm),
#: so the supersampled opacity integrates the edge instead of aliasing a hard step; a
#: backend that blurs the layer takes this much (``anti_alias_variance``) out of its blur.
MIN_EDGE_MM = 0.25
INTERNAL_HU = {Internal.FAT: -90.0, Internal.FLUID: 10.0, Internal.AIR: -950.0}


@dataclass(frozen=True)
class LesionParams:
    """Everything decided about one lesion's appearance (mm, HU)."""

    descriptors: LesionDescriptors
    solid_hu: float
    ggo_hu: float
    edge_mm: float  # intrinsic edge SD (mm) the margin adds to the host's blur
    core_offset: tuple[float, float, float]  # fraction of the radius
    lobe_axes: tuple[tuple[float, float, float], ...]
    lobe_weights: tuple[float, ...]
    spicules: tuple[tuple[tuple[float, float, float], float, float], ...]  # dir, length, width
    calc_hu: float
    calc_foci: tuple[tuple[tuple[float, float, float], float], ...]  # centre (× R), radius (× R)
    texture_seed: int
    texture_sd_hu: float
    # Gaussian SD (mm) of the texture's smoothing; 0: max(0.6 voxel, 1 mm) per axis
    texture_scale_mm: float = 0.0
    # a real lesion's own HU distribution (quantiles about the mean, lesion_texture.py):
    # when given, the texture is this copula instead of texture_sd_hu × a Gaussian field
    texture_quantiles_hu: tuple[float, ...] = ()

    def summary(self) -> dict[str, float | int | str]:
        return {"solid_hu": round(self.solid_hu, 1), "ggo_hu": round(self.ggo_hu, 1),
                "edge_mm": round(self.edge_mm, 2), "spicules": len(self.spicules),
                "calc_hu": round(self.calc_hu, 1), "calc_foci": len(self.calc_foci),
                "texture_sd_hu": round(self.texture_sd_hu, 1),
                "texture_source": "donor_hu" if self.texture_quantiles_hu else "descriptor"}


@dataclass(frozen=True)
class LesionLayer:
    """Opacity ``alpha`` and ``hu`` of one lesion on ``box`` of the host grid."""

    box: Box
    alpha: np.ndarray
    hu: np.ndarray
    target_mean_hu: float  # mean drawn HU over the mask (no background, blur or noise)
    lighten: bool = False  # sub-solid: raise density only, vessels inside stay visible


def _unit(rng: np.random.Generator) -> tuple[float, float, float]:
    v = rng.standard_normal(3)
    v /= np.linalg.norm(v) or 1.0
    return (float(v[0]), float(v[1]), float(v[2]))


def _calc_foci(d: LesionDescriptors, rng: np.random.Generator
               ) -> tuple[tuple[tuple[float, float, float], float], ...]:
    pattern = d.calcification
    if pattern is Calcification.CENTRAL:
        return (((0.0, 0.0, 0.0), 0.4),)
    if pattern is Calcification.ECCENTRIC:
        v = np.asarray(_unit(rng)) * 0.5
        return ((tuple(float(x) for x in v), 0.35),)  # type: ignore[return-value]
    if pattern is Calcification.POPCORN:
        foci = []
        for _ in range(int(rng.integers(4, 8))):
            v = np.asarray(_unit(rng)) * rng.uniform(0.1, 0.6)
            foci.append((tuple(float(x) for x in v), float(rng.uniform(0.15, 0.25))))
        return tuple(foci)  # type: ignore[arg-type]
    return ()


def sample_lesion_params(descriptors: LesionDescriptors, *, rng: np.random.Generator,
                         texture_quantiles_hu: tuple[float, ...] = ()) -> LesionParams:
    """Decide one lesion's appearance from its descriptors (all randomness is here).
    ``texture_quantiles_hu``: the donor's own texture where it has one
    (:mod:`~lesiontrials.render.appearance.texture_source`); it replaces the descriptors'
    Gaussian texture (the same draws are made either way)."""
    d = descriptors
    spic_count = round(3.0 * (d.spiculation - 1.0)) + (int(rng.integers(0, 3))
                                                       if d.spiculation > 1.5 else 0)
    spicules = tuple((_unit(rng), float(rng.uniform(0.5, 1.1) * (0.3 + 0.2 * d.spiculation)),
                      float(rng.uniform(0.7, 1.2))) for _ in range(spic_count))
    n_lobes = int(rng.integers(3, 7)) if d.lobulation > 1.5 else 0
    textured = 60.0 if d.attenuation is Texture.GROUND_GLASS else 35.0
    return LesionParams(
        descriptors=d,
        solid_hu=float(np.clip(rng.normal(SOLID_HU[0], 8.0), SOLID_HU[1], SOLID_HU[2])),
        ggo_hu=float(np.clip(rng.normal(GGO_HU[0], 40.0), GGO_HU[1], GGO_HU[2])),
        edge_mm=MARGIN_EDGE_MM_PER_SCORE * (5.0 - d.margin),
        core_offset=tuple(float(x) * rng.uniform(0.0, 0.3) for x in _unit(rng)),  # type: ignore[arg-type]
        lobe_axes=tuple(_unit(rng) for _ in range(n_lobes)),
        lobe_weights=tuple(float(w) for w in rng.uniform(0.5, 1.0, n_lobes)),
        spicules=spicules,
        calc_hu=float(rng.uniform(*CALCIUM_HU)),
        calc_foci=_calc_foci(d, rng),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
        texture_sd_hu=textured * d.heterogeneity,
        texture_quantiles_hu=tuple(texture_quantiles_hu),
    )


def mask_in_box(mask: NoduleMask, box: Box) -> np.ndarray:
    """The part of ``mask`` inside ``box`` of the host grid, as a boolean array of its size."""
    out = np.zeros(tuple(s.stop - s.start for s in box), dtype=bool)
    src = tuple(slice(max(b.start, m.start), min(b.stop, m.stop))
                for b, m in zip(box, mask.box, strict=True))
    if any(s.stop <= s.start for s in src):
        return out
    out[tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(src, box, strict=True))
        ] = mask.mask[tuple(slice(s.start - m.start, s.stop - m.start)
                            for s, m in zip(src, mask.box, strict=True))]
    return out


def _pad_mm(params: LesionParams, radius_mm: float) -> float:
    longest = max((length for _, length, _ in params.spicules), default=0.0)
    return 3.0 * params.edge_mm + longest * radius_mm + 2.0


def _layer_box(tight: NoduleMask, centroid: np.ndarray, field: ShapeField, pad_mm: float,
               spacing_mm: tuple[float, float, float], shape: tuple[int, int, int]) -> Box:
    """The mask's box and the field's extent around ``centroid`` (host voxels), grown by
    ``pad_mm`` and clipped to the volume."""
    low, high = field.extent_mm
    spacing = np.asarray(spacing_mm)
    lo = np.floor(centroid + (low - pad_mm) / spacing).astype(int)
    hi = np.ceil(centroid + (high + pad_mm) / spacing).astype(int) + 1
    grown = expand_box(tight.box, margin_voxels(pad_mm, spacing_mm), shape)
    return tuple(slice(max(0, min(int(a), g.start)), min(n, max(int(b), g.stop)))  # type: ignore[return-value]
                 for a, b, g, n in zip(lo, hi, grown, shape, strict=True))


def drawn_edge_mm(params: LesionParams) -> float:
    """The edge SD (mm) the layer is drawn with: the margin's, at least ``MIN_EDGE_MM``."""
    return max(params.edge_mm, MIN_EDGE_MM)


def anti_alias_variance(params: LesionParams) -> float:
    """The edge variance (mm²) drawn beyond the margin's own (``MIN_EDGE_MM`` at a sharp
    margin): what a backend's blur of the layer leaves out so the total is unchanged."""
    return drawn_edge_mm(params) ** 2 - params.edge_mm**2


def with_host_edge(params: LesionParams, host_edge_mm: float) -> LesionParams:
    """``params`` with the host's own edge blur (SD, mm) added in quadrature to the
    margin's: for a renderer that blurs the lesion with its scanner model but whose
    anatomy (vessels) is drawn with a softer edge than that model alone gives."""
    if host_edge_mm <= 0:
        return params
    return replace(params, edge_mm=float(np.hypot(params.edge_mm, host_edge_mm)))


def lesion_layer(params: LesionParams, *, mask: NoduleMask,
                 spacing_mm: tuple[float, float, float],
                 shape: tuple[int, int, int], field: ShapeField | None = None,
                 z_profile_mm: tuple[float, float] | None = None) -> LesionLayer:
    """Draw one lesion: opacity and HU on a crop of the host grid around ``mask``.

    ``field`` is the lesion's continuous shape (from its donor mask at the donor's own
    resolution, :func:`~lesiontrials.shape_field.shape_from_mask`); without one
    the shape is built from ``mask`` itself. Its centroid is put on the mask's centroid; the
    opacity is averaged over sub-samples of every voxel (partial volume); its edge is the
    margin's intrinsic width ``params.edge_mm`` (0 for a sharp margin: the host's blur,
    applied by the backend, is then the only one), drawn at least ``MIN_EDGE_MM`` wide
    against aliasing (:func:`anti_alias_variance`). ``z_profile_mm``: the slice's own
    profile along z, ``(box, Gaussian SD)`` in mm, that each slice's opacity is averaged
    over (:func:`~lesiontrials.render.backends.hostct.slice_profile`,
    :func:`~lesiontrials.shape_field.slice_profile_samples`); ``None``: the voxel."""
    tight = mask.tight()
    field = field if field is not None else shape_from_mask(tight.mask, spacing_mm)
    radius = max(field.radius_mm, 0.5)
    centroid = tight.centroid_voxel()
    reach = 0.0 if z_profile_mm is None else max(0.0, 0.5 * (
        z_profile_mm[0] + 2.0 * PROFILE_REACH_SD * z_profile_mm[1] - spacing_mm[2]))
    box = _layer_box(tight, centroid, field, _pad_mm(params, radius) + reach, spacing_mm,
                     shape)
    crop_mask = mask_in_box(tight, box)
    start = np.asarray([s.start for s in box], dtype=np.float64)
    offsets = np.stack(np.meshgrid(*[
        ((np.arange(s.stop - s.start) + a - c) * d).astype(np.float32)
        for s, a, c, d in zip(box, start, centroid, spacing_mm, strict=True)],
        indexing="ij"))
    alpha = lesion_opacity(params, field, offsets, spacing_mm, z_profile_mm=z_profile_mm)
    hu = _lesion_hu(params, offsets, radius, spacing_mm)
    target = float(hu[crop_mask].mean()) if crop_mask.any() else float(params.solid_hu)
    lighten = (params.descriptors.attenuation is not Texture.SOLID
               and params.descriptors.internal is not Internal.AIR)
    return LesionLayer(box=box, alpha=alpha, hu=hu, target_mean_hu=target, lighten=lighten)


def _shaped_distance(params: LesionParams, field: ShapeField, points_mm: np.ndarray
                     ) -> np.ndarray:
    """The field's signed distance at ``points_mm`` plus the lobulation bump (mm)."""
    sd = field.signed_distance(points_mm)
    amplitude = 0.18 * max(field.radius_mm, 0.5) * (params.descriptors.lobulation - 1.0) / 4.0
    if amplitude > 0 and params.lobe_axes:
        sd += lobulation_offset_mm(unit_directions(points_mm),
                                   np.asarray(params.lobe_axes, dtype=np.float32).reshape(-1, 3),
                                   np.asarray(params.lobe_weights, dtype=np.float32), amplitude)
    return sd


def lesion_opacity(params: LesionParams, field: ShapeField, offsets_mm: np.ndarray,
                   spacing_mm: tuple[float, float, float], *,
                   z_profile_mm: tuple[float, float] | None = None) -> np.ndarray:
    """Opacity 0…1 of the lesion in each voxel whose centre is at ``offsets_mm`` (``(3,
    *crop)``, mm from the centroid): the shape (lobulated by a radial bump), its edge
    (``params.edge_mm``) and spicule strands, averaged over a sub-sample lattice of pitch
    ≤ 0.5 mm per voxel so that the covered fraction, not the voxel centre, decides. Only
    voxels whose centre lies within half a voxel diagonal + 3 edge widths of the surface or
    of a strand are sub-sampled (each strand only near itself); elsewhere the opacity is
    flat across the voxel (0 or 1 to within 0.2 %) and the centre's value is used.
    ``z_profile_mm``: along z the sub-samples follow this slice profile instead of the
    voxel (see :func:`lesion_layer`)."""
    shifts, weights = _subsamples(spacing_mm, z_profile_mm)
    reach_z = 2.0 * float(np.abs(shifts[:, 2]).max()) + 1e-3
    if z_profile_mm is not None:
        spacing_mm = (spacing_mm[0], spacing_mm[1], max(spacing_mm[2], reach_z))
    radius = max(field.radius_mm, 0.5)
    edge = drawn_edge_mm(params)
    strands = [(np.asarray(v, dtype=np.float32) * 0.7 * radius,
                np.asarray(v, dtype=np.float32) * (1.0 + length) * radius, width)
               for v, length, width in params.spicules]
    half_diagonal = 0.5 * float(np.linalg.norm(spacing_mm))
    centre_sd = _shaped_distance(params, field, offsets_mm)
    alpha = soft_edge(centre_sd, edge)
    need = np.abs(centre_sd) < half_diagonal + 3.0 * edge
    near_strand = []
    for start, end, width in strands:
        np.maximum(alpha, segment_opacity(offsets_mm, start, end, width, SPICULE_TIP_MM),
                   out=alpha)
        distance, _ = segment_distance(offsets_mm, start, end)
        near = distance < width + 3.0 * SPICULE_EDGE_MM + half_diagonal
        near_strand.append(near)
        need |= near
    points = offsets_mm[:, need]
    strand_points = [np.flatnonzero(near[need]) for near in near_strand]
    total = np.zeros(points.shape[1], dtype=np.float32)
    for shift, weight in zip(shifts, weights, strict=True):
        moved = points + shift[:, None]
        sample = soft_edge(_shaped_distance(params, field, moved), edge)
        for (start, end, width), index in zip(strands, strand_points, strict=True):
            strand = segment_opacity(moved[:, index], start, end, width, SPICULE_TIP_MM)
            sample[index] = np.maximum(sample[index], strand)
        total += sample if weight is None else sample * weight
    alpha[need] = total if z_profile_mm is not None else total / np.float32(len(shifts))
    return alpha


def _subsamples(spacing_mm: tuple[float, float, float],
                z_profile_mm: tuple[float, float] | None
                ) -> tuple[np.ndarray, list[np.float32] | list[None]]:
    """The sub-sample offsets (``(k, 3)`` mm, float32) of :func:`lesion_opacity` and their
    weights: the voxel's lattice, equally weighted (``None`` weights: the plain mean), or
    in-plane the voxel's and along z the slice profile's."""
    if z_profile_mm is None:
        shifts = subsample_shifts_mm(spacing_mm).astype(np.float32)
        return shifts, [None] * len(shifts)
    in_plane = subsample_shifts_mm((spacing_mm[0], spacing_mm[1], SUBSAMPLE_MM))  # z = 0
    z, w = slice_profile_samples(*z_profile_mm)
    shifts = np.repeat(in_plane, len(z), axis=0)
    shifts[:, 2] = np.tile(z, len(in_plane))
    weights = np.tile(w, len(in_plane)) / len(in_plane)
    return shifts.astype(np.float32), [np.float32(x) for x in weights]


def _lesion_hu(params: LesionParams, offsets: np.ndarray, radius: float,
               spacing_mm: tuple[float, float, float]) -> np.ndarray:
    d = params.descriptors
    shape = offsets.shape[1:]
    if d.attenuation is Texture.SOLID:
        hu = np.full(shape, params.solid_hu, dtype=np.float32)
    else:
        hu = np.full(shape, params.ggo_hu, dtype=np.float32)
        if d.attenuation is Texture.PART_SOLID and d.solid_fraction > 0:
            centre = np.asarray(params.core_offset) * radius
            core = ball_opacity(offsets, centre, d.solid_fraction * radius, edge_mm=0.4)
            hu += (params.solid_hu - params.ggo_hu) * core
    if params.texture_sd_hu > 0 or params.texture_quantiles_hu:
        sigma = tuple(max(0.6, 1.0 / s) if params.texture_scale_mm <= 0
                      else max(0.6, params.texture_scale_mm / s) for s in spacing_mm)
        field = smooth_field(params.texture_seed, shape, sigma)
        hu += (copula_texture(field, params.texture_quantiles_hu)
               if params.texture_quantiles_hu else params.texture_sd_hu * field)
    if d.internal in INTERNAL_HU:
        pocket = ball_opacity(offsets, np.zeros(3), 0.4 * radius)
        hu += (INTERNAL_HU[d.internal] - hu) * pocket
    _add_calcium(hu, params, offsets, radius)
    return hu


def _add_calcium(hu: np.ndarray, params: LesionParams, offsets: np.ndarray,
                 radius: float) -> None:
    pattern = params.descriptors.calcification
    if pattern is Calcification.NONE:
        return
    if pattern is Calcification.DIFFUSE:
        hu[...] = params.calc_hu + 0.5 * (hu - params.solid_hu)
        return
    if pattern is Calcification.LAMINATED:
        r = np.sqrt((offsets**2).sum(axis=0)) / max(radius, 1e-3)
        rings = np.clip((np.cos(2 * np.pi * r * 3.0) - 0.3) / 0.7, 0.0, 1.0) * (r < 0.85)
        hu += (params.calc_hu - hu) * rings.astype(np.float32)
        return
    calc = np.zeros(hu.shape, dtype=np.float32)
    for centre, size in params.calc_foci:
        np.maximum(calc, ball_opacity(offsets, np.asarray(centre) * radius, size * radius),
                   out=calc)
    hu += (params.calc_hu - hu) * calc


def composite(volume: np.ndarray, layer: LesionLayer) -> None:
    """Draw ``layer`` over ``volume`` in place inside its box: ``v + α·(hu − v)``, or for
    sub-solid lesions ``v + α·max(hu − v, 0)`` (denser structures inside stay visible)."""
    region = volume[layer.box]
    change = layer.hu - region
    if layer.lighten:
        np.maximum(change, 0.0, out=change)
    region += layer.alpha * change
