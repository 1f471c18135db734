"""The 2-D view of a case that slice models are shown for its questions.

A case with nodules is shown the plain (no overlay) centre slice through the nodule its
per-nodule questions are about — the largest (:func:`~.templates.by_size`); a nodule-free
case is shown its plain nodule-free slice. Both come from the trial's evaluation set (the
same PNGs, profile and z−1/z+1 context the slice tasks use). A case without such a slice
in the set (sets sample slices) has no view and is not asked of slice models — recorded
as ``no_view``, never answered from another case.

Which slice is shown depends on the truth only as the slice tasks do (a nodule case shows
its nodule); the view carries no uid, path or index a model could read the answer from.

Growth questions (:data:`~.templates.PAIR_TEMPLATES`, cases of longitudinal trials) are
shown a *pair view*: the current view on the left and, on the right, the prior case's
plain slice at the same axial index (a repeat scan shares its prior's host grid), or a
blank half when the case has no prior scan. A repeat case whose prior has no slice at that
index in the set (e.g. a new nodule: its prior is nodule-free) has no pair view
(``no_view``); the templates whose answer decides that
(:data:`~.templates.PRIOR_LEVEL_TEMPLATES`) are not shown to image answerers at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials.io import read_png
from lesiontrials.scoring.questions.templates import by_size
from lesiontrials.scoring.questions.truth import CaseTruth
from lesiontrials.slicing.contract import Item

VIEW_CONDITION = "plain"


def view_rows(cases: Sequence[CaseTruth], items: pd.DataFrame) -> dict[str, dict[str, object]]:
    """case uid → the row of ``items`` (one profile's ``cases.parquet``) shown for it."""
    plain = items[items["condition"] == VIEW_CONDITION]
    by_case = {uid: frame for uid, frame in plain.groupby("case_uid", sort=True)}
    chosen: dict[str, dict[str, object]] = {}
    for case in cases:
        frame = by_case.get(case.case_uid)
        if frame is None:
            continue
        if case.nodules:
            target = by_size(case)[0].index
            rows = frame[(frame["kind"] == "positive") & (frame["nodule_index"] == target)]
        else:
            rows = frame[frame["kind"] == "negative"]
        if len(rows):
            chosen[case.case_uid] = rows.sort_values("slice_uid").iloc[0].to_dict()
    return chosen


def load_view(row: dict[str, object], *, profile_dir: Path, uses_context: bool) -> Item:
    """The :class:`Item` image (and context) of a view row; the question is set later."""
    context: tuple[np.ndarray, ...] = ()
    if uses_context:
        paths = json.loads(str(row["context_paths"]))
        context = (read_png(profile_dir / paths[0]), read_png(profile_dir / paths[-1]))
    spacing = row.get("pixel_spacing_mm", math.nan)
    return Item(slice_uid=str(row["slice_uid"]), task="", condition=VIEW_CONDITION,
                profile=profile_dir.name, question="", options=(),
                image=read_png(profile_dir / str(row["image_path"])), context=context,
                pixel_spacing_mm=float(spacing) if spacing is not None else math.nan,  # type: ignore[arg-type]
                case_uid=str(row["case_uid"]))


def pair_view_rows(cases: Sequence[CaseTruth], items: pd.DataFrame
                   ) -> dict[str, tuple[dict[str, object], dict[str, object] | None]]:
    """case uid → (current view row, prior row at the same slice index or ``None`` when
    the case has no prior scan), for cases of longitudinal trials."""
    current = view_rows(cases, items)
    plain = items[items["condition"] == VIEW_CONDITION]
    by_case = {uid: frame for uid, frame in plain.groupby("case_uid", sort=True)}
    out: dict[str, tuple[dict[str, object], dict[str, object] | None]] = {}
    for case in cases:
        row = current.get(case.case_uid)
        if not case.in_series or row is None:
            continue
        if case.prior_case_uid is None:
            out[case.case_uid] = (row, None)
            continue
        prior = by_case.get(case.prior_case_uid)
        if prior is None:
            continue
        same = prior[prior["z_index"] == row["z_index"]]
        if len(same):
            out[case.case_uid] = (row, same.sort_values("slice_uid").iloc[0].to_dict())
    return out


def side_by_side(current: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
    """``current`` | ``prior`` (a black half of the same shape when ``prior`` is None)."""
    right = np.zeros_like(current) if prior is None else prior
    if right.shape != current.shape:
        raise ValueError(f"prior slice {right.shape} and current slice {current.shape} differ: "
                         "a repeat scan shares its prior's grid")
    return np.concatenate([current, right], axis=1)


def load_pair_view(rows: tuple[dict[str, object], dict[str, object] | None], *,
                   profile_dir: Path, uses_context: bool) -> Item:
    """The pair view of :func:`pair_view_rows`: image and context side by side."""
    current = load_view(rows[0], profile_dir=profile_dir, uses_context=uses_context)
    prior = (None if rows[1] is None else
             load_view(rows[1], profile_dir=profile_dir, uses_context=uses_context))
    context = tuple(side_by_side(c, None if prior is None else p)
                    for c, p in zip(current.context, prior.context if prior is not None
                                    else current.context, strict=True))
    return Item(slice_uid=current.slice_uid, task="", condition=VIEW_CONDITION,
                profile=current.profile, question="", options=(),
                image=side_by_side(current.image, None if prior is None else prior.image),
                context=context, pixel_spacing_mm=current.pixel_spacing_mm,
                case_uid=current.case_uid)
