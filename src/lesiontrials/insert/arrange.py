"""Place every nodule of one case on its host, in order, on arrays only.

Decisions (lobe, free percents, random positions) draw from the case's generator in
a fixed order; everything else is deterministic. Companions placed earlier constrain
later ones. Raises :class:`InsertionError` (or :class:`InputError` for unusable inputs)
with a reason naming the nodule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesiontrials import anatomy
from lesiontrials.errors import InputError
from lesiontrials.geometry import NoduleMask
from lesiontrials.insert.config import InsertConfig, InsertionError
from lesiontrials.insert.placement import (
    Fit,
    FitRule,
    choose_lobe,
    draw_free_percents,
    find_fit,
    level_percents,
    lobe_target,
    random_lobe_voxel,
)
from lesiontrials.insert.spec import NoduleSpec
from lesiontrials.insert.transplant import (
    equivalent_diameter_mm,
    fraction_inside,
    grids_align,
    nearest_distance_mm,
    offset_for_centroid,
    resample_donor,
    voxel_diagonal_mm,
)
from lesiontrials.insert.zones import fit_in_zone
from lesiontrials.io.volumes import Volume
from lesiontrials.measurements.host import HostAnatomy

_ADJUSTMENT_KIND = {"outside_volume": "snap", "containment": "snap", "outside_lobe": "snap",
                    "lung": "snap", "pleura": "pleural", "companion": "shift"}


@dataclass(frozen=True)
class Adjustment:
    """A change from the plan: ``snap`` (into the lobe), ``pleural`` (away from the
    pleura), ``shift`` (away from a companion), ``resample`` (native donor off-grid),
    ``native_target_mismatch`` (mask and manifest centre disagree; mask kept),
    ``beyond_max_shift`` (nothing fitted within ``max_shift_mm`` of a profile target, so
    the whole lobe was searched: a large donor in a small lobe; the shift is recorded)."""

    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Placed:
    """A nodule decided and positioned on the host grid, with what was planned."""

    spec: NoduleSpec
    nodule: NoduleMask
    planned: dict[str, Any]
    adjustments: tuple[Adjustment, ...] = ()


def arrange_case(host: HostAnatomy, affine: np.ndarray, specs: Sequence[NoduleSpec],
                 donors: Sequence[Volume], rng: np.random.Generator,
                 config: InsertConfig, *, obstacles: Sequence[NoduleMask] = ()
                 ) -> list[Placed]:
    """Place ``specs`` (with their donor masks) one after the other on ``host``.

    ``obstacles``: nodules already in the host's image (its own natives, on the host grid);
    placements in a lobe keep the companion gap from them as from placed nodules, and a
    repeat scan's grown nodule (whose position is fixed) must not touch them."""
    placed: list[Placed] = []
    for spec, donor in zip(specs, donors, strict=True):
        _check_scale(spec, config)
        if spec.placement == "native":
            item = place_native(host, affine, spec, donor, placed, config)
        elif spec.placement == "repeat":
            item = place_repeat(host, affine, spec, donor, placed, config,
                                obstacles=obstacles)
        else:
            item = place_in_lobe(host, affine, spec, donor, rng, placed, config,
                                 obstacles=obstacles)
        _check_size(item, host.spacing_mm, config)
        placed.append(item)
    return placed


def _check_scale(spec: NoduleSpec, config: InsertConfig) -> None:
    low, high = config.scale_bounds
    if not (math.isfinite(spec.scale) and low <= spec.scale <= high):
        raise InsertionError("scale_bounds", f"nodule {spec.nodule_index}: scale {spec.scale} "
                             f"is outside the allowed range [{low}, {high}]")


def _planned_common(spec: NoduleSpec, donor: Volume) -> dict[str, Any]:
    count = int(np.count_nonzero(donor.array))
    mask_diameter = equivalent_diameter_mm(count, donor.spacing_mm)
    planned_diameter = spec.planned_diameter_mm
    if not math.isfinite(planned_diameter):
        base = spec.donor_diameter_mm if math.isfinite(spec.donor_diameter_mm) else mask_diameter
        planned_diameter = base * spec.scale
    return {
        "placement": spec.placement, "diameter_mm": planned_diameter, "scale": spec.scale,
        "donor_diameter_mm": spec.donor_diameter_mm, "donor_mask_diameter_mm": mask_diameter,
        "donor_spacing_mm": list(donor.spacing_mm), "donor_mask_path": spec.donor_mask_path,
        "min_pleural_mm": spec.min_pleural_mm, "donor_mask_scope": spec.donor_mask_scope,
        # where the nodule sits in a per-scan donor mask (the renderer picks its component)
        "donor_point_mm": [float(v) for v in spec.donor_point_mm],
        "pct_fallback": [a for a in spec.pct_fallback.split(",") if a],
        "pct_fallback_rule": spec.pct_fallback_rule or None,
        # written only when there is one (a native's source), so other records keep their bytes
        **({"donor_source_mask_path": spec.donor_source_mask_path}
           if spec.donor_source_mask_path else {}),
    }


