"""Malignancy scoring: a probability per nodule → AUROC, sensitivity/specificity, Brier.

Input: a frame with ``scan_uid`` (the resampled unit), ``label`` (1 malignant, 0 benign;
nodules without a label are left out and counted), ``probability`` in [0, 1], and any
descriptor columns to break down by. AUROC is the Mann–Whitney statistic (ties count one
half); sensitivity/specificity are at stated thresholds (``probability ≥ threshold`` calls
malignant); calibration is the Brier score (mean squared error of the probability) with
expected and observed rates. Intervals are percentile bootstraps over scans, so nodules of
one scan move together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from lesiontrials.errors import InputError

#: risk thresholds used in nodule guidelines (e.g. 5 % and 10 % Brock risk for work-up)
OPERATING_POINTS: tuple[float, ...] = (0.05, 0.10)


def _weighted_auroc(probability: np.ndarray, label: np.ndarray, weight: np.ndarray) -> float:
    """Weighted Mann–Whitney AUROC: P(score of a positive > a negative) + ½ P(tie)."""
    pos, neg = label == 1, label == 0
    w_pos, w_neg = weight[pos].sum(), weight[neg].sum()
    if w_pos == 0 or w_neg == 0:
        return float("nan")
    order = np.argsort(probability, kind="stable")
    p, y, w = probability[order], label[order], weight[order]
    _, start = np.unique(p, return_index=True)
    neg_w = np.where(y == 0, w, 0.0)
    pos_w = np.where(y == 1, w, 0.0)
    group_neg = np.add.reduceat(neg_w, start)
    group_pos = np.add.reduceat(pos_w, start)
    below = np.cumsum(group_neg) - group_neg  # negatives strictly below each score
    total = (group_pos * (below + group_neg / 2)).sum()
    return float(total / (w_pos * w_neg))


def auroc(probability: np.ndarray, label: np.ndarray) -> float:
    """Unweighted AUROC (Mann–Whitney with mid-ranks)."""
    probability = np.asarray(probability, dtype=float)
    label = np.asarray(label, dtype=int)
    n_pos, n_neg = int((label == 1).sum()), int((label == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(probability)
    return float((ranks[label == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _check(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("scan_uid", "label", "probability"):
        if column not in frame.columns:
            raise InputError(f"malignancy table lacks column {column!r}",
                             fix="give scan_uid, label and probability per nodule")
    p = pd.to_numeric(frame["probability"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if bad.size:
        raise InputError("malignancy probability missing or outside [0, 1]", row=int(bad[0]),
                         column="probability", fix="give each nodule a probability in [0, 1]")
    labelled = frame[frame["label"].notna()]
    labels = set(labelled["label"].astype(int))
    if not labels <= {0, 1}:
        raise InputError(f"malignancy labels must be 0 or 1, got {sorted(labels)}",
                         column="label", fix="use 1 malignant, 0 benign, empty = unknown")
    return labelled


def _stats(p: np.ndarray, y: np.ndarray, w: np.ndarray,
           points: tuple[float, ...]) -> list[float]:
    out = [_weighted_auroc(p, y, w), float((w * (p - y) ** 2).sum() / w.sum())]
    for t in points:
        call = p >= t
        pos, neg = w[y == 1].sum(), w[y == 0].sum()
        out.append(float(w[(y == 1) & call].sum() / pos) if pos else float("nan"))
        out.append(float(w[(y == 0) & ~call].sum() / neg) if neg else float("nan"))
    return out


def malignancy_table(frame: pd.DataFrame, *, rng: np.random.Generator,
                     replicates: int = 1000, points: tuple[float, ...] = OPERATING_POINTS,
                     level: float = 0.95, unit: str = "scan_uid") -> pd.DataFrame:
    """One row per metric (``auroc``, ``brier``, ``sensitivity@t``, ``specificity@t``):
    estimate, bootstrap interval over the column ``unit`` (scans by default; a host column
    when several scans share a host CT, whose nodules then move together), counts."""
    labelled = _check(frame)
    if unit not in labelled.columns or labelled[unit].isna().any():
        raise InputError(f"malignancy table lacks the resampling unit {unit!r} for some rows",
                         column=unit, fix=f"give every nodule its {unit}")
    names = ["auroc", "brier"] + [f"{m}@{t:g}" for t in points
                                   for m in ("sensitivity", "specificity")]
    p = labelled["probability"].to_numpy(dtype=float)
    y = labelled["label"].to_numpy(dtype=int)
    if p.size == 0:
        return pd.DataFrame({"metric": names, "estimate": np.nan, "ci_low": np.nan,
                             "ci_high": np.nan, "n_malignant": 0, "n_benign": 0,
                             "n_unlabelled": len(frame)})
    scans, scan_index = np.unique(labelled[unit].astype(str), return_inverse=True)
    estimate = _stats(p, y, np.ones(p.size), points)
    boot = np.empty((replicates, len(names)))
    for r in range(replicates):
        counts = np.bincount(rng.integers(0, scans.size, scans.size), minlength=scans.size)
        w = counts[scan_index].astype(float)
        keep = w > 0
        boot[r] = _stats(p[keep], y[keep], w[keep], points)
    alpha = (1 - level) / 2
    with np.errstate(all="ignore"):
        low = [np.nanquantile(c, alpha) if np.isfinite(c).any() else np.nan for c in boot.T]
        high = [np.nanquantile(c, 1 - alpha) if np.isfinite(c).any() else np.nan
                for c in boot.T]
    return pd.DataFrame({"metric": names, "estimate": estimate, "ci_low": low, "ci_high": high,
                         "n_malignant": int((y == 1).sum()), "n_benign": int((y == 0).sum()),
                         "n_unlabelled": len(frame) - len(labelled)})


def malignancy_breakdown(frame: pd.DataFrame, by: str, *, rng: np.random.Generator,
                         replicates: int = 1000, unit: str = "scan_uid") -> pd.DataFrame:
    """:func:`malignancy_table` per value of the column ``by``."""
    if by not in frame.columns:
        raise InputError(f"malignancy table has no column {by!r}", fix="add it or drop it")
    values = frame[by].astype("string").fillna("")
    parts = [malignancy_table(frame[values == v], rng=rng, replicates=replicates, unit=unit)
             .assign(by=by, group=v) for v in sorted(set(values))]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
