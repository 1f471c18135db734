"""Lobe capacity: the largest nodule a host's lobe can hold, checked when a trial is planned.

Insertion keeps ≥ 95 % of a nodule inside its target lobe (``InsertConfig``); a donor too
large for the lobe it was planned into would fail there as ``no_fit`` (a 45 mm donor in a
small left lower lobe). The planner therefore measures each host lobe's *capacity* — the
diameter of the largest ball inside the lobe — and moves a nodule that exceeds it to a lobe
that holds it (:func:`fit_rows`), seeded by its case and recorded in the plan audit.

The capacity is measured on the label map sampled every ~3 mm (a 512×512×320 map becomes
~128×128×107, so a host costs ~0.2 s to read and measure) and made conservative for that
sampling: with samples ``h`` apart (diagonal ``|h|``), a sample ``d`` from the nearest
outside sample is ≥ ``d − |h|/2`` from the lobe's boundary, so ``2·max(d) − |h|`` is a
diameter the lobe surely holds. A nodule at or under it fits as a ball; real donors are
not balls, which the 5 % allowed outside the lobe absorbs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np
import pandas as pd
from scipy import ndimage

from lesiontrials import anatomy
from lesiontrials.seeding import rng_for

__all__ = ["SAMPLE_STEP_MM", "fit_rows", "lobe_capacity_mm"]

#: Sampling step of the capacity measurement (mm; each axis strided to at most this).
SAMPLE_STEP_MM: Final = 3.0
#: Placement modes whose target lobe the planner chooses (``native`` keeps the donor's
#: own position in its own scan).
_MOVABLE: Final = ("random", "prescribed", "profile_faithful")


def lobe_capacity_mm(labels: np.ndarray, spacing_mm: tuple[float, float, float]
                     ) -> dict[str, float]:
    """Diameter (mm) of a ball each lobe of a uint8 ``(X, Y, Z)`` label map surely holds
    (``0.0`` for a lobe too small to measure; absent lobes are not listed)."""
    steps = tuple(max(1, int(SAMPLE_STEP_MM // s)) for s in spacing_mm)
    sampled = np.asarray(labels)[::steps[0], ::steps[1], ::steps[2]]
    h = tuple(st * s for st, s in zip(steps, spacing_mm, strict=True))
    diagonal = math.sqrt(sum(x * x for x in h))
    boxes = ndimage.find_objects(sampled)
    out: dict[str, float] = {}
    for label, lobe in anatomy.LOBE_BY_LABEL.items():
        if label > len(boxes) or boxes[label - 1] is None:
            continue
        box = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in boxes[label - 1])
        inside = np.pad(sampled[box] == label, 1)  # the crop's edge counts as outside
        deepest = float(ndimage.distance_transform_edt(inside, sampling=h).max())
        out[lobe.value] = max(0.0, 2.0 * deepest - diagonal)
    return out


def fit_rows(frame: pd.DataFrame, *, capacity_of: Callable[[int], dict[str, float]],
             host_rows: np.ndarray, host_names: np.ndarray, allowed_lobes: dict[str, float],
             pool: np.ndarray, host_ok: Callable[[int, int], bool], seed: int,
             warnings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """New ``(target_lobe, host row)`` per row of ``frame`` (primary rows of one cohort):
    a nodule whose ``planned_diameter_mm`` exceeds its target lobe's capacity moves to
    another lobe of its host that holds it (drawn with ``allowed_lobes``' weights), else to
    a host of ``pool`` (host rows) with such a lobe, where ``host_ok(row_index, host)``
    (e.g. not the donor's patient). Each move is seeded by the case uid and listed in
    ``warnings`` (the plan audit); a nodule no lobe of any eligible host holds stays as
    planned and is listed too (insertion then reports it as ``no_fit``).

    ``capacity_of(host_row)``: that host's :func:`lobe_capacity_mm` (``{}`` when unknown:
    such hosts are not checked); ``host_names``: a name per host row, for the audit.
    """
    lobes = frame["target_lobe"].to_numpy(dtype=object).copy()
    hosts = np.asarray(host_rows).copy()
    names = np.array(list(allowed_lobes), dtype=object)
    weights = np.array(list(allowed_lobes.values()), dtype=float)
    check = (~frame["nodule_free"].to_numpy(dtype=bool)
             & frame["placement"].isin(_MOVABLE).to_numpy(dtype=bool))
    for i in np.flatnonzero(check):
        diameter = float(frame["planned_diameter_mm"].iloc[i])
        capacity = capacity_of(int(hosts[i]))
        lobe = str(lobes[i])
        if not capacity or not math.isfinite(diameter) or capacity.get(lobe, 0.0) >= diameter:
            continue
        uid = str(frame["case_uid"].iloc[i])
        rng = rng_for(seed, uid, "lobe-capacity")
        where = f"{lobe} of {host_names[hosts[i]]} (holds {capacity.get(lobe, 0.0):.1f} mm)"
        moved = _choose_lobe(capacity, names, weights, diameter, rng)
        if moved is None:
            candidates = [h for h in pool if h != hosts[i] and host_ok(int(i), int(h))
                          and _choose_lobe(capacity_of(int(h)), names, weights, diameter,
                                           None) is not None]
            if not candidates:
                warnings.append(f"lobe_capacity: {uid} keeps its {diameter:.1f} mm nodule in "
                                f"{where}: no eligible host has a lobe that holds it")
                continue
            hosts[i] = int(rng.choice(np.array(candidates)))
            moved = _choose_lobe(capacity_of(int(hosts[i])), names, weights, diameter, rng)
        assert moved is not None
        warnings.append(f"lobe_capacity: {uid} moved its {diameter:.1f} mm nodule from "
                        f"{where} to {moved} of {host_names[hosts[i]]}")
        lobes[i] = moved
    return lobes, hosts


def _choose_lobe(capacity: dict[str, float], names: np.ndarray, weights: np.ndarray,
                 diameter: float, rng: np.random.Generator | None) -> str | None:
    """A lobe (by weight) whose capacity holds ``diameter``; ``None`` if none does.
    Without ``rng``: only whether one exists (the first)."""
    fits = np.array([capacity.get(str(n), 0.0) >= diameter for n in names], dtype=bool)
    fits &= weights > 0
    if not fits.any():
        return None
    if rng is None:
        return str(names[fits][0])
    p = weights[fits] / weights[fits].sum()
    return str(rng.choice(names[fits], p=p))