def _check_fixed_position(host: HostAnatomy, nodule: NoduleMask, placed: Sequence[Placed],
                          config: InsertConfig, *, what: str,
                          obstacles: Sequence[NoduleMask] = ()) -> None:
    """Refuse a nodule whose position is given, not searched (a native or a repeat scan's):
    it must lie on the host grid, ``config.min_inside_fraction`` of it inside the lung, and
    apart from the nodules already placed and from ``obstacles`` (the host's own nodules)
    by more than one voxel diagonal."""
    if not nodule.in_shape(host.labels.shape):
        raise InsertionError("outside_volume", f"{what} lies (partly) outside the host grid "
                             f"of {host.path}")
    inside = fraction_inside(host.labels, nodule, anatomy.LUNG_INTERIOR_LABELS)
    if inside < config.min_inside_fraction:
        raise InsertionError("outside_lung", f"{what}: only {inside:.0%} of it lies inside "
                             f"the lung of {host.path} (needs {config.min_inside_fraction:.0%})")
    touch = voxel_diagonal_mm(host.spacing_mm) + 1e-6
    for other in placed:
        if nearest_distance_mm(nodule, other.nodule, host.spacing_mm) <= touch:
            raise InsertionError("companions_touch", f"{what} and nodule "
                                 f"{other.spec.nodule_index} touch or overlap")
    for number, native in enumerate(obstacles):
        if nearest_distance_mm(nodule, native, host.spacing_mm) <= touch:
            raise InsertionError("companions_touch", f"{what} touches or overlaps the host's "
                                 f"own nodule {number} in {host.path}")


def place_native(host: HostAnatomy, affine: np.ndarray, spec: NoduleSpec, donor: Volume,
                 placed: Sequence[Placed], config: InsertConfig) -> Placed:
    """A digital twin: the donor's own voxels when its grid aligns with the host's and
    the scale is 1; otherwise the resampled donor with its centroid on the native centre
    (``target_*_mm``, or the mask's own world centroid). Never moved."""
    spacing = host.spacing_mm
    mask = donor.array > 0
    centroid_mm = donor.voxel_to_world(np.argwhere(mask).mean(axis=0))
    anchor_mm = np.asarray(spec.target_mm) if spec.has_target_mm else centroid_mm
    shift = grids_align(donor.affine, affine)
    adjustments: list[Adjustment] = []
    target = np.linalg.solve(affine[:3, :3], anchor_mm - affine[:3, 3])
    if shift is not None and abs(spec.scale - 1.0) < 1e-9:
        nodule = NoduleMask(mask, shift).tight()
        gap = float(np.linalg.norm(centroid_mm - anchor_mm))
        if gap > max(spacing):
            adjustments.append(Adjustment("native_target_mismatch", {
                "distance_mm": gap, "note": "kept the mask's own voxels"}))
    else:
        kernel = resample_donor(mask, donor.spacing_mm, spacing, scale=spec.scale)
        offset_arr = offset_for_centroid(kernel, target)
        nodule = NoduleMask(kernel, tuple(int(v) for v in offset_arr))  # type: ignore[arg-type]
        why = "scale != 1" if shift is not None else "donor grid differs from the host grid"
        adjustments.append(Adjustment("resample", {
            "reason": why, "anchor": "target_mm" if spec.has_target_mm else "mask_affine"}))
    _check_fixed_position(host, nodule, placed, config, what=f"native nodule {spec.nodule_index}")
    lobe = spec.target_lobe.value if spec.target_lobe is not None else None
    planned = {**_planned_common(spec, donor), "lobe": lobe, "lobe_source": "manifest",
               "target_mm": [float(v) for v in anchor_mm],
               "target_voxel": [float(v) for v in target]}
    return Placed(spec, nodule, planned, tuple(adjustments))


