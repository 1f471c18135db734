"""Classification metrics from (truth, prediction) pairs, through confusion counts.

Every metric here is a function of the confusion matrix, so the bootstrap can resample
confusion counts directly (see :mod:`.bootstrap`). Unparsed answers (prediction '') are
wrong for accuracy and are counted separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

UNPARSED = ""


@dataclass(frozen=True)
class Confusion:
    """Counts ``counts[i, j]``: truth ``classes[i]`` answered as ``columns[j]``.

    ``columns`` are the classes followed by the unparsed answer ('').
    """

    classes: tuple[str, ...]
    counts: np.ndarray

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.classes, UNPARSED)

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def confusion(truth: pd.Series | np.ndarray, predicted: pd.Series | np.ndarray,
              classes: tuple[str, ...]) -> Confusion:
    """Confusion counts; predictions outside ``classes`` count as unparsed."""
    truth = np.asarray(truth, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    row = {c: i for i, c in enumerate(classes)}
    col = {c: i for i, c in enumerate(classes)}
    rows = np.array([row.get(t, -1) for t in truth])
    if (rows < 0).any():
        unknown = sorted({str(t) for t in truth[rows < 0]})
        raise ValueError(f"truth values {unknown} are not among the classes {classes}")
    cols = np.array([col.get(p, len(classes)) for p in predicted])
    counts = np.zeros((len(classes), len(classes) + 1), dtype=np.int64)
    np.add.at(counts, (rows, cols), 1)
    return Confusion(tuple(classes), counts)


def metrics_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy, per-class recall and unparsed rate.

    ``counts`` is ``(..., k, k+1)``: leading axes are batches (bootstrap replicates).
    Classes never seen as truth are left out of the balanced accuracy (NaN recall).
    """
    counts = np.asarray(counts, dtype=float)
    k = counts.shape[-2]
    diagonal = np.diagonal(counts[..., :k], axis1=-2, axis2=-1)
    totals = counts.sum(axis=-1)
    n = totals.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(totals > 0, diagonal / totals, np.nan)
        accuracy = diagonal.sum(axis=-1) / n
        balanced = np.nanmean(np.where(totals > 0, recall, np.nan), axis=-1)
        unparsed = counts[..., k].sum(axis=-1) / n
    return {"accuracy": accuracy, "balanced_accuracy": balanced, "recall": recall,
            "unparsed_rate": unparsed}


def summarise(conf: Confusion) -> dict[str, object]:
    """Plain numbers for one cell: n, accuracy, balanced accuracy, recall per class."""
    values = metrics_from_counts(conf.counts)
    return {
        "n": conf.n,
        "accuracy": float(values["accuracy"]),
        "balanced_accuracy": float(values["balanced_accuracy"]),
        "unparsed_rate": float(values["unparsed_rate"]),
        **{f"recall[{c}]": float(r) for c, r in zip(conf.classes, values["recall"],
                                                    strict=True)},
    }
