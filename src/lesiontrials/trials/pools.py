"""Who is eligible: donor and host pools for a spec, as boolean masks (vectorised).

Every constraint of the spec is applied here or refused. Constraints that a donor
without a known location (donor-only datasets such as LIDC) cannot be checked against
are recorded as warnings for the plan audit, never silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.errors import InputError
from lesiontrials.index.query import NoduleIndex
from lesiontrials.trials.spec import DatasetFilter, TrialSpec
from lesiontrials.trials.templates import get_template


@dataclass
class PlanContext:
    """The nodule index and the host catalogue that plans draw from; with ``data_root``
    (where the hosts' label maps are), nodules too large for their planned lobe are moved
    to one that holds them (:mod:`lesiontrials.trials.capacity`)."""

    index: NoduleIndex
    hosts: pd.DataFrame
    data_root: Path | None = None
    _host_arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _capacities: dict[int, dict[str, float]] = field(default_factory=dict, repr=False)

    def lobe_capacity(self, host: int) -> dict[str, float]:
        """Per lobe, the ball diameter (mm) host row ``host``'s lobe holds (measured once
        per host from its label map; ``{}`` without a data root or label map)."""
        if host not in self._capacities:
            from lesiontrials.io import read_volume
            from lesiontrials.trials.capacity import lobe_capacity_mm

            rel = str(self.host_array("host_seg_path")[host])
            path = self.data_root / rel if self.data_root is not None and rel else None
            if path is None or not path.is_file():
                self._capacities[host] = {}
            else:
                labels = read_volume(path)
                self._capacities[host] = lobe_capacity_mm(labels.array, labels.spacing_mm)
        return self._capacities[host]

    def host_array(self, column: str) -> np.ndarray:
        if column not in self._host_arrays:
            series = self.hosts[column]
            if pd.api.types.is_numeric_dtype(series):
                self._host_arrays[column] = series.to_numpy(dtype=float, na_value=np.nan)
            else:
                self._host_arrays[column] = series.astype(object).fillna("").to_numpy()
        return self._host_arrays[column]

    def host_natives(self) -> np.ndarray:
        """Per host row, the JSON list of its scan's indexed nodules with masks (``uid``,
        ``mask_path``, ``mask_scope``, ``point_mm``) when the host has a raw CT — the image
        that will show them — else ``"[]"``; placement keeps inserted nodules away."""
        key = "_natives"
        if key not in self._host_arrays:
            table = self.index.table
            rows = table[table["mask_available"]]
            by_scan: dict[tuple[str, str], list[dict[str, object]]] = {}
            for row in rows.itertuples(index=False):
                by_scan.setdefault((str(row.dataset), str(row.ct_id)), []).append({
                    "uid": str(row.nodule_uid), "mask_path": str(row.mask_path),
                    "mask_scope": str(row.mask_scope),
                    "point_mm": [float(row.coordX), float(row.coordY), float(row.coordZ)]})
            out = [json.dumps(by_scan.get((str(d), str(c)), []) if ct else [], sort_keys=True)
                   for d, c, ct in zip(self.host_array("host_dataset"),
                                       self.host_array("host_ct_id"),
                                       self.host_array("host_ct_path"), strict=True)]
            self._host_arrays[key] = np.array(out, dtype=object)
        return self._host_arrays[key]

    @property
    def donor_datasets(self) -> list[str]:
        return sorted(set(self.index.array("dataset").tolist()))

    @property
    def host_datasets(self) -> list[str]:
        return sorted(set(self.host_array("host_dataset").tolist()))


def _dataset_mask(values: np.ndarray, selection: DatasetFilter, known: list[str],
                  what: str) -> np.ndarray:
    for name in (*selection.include, *selection.exclude):
        if name not in known:
            raise InputError(f"unknown {what} dataset {name!r}; known: {known}",
                             column=f"{what}s.include" if name in selection.include
                             else f"{what}s.exclude",
                             fix="use a dataset name from `lesiontrials index stats`")
    keep = np.isin(values, selection.include) if selection.include else np.ones(len(values), bool)
    return keep & ~np.isin(values, selection.exclude)


def _within(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.isfinite(values) & (values >= low) & (values <= high)


def listed_donors(index: NoduleIndex, uids: list[str]) -> np.ndarray:
    """Rows of the listed nodule uids; an unknown uid is an error naming it."""
    known = index.array("nodule_uid")
    missing = sorted(set(uids) - set(known.tolist()))
    if missing:
        raise InputError(f"{len(missing)} donor_uids are not in the nodule index: "
                         f"{missing[:5]}", column="donor_uids",
                         fix="use nodule_uid values from `lesiontrials index query` (and "
                         "rebuild the index if the list came from another one)")
    return np.isin(known, uids)


def donor_pool(ctx: PlanContext, spec: TrialSpec, warnings: list[str]) -> np.ndarray:
    """Donors that satisfy every donor-side constraint of ``spec``."""
    index = ctx.index
    keep = _dataset_mask(index.array("dataset"), spec.donors, ctx.donor_datasets, "donor")
    keep &= index.array("mask_available")
    if spec.donor_uids:
        keep &= listed_donors(index, spec.donor_uids)
    diameter = index.array("nodule_mean_diam_mm")
    size = spec.size.diameter_mm
    if size.is_set:
        keep &= _within(diameter, size.low(0.0), size.high())
    stated = spec.stated_diameter_mm
    if stated is not None:  # donors that reach the stated size within the scaling bounds
        low, high = spec.scaling.bounds
        keep &= _within(diameter, stated / high, stated / low)
    keep &= np.isfinite(diameter) & (diameter > 0)
    located = index.array("lobe_name") != ""
    constraints = _location_constraints(index, spec)
    for name, ok in constraints.items():
        unlocated = int((keep & ~located).sum())
        if name == "pleural_distance_mm" and spec.pleural_distance_mm.max is not None:
            if unlocated:  # placement keeps a minimum only: a maximum cannot be realised
                warnings.append(f"pleural_distance_mm: {unlocated} eligible donors have no "
                                "known location and are excluded (placement cannot realise "
                                "a maximum pleural distance)")
            keep &= ok
            continue
        if unlocated:
            warnings.append(f"{name}: {unlocated} eligible donors have no known location "
                            f"(donor-only datasets); {_REALISED.get(name, _REALISED['other'])}")
        keep &= ok | ~located
    return keep


_REALISED = {
    "zones": "placement draws their position inside the zones and verifies the realised one",
    "position": "placement draws their position at that position and verifies the realised one",
    "sides": "their lobe is drawn on the requested side",
    "lobes": "their lobe is drawn from the requested lobes",
    "pleural_distance_mm": "placement keeps them at least the minimum from the pleura",
    "other": "placement applies it to their target",
}


def _location_constraints(index: NoduleIndex, spec: TrialSpec) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if spec.zones:
        out["zones"] = np.isin(index.array("lung_zone"), spec.zones)
    if spec.sides:
        out["sides"] = np.isin(index.array("lung_side"), spec.sides)
    if spec.position:
        out["position"] = index.array("central_peripheral") == spec.position
    if spec.pleural_distance_mm.is_set:
        out["pleural_distance_mm"] = _within(index.array("pleural_distance_mm"),
                                             spec.pleural_distance_mm.low(0.0),
                                             spec.pleural_distance_mm.high())
    if spec.lobes and spec.placement.mode == "profile_faithful":
        wanted = [lobe for lobe, w in spec.lobes.items() if w > 0]
        out["lobes"] = np.isin(index.array("reinsertion_lobe"), wanted)
    return out


def host_pool(ctx: PlanContext, spec: TrialSpec, warnings: list[str]) -> np.ndarray:
    """Hosts that satisfy the host dataset filter and the demographic constraints."""
    keep = _dataset_mask(ctx.host_array("host_dataset"), spec.hosts, ctx.host_datasets, "host")
    demo = spec.demographics
    age_range = demo.age
    if spec.template and not age_range.is_set:
        low, high = get_template(spec.template).age_range
        age_range = age_range.model_copy(update={"min": low, "max": high})
    checks = {
        "demographics.age": (age_range.is_set,
                             lambda: _within(ctx.host_array("age"), age_range.low(),
                                             age_range.high())),
        "demographics.sex": (bool(demo.sex), lambda: np.isin(ctx.host_array("sex"), demo.sex)),
        "demographics.smoking_status": (bool(demo.smoking_status), lambda: np.isin(
            ctx.host_array("smoking_status"), demo.smoking_status)),
        "demographics.pack_years": (demo.pack_years.is_set, lambda: _within(
            ctx.host_array("pack_years"), demo.pack_years.low(), demo.pack_years.high())),
    }
    for name, (active, test) in checks.items():
        if active:
            passed = test()
            dropped = int((keep & ~passed).sum())
            if dropped and spec.template and name == "demographics.age" and not demo.age.is_set:
                warnings.append(f"template {spec.template} age range removed {dropped} hosts")
            keep &= passed
    return keep


def stratum_host_mask(ctx: PlanContext, sex: list[str], age_low: float, age_high: float
                      ) -> np.ndarray:
    keep = _within(ctx.host_array("age"), age_low, age_high)
    if sex:
        keep &= np.isin(ctx.host_array("sex"), sex)
    return keep


def size_bins(diameters: np.ndarray) -> np.ndarray:
    """Profile size bin name per diameter (vectorised)."""
    edges = np.asarray(anatomy.PROFILE_SIZE_EDGES_MM[1:-1])
    names = np.asarray(anatomy.PROFILE_SIZE_BINS, dtype=object)
    return names[np.searchsorted(edges, diameters, side="right")]