def place_repeat(host: HostAnatomy, affine: np.ndarray, spec: NoduleSpec, donor: Volume,
                 placed: Sequence[Placed], config: InsertConfig, *,
                 obstacles: Sequence[NoduleMask] = ()) -> Placed:
    """A repeat scan's nodule: the donor resampled at its grown scale (about its own
    centre) with its centroid on the prior scan's realised centre. Never moved: a grown
    nodule that no longer fits the lung fails (``outside_lung``), as a native would, and
    one that grew into the host's own nodule (``obstacles``) fails ``companions_touch``."""
    if spec.prior_problem or not spec.has_target_mm:
        raise InsertionError("prior_failed", f"repeat nodule {spec.nodule_index}: "
                             f"{spec.prior_problem or 'no prior centre'}")
    target = np.linalg.solve(affine[:3, :3], np.asarray(spec.target_mm) - affine[:3, 3])
    kernel = resample_donor(donor.array > 0, donor.spacing_mm, host.spacing_mm,
                            scale=spec.scale)
    nodule = NoduleMask(kernel, tuple(int(v) for v in offset_for_centroid(kernel, target)))  # type: ignore[arg-type]
    _check_fixed_position(host, nodule, placed, config,
                          what=f"repeat nodule {spec.nodule_index} (grown)", obstacles=obstacles)
    lobe = spec.target_lobe.value if spec.target_lobe is not None else None
    planned = {**_planned_common(spec, donor), "lobe": lobe, "lobe_source": "prior_scan",
               "target_mm": [float(v) for v in spec.target_mm],
               "target_voxel": [float(v) for v in target]}
    return Placed(spec, nodule, planned)


def place_in_lobe(host: HostAnatomy, affine: np.ndarray, spec: NoduleSpec, donor: Volume,
                  rng: np.random.Generator, placed: Sequence[Placed],
                  config: InsertConfig, *, obstacles: Sequence[NoduleMask] = ()) -> Placed:
    """Lobe + percent position (or a random lobe voxel) → the nearest fitting position."""
    if not host.lobes_present:
        raise InputError("the host label map has no lung lobes (labels 28-32)", path=host.path,
                         fix="use a host with lobe labels for non-native placement")
    if spec.target_lobe is not None:
        lobe_id, lobe_source = anatomy.LOBE_LABEL_IDS[spec.target_lobe], "manifest"
    else:
        lobe_id, lobe_source = choose_lobe(host.lobes_present, rng), "drawn"
    lobe = anatomy.LOBE_BY_LABEL[lobe_id]
    if lobe_id not in host.boxes:
        raise InsertionError("no_lobe", f"nodule {spec.nodule_index}: the host {host.path} "
                             f"has no {lobe.value}")
    kernel = resample_donor(donor.array, donor.spacing_mm, host.spacing_mm, scale=spec.scale)
    target, (cc, ml, ap), drawn = decide_target(host, spec, lobe_id, rng)
    anywhere = drawn == ["position"]  # no planned target: search the whole lobe
    region = (lobe_id,) if config.containment == "lobe" else anatomy.LUNG_INTERIOR_LABELS
    pleural = spec.min_pleural_mm if math.isfinite(spec.min_pleural_mm) else 0.0
    gap = spec.min_gap_mm if math.isfinite(spec.min_gap_mm) else config.min_gap_mm
    rule = FitRule(tuple(region), config.min_inside_fraction, max(pleural, 0.0),
                   max(gap, 0.0), config.min_lung_fraction)
    companions = [*obstacles, *(p.nodule for p in placed)]
    fit: Fit | None
    far: Adjustment | None = None
    if spec.target_zones or spec.target_position:
        fit, target, drawn = fit_in_zone(host, spec, lobe_id, kernel, target, rule, rng,
                                           companions, config, drawn)
        cc, ml, ap = level_percents(host.labels, host.boxes[lobe_id], lobe_id, target)
    else:
        fit = find_fit(host.labels, host.spacing_mm, kernel, target, rule,
                       limit=host.boxes[lobe_id], companions=companions,
                       search_start_mm=config.search_start_mm,
                       max_shift_mm=None if anywhere else config.max_shift_mm)
        if fit is None and not anywhere and config.max_shift_mm is not None:
            # the planned lobe holds it only farther away: keep the lobe, record the shift
            anywhere = True
            fit = find_fit(host.labels, host.spacing_mm, kernel, target, rule,
                           limit=host.boxes[lobe_id], companions=companions,
                           search_start_mm=config.search_start_mm, max_shift_mm=None)
            far = None if fit is None else Adjustment("beyond_max_shift", {
                "max_shift_mm": config.max_shift_mm, "shift_mm": fit.shift_mm})
    if fit is None:
        raise InsertionError("no_fit", _no_fit_reason(
            spec, lobe, kernel, host, rule, None if anywhere else config.max_shift_mm,
            companions=len(companions), containment=config.containment))
    nodule = NoduleMask(kernel, fit.offset)
    adjustments = [] if far is None else [far]
    if fit.blocked:
        adjustments.append(Adjustment(_ADJUSTMENT_KIND[fit.blocked[0]], {
            "blocked": list(fit.blocked), "shift_mm": fit.shift_mm,
            "from_voxel": [float(v) for v in target],
            "to_voxel": [float(v) for v in nodule.centroid_voxel()]}))
    planned = {**_planned_common(spec, donor), "lobe": lobe.value, "lobe_source": lobe_source,
               "lobe_pct": {"cc": cc, "ml": ml, "ap": ap}, "min_gap_mm": rule.gap_mm,
               "drawn": drawn, "zones": list(spec.target_zones),
               "position": spec.target_position or None,
               "target_voxel": [float(v) for v in target],
               "target_mm": [float(v) for v in target @ affine[:3, :3].T + affine[:3, 3]]}
    return Placed(spec, nodule, planned, tuple(adjustments))


