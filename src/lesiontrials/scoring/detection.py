"""Detection scoring on whole volumes: candidates → hits → FROC, CPM, bootstrap CIs.

Inputs are two typed frames (world millimetres in the volume's RAS+ frame, the frame every
lesiontrials reader returns; :func:`lps_to_ras` converts LUNA16-style LPS coordinates):

- truth (:data:`TRUTH_COLUMNS`): one row per nodule, ``scan_uid``, ``nodule_id``, centre
  ``x_mm, y_mm, z_mm``, ``diameter_mm`` and descriptors used for breakdowns;
- candidates (:data:`CANDIDATE_COLUMNS`): one row per candidate, ``scan_uid``, centre and
  ``probability``; optional ``box_dx_mm, box_dy_mm, box_dz_mm`` (full box sizes) for the
  IoU rule.

Matching (LUNA16): a candidate hits a nodule of the same scan when its centre lies within the
nodule's radius (distance < diameter / 2); or, with ``rule="iou"``, when the IoU of the
candidate's box with the nodule's cube (side = diameter) reaches ``iou_threshold``. A
candidate hitting any nodule is never a false positive; several candidates on one nodule
count once, with the highest probability; a candidate that hits no nodule but lies within
the radius of an *excluded finding* (``excluded``: a lesion in the image that is not part
of the truth, e.g. a real host's own nodule kept in a synthetic case; LUNA16's "irrelevant
findings") is dropped — neither a hit nor a false positive; every other candidate is a false
positive, wherever it lies (outside the lung included). Nodules with no candidate are missed
at every threshold.

FROC: at each distinct probability threshold ``t``, sensitivity = nodules whose best hit
probability ≥ ``t`` / nodules, FPs per scan = false-positive candidates with probability ≥
``t`` / scans (nodule-free scans count). Sensitivity at an FP rate is the FROC curve
linearly interpolated at that rate (the LUNA16 evaluation script's ``np.interp`` over the
curve starting at (0, 0)), the final sensitivity beyond the curve's last point; the CPM is
the mean over :data:`FP_RATES`. Intervals resample scans (the unit the design reuses), so
a scan's nodules and false positives move together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError

FP_RATES: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
TRUTH_COLUMNS = ("scan_uid", "nodule_id", "x_mm", "y_mm", "z_mm", "diameter_mm")
CANDIDATE_COLUMNS = ("scan_uid", "x_mm", "y_mm", "z_mm", "probability")
BOX_COLUMNS = ("box_dx_mm", "box_dy_mm", "box_dz_mm")
RULES = ("radius", "iou")


def lps_to_ras(points_mm: np.ndarray) -> np.ndarray:
    """LPS world mm (ITK, LUNA16 csv files) → RAS world mm: negate x and y. Shape (..., 3)."""
    out = np.array(points_mm, dtype=float, copy=True)
    out[..., :2] *= -1.0
    return out


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} table lacks columns {missing}",
                         fix=f"give every {what} row {list(columns)}")
    numeric = [c for c in columns if c.endswith("_mm") or c == "probability"]
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InputError(f"{what} table has a non-finite value", row=int(bad[0]),
                             column=column, fix="give finite numbers (world mm, probability)")
    if what == "truth" and (frame["diameter_mm"].astype(float) <= 0).any():
        raise InputError("truth table has a non-positive diameter", column="diameter_mm",
                         fix="give each nodule its diameter in mm (> 0)")


@dataclass(frozen=True)
class Matching:
    """Result of matching candidates to nodules.

    ``nodules``: the truth rows plus ``best_probability`` (NaN when no candidate hit it),
    ``n_hits`` and ``nearest_mm`` (distance to the nearest candidate of its scan, NaN when
    the scan has none). ``false_positives``: ``scan_uid`` and ``probability`` of every
    candidate that hit no nodule. ``scans``: every scan uid scored (with and without
    nodules).
    """

    nodules: pd.DataFrame
    false_positives: pd.DataFrame
    scans: tuple[str, ...]


def _box_iou(centres: np.ndarray, sizes: np.ndarray, centre: np.ndarray, side: float
             ) -> np.ndarray:
    """IoU of boxes (centres (n, 3), full sizes (n, 3)) with one cube of side ``side``."""
    low = np.maximum(centres - sizes / 2, centre - side / 2)
    high = np.minimum(centres + sizes / 2, centre + side / 2)
    inter = np.clip(high - low, 0.0, None).prod(axis=1)
    union = sizes.prod(axis=1) + side ** 3 - inter
    return inter / union


def match(truth: pd.DataFrame, candidates: pd.DataFrame, *, scans: list[str] | None = None,
          rule: str = "radius", iou_threshold: float = 0.1,
          excluded: pd.DataFrame | None = None) -> Matching:
    """Match candidates to nodules per scan (see the module docstring for the rules).

    ``scans``: every scan the detector was run on (defaults to the scans in either table);
    a candidate or nodule on a scan outside this list is an error. ``excluded``: findings
    (:data:`TRUTH_COLUMNS`' scan, centre and diameter) whose candidates are dropped.
    """
    if rule not in RULES:
        raise InputError(f"unknown matching rule {rule!r}", fix=f"use one of {RULES}")
    _require(truth, TRUTH_COLUMNS, "truth")
    _require(candidates, CANDIDATE_COLUMNS + (BOX_COLUMNS if rule == "iou" else ()),
             "candidates")
    probabilities = candidates["probability"].astype(float)
    if ((probabilities < 0) | (probabilities > 1)).any():
        raise InputError("candidate probability outside [0, 1]", column="probability",
                         fix="give probabilities (scores in [0, 1])")
    all_scans = sorted(set(truth["scan_uid"].astype(str)) | set(candidates["scan_uid"]
                                                                 .astype(str)))
    scan_list = sorted(set(scans)) if scans is not None else all_scans
    unknown = sorted(set(all_scans) - set(scan_list))
    if unknown:
        raise InputError(f"rows on scans that were not scored: {unknown[:3]}",
                         column="scan_uid", fix="list every scored scan in `scans`")
    nodules = truth.reset_index(drop=True).copy()
    best = np.full(len(nodules), np.nan)
    n_hits = np.zeros(len(nodules), dtype=np.int64)
    nearest = np.full(len(nodules), np.nan)
    fp_mask = np.ones(len(candidates), dtype=bool)
    cand = candidates.reset_index(drop=True)
    cand_scan = cand["scan_uid"].astype(str).to_numpy()
    cand_xyz = cand[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
    cand_p = cand["probability"].to_numpy(dtype=float)
    sizes = cand[list(BOX_COLUMNS)].to_numpy(dtype=float) if rule == "iou" else None
    truth_scan = nodules["scan_uid"].astype(str).to_numpy()
    by_scan = pd.Series(np.arange(len(cand)), dtype=np.int64).groupby(cand_scan).indices
    empty = np.array([], dtype=np.int64)
    for i, row in enumerate(nodules[["x_mm", "y_mm", "z_mm", "diameter_mm"]]
                            .to_numpy(dtype=float)):
        idx = by_scan.get(truth_scan[i], empty)
        if idx.size == 0:
            continue
        distance = np.linalg.norm(cand_xyz[idx] - row[:3], axis=1)
        nearest[i] = float(distance.min())
        if rule == "radius":
            hit = distance < row[3] / 2
        else:
            assert sizes is not None
            hit = _box_iou(cand_xyz[idx], sizes[idx], row[:3], row[3]) >= iou_threshold
        if hit.any():
            fp_mask[idx[hit]] = False
            n_hits[i] = int(hit.sum())
            best[i] = float(cand_p[idx[hit]].max())
    if excluded is not None and len(excluded):
        fp_mask &= ~_near_findings(excluded, cand_scan, cand_xyz)
    nodules["best_probability"] = best
    nodules["n_hits"] = n_hits
    nodules["nearest_mm"] = nearest
    fps = pd.DataFrame({"scan_uid": cand_scan[fp_mask], "probability": cand_p[fp_mask]})
    return Matching(nodules=nodules, false_positives=fps, scans=tuple(scan_list))


def _near_findings(findings: pd.DataFrame, cand_scan: np.ndarray, cand_xyz: np.ndarray
                   ) -> np.ndarray:
    """Which candidates lie within the radius of an excluded finding of their scan."""
    _require(findings, TRUTH_COLUMNS[:1] + TRUTH_COLUMNS[2:], "excluded finding")
    near = np.zeros(len(cand_scan), dtype=bool)
    scan = findings["scan_uid"].astype(str).to_numpy()
    for uid, row in zip(scan, findings[["x_mm", "y_mm", "z_mm", "diameter_mm"]]
                        .to_numpy(dtype=float), strict=True):
        on_scan = cand_scan == uid
        near[on_scan] |= np.linalg.norm(cand_xyz[on_scan] - row[:3], axis=1) < row[3] / 2
    return near


# --------------------------------------------------------------------------- FROC
def _froc_points(hit_p: np.ndarray, hit_w: np.ndarray, n_nodules: float, fp_p: np.ndarray,
                 fp_w: np.ndarray, n_scans: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FROC curve from weighted events: (fps per scan, sensitivity, thresholds), one point
    per distinct probability, descending thresholds, starting at (0, 0, inf)."""
    probs = np.concatenate([hit_p, fp_p])
    is_tp = np.concatenate([np.ones(hit_p.size), np.zeros(fp_p.size)])
    weights = np.concatenate([hit_w, fp_w])
    order = np.argsort(-probs, kind="stable")
    probs, is_tp, weights = probs[order], is_tp[order], weights[order]
    tp = np.cumsum(weights * is_tp)
    fp = np.cumsum(weights * (1 - is_tp))
    last = np.r_[np.flatnonzero(np.diff(probs) != 0), probs.size - 1] if probs.size else \
        np.array([], dtype=int)
    fps = np.r_[0.0, fp[last] / n_scans]
    sens = np.r_[0.0, tp[last] / n_nodules] if n_nodules > 0 else np.r_[0.0, 0 * last]
    return fps, sens, np.r_[np.inf, probs[last]]


def sensitivity_at(fps: np.ndarray, sens: np.ndarray, rates: tuple[float, ...] = FP_RATES
                   ) -> np.ndarray:
    """Sensitivity at each FP rate: the FROC curve linearly interpolated (LUNA16)."""
    return np.interp(np.asarray(rates, dtype=float), fps, sens)


@dataclass(frozen=True)
class Froc:
    """A FROC curve and its summary. ``fps``/``sensitivity``/``thresholds``: the curve;
    ``at_rates``: sensitivity at :data:`FP_RATES`; ``cpm``: their mean; ``n_nodules``,
    ``n_scans``: the denominators."""

    fps: np.ndarray
    sensitivity: np.ndarray
    thresholds: np.ndarray
    at_rates: np.ndarray
    cpm: float
    n_nodules: int
    n_scans: int


def _events(matching: Matching, nodule_mask: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hit probabilities, their scan index, FP probabilities, their scan index)."""
    position = {s: i for i, s in enumerate(matching.scans)}
    nodules = matching.nodules if nodule_mask is None else matching.nodules[nodule_mask]
    detected = nodules["best_probability"].notna().to_numpy()
    hit_p = nodules["best_probability"].to_numpy(dtype=float)[detected]
    hit_s = nodules["scan_uid"].astype(str).map(position).to_numpy(dtype=np.int64)[detected]
    fp_p = matching.false_positives["probability"].to_numpy(dtype=float)
    fp_s = matching.false_positives["scan_uid"].astype(str).map(position).to_numpy(
        dtype=np.int64)
    return hit_p, hit_s, fp_p, fp_s


def froc(matching: Matching, *, nodule_mask: np.ndarray | None = None) -> Froc:
    """FROC over all scans; ``nodule_mask`` restricts the nodules (a subgroup) while false
    positives stay those of every scan (they belong to no subgroup)."""
    nodules = matching.nodules if nodule_mask is None else matching.nodules[nodule_mask]
    hit_p, _, fp_p, _ = _events(matching, nodule_mask)
    n_scans = len(matching.scans)
    if n_scans == 0:
        raise InputError("no scans to score", fix="score at least one volume")
    fps, sens, thresholds = _froc_points(hit_p, np.ones(hit_p.size), len(nodules), fp_p,
                                         np.ones(fp_p.size), n_scans)
    at = sensitivity_at(fps, sens)
    return Froc(fps=fps, sensitivity=sens, thresholds=thresholds, at_rates=at,
                cpm=float(at.mean()), n_nodules=len(nodules), n_scans=n_scans)


def _scan_clusters(matching: Matching, clusters: Mapping[str, str] | None) -> np.ndarray:
    """(scans,) cluster index of each scan: its own index without ``clusters``, else the
    index of ``clusters[scan_uid]`` (e.g. the host CT the scan was built on)."""
    if clusters is None:
        return np.arange(len(matching.scans))
    missing = [s for s in matching.scans if s not in clusters]
    if missing:
        raise InputError(f"no cluster (host) for scans {missing[:3]}", column="scan_uid",
                         fix="give every scored scan its host id")
    ids = [str(clusters[s]) for s in matching.scans]
    return np.unique(np.asarray(ids), return_inverse=True)[1].ravel()


def _nodule_donors(nodules: pd.DataFrame) -> np.ndarray:
    """(nodules,) donor index of each nodule, from its ``donor_uid``; a nodule without one
    is an error (the two-way bootstrap needs every nodule's donor)."""
    if "donor_uid" not in nodules.columns:
        raise InputError("the nodules have no donor_uid column", column="donor_uid",
                         fix="use a volume set's truth table (it lists each nodule's donor)")
    ids = nodules["donor_uid"]
    if ids.isna().any() or (ids.astype(str) == "").any():
        raise InputError("a nodule has no donor_uid", column="donor_uid",
                         fix="give every nodule its donor id")
    return np.unique(ids.astype(str).to_numpy(), return_inverse=True)[1].ravel()


def bootstrap_froc(matching: Matching, *, rng: np.random.Generator, replicates: int = 1000,
                   nodule_mask: np.ndarray | None = None,
                   rates: tuple[float, ...] = FP_RATES,
                   clusters: Mapping[str, str] | None = None,
                   donors: bool = False) -> np.ndarray:
    """Bootstrap over scans: array (replicates, len(rates) + 1) of sensitivity at each FP
    rate and their mean (last column; the CPM for :data:`FP_RATES`). Each replicate draws
    scans with replacement; a scan drawn k times contributes its nodules and false
    positives k times. A replicate without nodules is NaN (undefined, not zero).

    ``clusters`` (scan uid → cluster id, e.g. the host CT): when scans share a unit, draw
    the clusters instead and let every scan of a cluster drawn k times count k times —
    scans built on one host share its anatomy and are not independent
    (benchmarks/bench_froc_hosts.py measures the coverage of both).

    ``donors``: also draw the nodules' donors (``donor_uid`` column of the matching's
    nodules), independently of the scans or hosts — the pigeonhole bootstrap of a crossed
    design: a nodule counts (its scan's draw count) × (its donor's draw count); false
    positives and the scan count follow the scans or hosts alone
    (benchmarks/bench_froc_donors.py measures when it is needed)."""
    hit_p, _, fp_p, fp_s = _events(matching, nodule_mask)
    nodules = matching.nodules if nodule_mask is None else matching.nodules[nodule_mask]
    position = {s: i for i, s in enumerate(matching.scans)}
    all_s = nodules["scan_uid"].astype(str).map(position).to_numpy(dtype=np.int64)
    cluster = _scan_clusters(matching, clusters)
    n_clusters = int(cluster.max()) + 1 if cluster.size else 0
    donor = _nodule_donors(nodules) if donors else np.zeros(len(nodules), dtype=np.int64)
    detected = nodules["best_probability"].notna().to_numpy()
    n_donors = int(donor.max()) + 1 if donor.size else 0
    out = np.empty((replicates, len(rates) + 1))
    for r in range(replicates):
        drawn = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
        counts = drawn[cluster].astype(float)
        nodule_w = counts[all_s]
        if donors:
            nodule_w = nodule_w * np.bincount(rng.integers(0, n_donors, n_donors),
                                              minlength=n_donors)[donor]
        n_drawn = float(counts.sum())
        n_nod = float(nodule_w.sum())
        fps, sens, _ = _froc_points(hit_p, nodule_w[detected], n_nod, fp_p,
                                    counts[fp_s], n_drawn)
        at = sensitivity_at(fps, sens, rates) if n_nod > 0 else np.full(len(rates), np.nan)
        out[r, :-1] = at
        out[r, -1] = at.mean()
    return out


def froc_table(matching: Matching, *, rng: np.random.Generator, replicates: int = 1000,
               level: float = 0.95, nodule_mask: np.ndarray | None = None,
               clusters: Mapping[str, str] | None = None,
               donors: bool = False) -> pd.DataFrame:
    """One row per FP rate plus ``CPM``: estimate and percentile interval over scans (over
    ``clusters`` of scans, e.g. hosts, when given, and two-way with the nodules' donors
    when ``donors``: see :func:`bootstrap_froc`)."""
    curve = froc(matching, nodule_mask=nodule_mask)
    boot = bootstrap_froc(matching, rng=rng, replicates=replicates, nodule_mask=nodule_mask,
                          clusters=clusters, donors=donors)
    alpha = (1 - level) / 2
    with np.errstate(all="ignore"):
        low = np.nanquantile(boot, alpha, axis=0) if np.isfinite(boot).any() else \
            np.full(boot.shape[1], np.nan)
        high = np.nanquantile(boot, 1 - alpha, axis=0) if np.isfinite(boot).any() else \
            np.full(boot.shape[1], np.nan)
    names = [_rate_name(r) for r in FP_RATES] + ["CPM"]
    return pd.DataFrame({"fp_per_scan": names,
                         "sensitivity": [*curve.at_rates.tolist(), curve.cpm],
                         "ci_low": low, "ci_high": high,
                         "n_nodules": curve.n_nodules, "n_scans": curve.n_scans})


def _rate_name(rate: float) -> str:
    return f"1/{round(1 / rate)}" if rate < 1 else f"{rate:g}"


def threshold_at_rate(matching: Matching, rate: float) -> float:
    """The lowest probability threshold whose FPs per scan stay ≤ ``rate`` (the operating
    point used for the per-nodule hit table)."""
    curve = froc(matching)
    ok = curve.fps <= rate
    return float(curve.thresholds[ok][-1])


def hit_table(matching: Matching, *, rate: float = 1.0) -> pd.DataFrame:
    """Per-nodule failure-analysis table: truth, best hit probability, nearest candidate
    distance and ``hit`` at the operating point of ``rate`` FPs per scan."""
    threshold = threshold_at_rate(matching, rate)
    table = matching.nodules.copy()
    table["operating_fp_per_scan"] = rate
    table["operating_threshold"] = threshold
    table["hit"] = table["best_probability"].fillna(-np.inf) >= threshold
    return table


def breakdown(matching: Matching, by: str, *, rng: np.random.Generator,
              replicates: int = 1000, clusters: Mapping[str, str] | None = None,
              donors: bool = False) -> pd.DataFrame:
    """Sensitivity at each FP rate and CPM per value of the truth column ``by`` (FPs of
    all scans in every group), with scan-bootstrap intervals (over ``clusters`` of scans
    when given, two-way with donors when ``donors``, see :func:`bootstrap_froc`)."""
    if by not in matching.nodules.columns:
        raise InputError(f"truth table has no column {by!r} to break down by",
                         fix="add the column to the truth table")
    parts = []
    values = matching.nodules[by].astype("string").fillna("")
    for value in sorted(set(values)):
        mask = (values == value).to_numpy()
        table = froc_table(matching, rng=rng, replicates=replicates, nodule_mask=mask,
                           clusters=clusters, donors=donors)
        parts.append(table.assign(**{"by": by, "group": value}))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)