def decide_target(host: HostAnatomy, spec: NoduleSpec, lobe_id: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, tuple[float, float, float], list[str]]:
    """The target voxel, its (cc, ml, ap) percents and what was drawn: a random lobe voxel
    (``["position"]``) for random placement or when every percent is free, else the
    percent position with its free percents drawn."""
    box = host.boxes[lobe_id]
    free = [name for name, p in zip(("cc", "ml", "ap"), (spec.cc_pct, spec.ml_pct, spec.ap_pct),
                                    strict=True) if not math.isfinite(p)]
    if spec.placement == "random" or len(free) == 3:
        target = random_lobe_voxel(host.labels, box, lobe_id, rng)
        return target, level_percents(host.labels, box, lobe_id, target), ["position"]
    given = (spec.cc_pct, spec.ml_pct, spec.ap_pct)
    if any(math.isfinite(p) and not 0.0 <= p <= 100.0 for p in given):
        raise InsertionError("percent_out_of_range", f"nodule {spec.nodule_index}: lobe "
                             f"percents {given} outside [0, 100]; re-plan the trial (the "
                             "planner draws out-of-range donor percents inside the lobe)")
    cc, ml, ap = draw_free_percents(spec.cc_pct, spec.ml_pct, spec.ap_pct, rng)
    target = lobe_target(host.labels, box, lobe_id, cc_pct=cc, ml_pct=ml, ap_pct=ap)
    return target, (cc, ml, ap), free


def _no_fit_reason(spec: NoduleSpec, lobe: anatomy.Lobe, kernel: np.ndarray,
                   host: HostAnatomy, rule: FitRule, max_shift_mm: float | None, *,
                   companions: int, containment: str) -> str:
    diameter = equivalent_diameter_mm(int(kernel.sum()), host.spacing_mm)
    lobe_voxels = int(np.count_nonzero(host.labels[host.boxes[lobe.label_id]] == lobe.label_id))
    where = ("anywhere in" if max_shift_mm is None
             else f"within {max_shift_mm:g} mm of the target in")
    text = (f"nodule {spec.nodule_index} ({diameter:.1f} mm, {int(kernel.sum())} voxels) fits "
            f"nowhere {where} the {lobe.value} of {host.path}: needs "
            f"{rule.min_inside_fraction:.0%} inside the {containment}, "
            f"{rule.min_lung_fraction:.0%} inside the lung")
    if rule.min_pleural_mm > 0:
        text += f", >= {rule.min_pleural_mm:g} mm from the pleura"
    if companions:
        text += f", > {rule.gap_mm:g} mm from {companions} companion(s)"
    if kernel.sum() > lobe_voxels or any(
            n > s.stop - s.start for n, s in zip(kernel.shape, host.boxes[lobe.label_id],
                                                 strict=True)):
        text += " (the nodule is larger than the lobe)"
    return text


def _check_size(item: Placed, spacing: tuple[float, float, float],
                config: InsertConfig) -> None:
    k, count = item.spec.nodule_index, item.nodule.voxel_count
    if count < config.min_voxels:
        raise InsertionError("too_small", f"nodule {k} has {count} voxel(s) on the host grid "
                             f"(minimum {config.min_voxels})")
    realised = equivalent_diameter_mm(count, spacing)
    planned = float(item.planned["diameter_mm"])
    tolerance = max(config.diameter_tolerance * planned, max(spacing))
    if math.isfinite(planned) and abs(realised - planned) > tolerance:
        raise InsertionError("size_mismatch", f"nodule {k}: realised diameter {realised:.1f} mm "
                             f"is far from the planned {planned:.1f} mm (tolerance "
                             f"{tolerance:.1f} mm)")
