"""Build the nodule index: every dataset's profile CSV → one validated table.

Rows are checked (required columns, types, vocabularies, duplicate ids) before
anything is written; the Parquet table and ``index.json`` are written atomically,
so a failed build leaves the previous index untouched. Row numbers in errors are
1-based data rows (the header is row 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.errors import InputError, shown
from lesiontrials.index.adapters import (
    DatasetAdapter,
    adapter_for,
    derived_annotation_ids,
    first_row,
    group_reader_rows,
)
from lesiontrials.index.quality import dataset_quality, row_flags
from lesiontrials.index.schema import (
    CHARACTERISTIC_ALIASES,
    DEMOGRAPHIC_ALIASES,
    INDEX_COLUMNS,
    OPTIONAL_NUMERIC_COLUMNS,
    OPTIONAL_TEXT_COLUMNS,
    validate_index,
)
from lesiontrials.io import read_csv_table, sha256_file, write_json, write_parquet
from lesiontrials.measurements.schema import (
    BOOL_COLUMNS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    PROFILE_COLUMNS,
)
from lesiontrials.paths import DataRoot, Workspace, strip_volume_suffix

_VOCABULARIES = {
    "lobe_name": anatomy.parse_lobe, "reinsertion_lobe": anatomy.parse_lobe,
    "lung_side": anatomy.parse_side, "reinsertion_lung_side": anatomy.parse_side,
    "lung_zone": anatomy.parse_zone, "reinsertion_lung_zone": anatomy.parse_zone,
    "central_peripheral": anatomy.Position,
}
_TRUE = {"true", "1", "1.0", "yes"}
_FALSE = {"false", "0", "0.0", "no", ""}


@dataclass(frozen=True)
class IndexBuild:
    table: pd.DataFrame
    info: dict[str, Any]


def build_index(data_root: DataRoot, *, datasets: list[str] | None = None) -> IndexBuild:
    """Read and validate every dataset of ``data_root`` into one table (nothing written)."""
    data_root.require()
    names = datasets or data_root.datasets()
    if not names:
        raise InputError("no profile tables found", path=data_root.profiles_dir,
                         fix="add {DATASET}_nodule_profiles.csv files (release layout)")
    frames, sources = [], {}
    for name in names:
        frame, source = read_dataset(data_root, name)
        frames.append(frame)
        sources[name] = source
    table = pd.concat(frames, ignore_index=True)
    if table.empty:
        raise InputError("the profile tables hold no nodules", path=data_root.profiles_dir,
                         fix="restore the tables' rows; the previous index is kept")
    table = table.sort_values(["dataset", "annotation_id"], kind="stable").reset_index(drop=True)
    table = validate_index(table)
    info = {"data_root": str(data_root.root), "datasets": sources, "rows": len(table)}
    return IndexBuild(table, info)


def write_index(build: IndexBuild, workspace: Workspace) -> Path:
    """Write ``nodules.parquet`` and ``index.json`` atomically."""
    write_parquet(build.table, workspace.index_table)
    write_json(build.info, workspace.index_info)
    return workspace.index_table


def read_dataset(data_root: DataRoot, name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One dataset's profile CSV as index rows, plus its provenance record."""
    path = data_root.profiles_csv(name)
    raw = read_csv_table(path, dtype={"ct_path": "string"})
    if raw.empty and not data_root.meta_csv(name, "hosts").is_file():
        # A dataset of nodule-free host scans lists them in meta/{DS}_hosts.csv; without
        # that table a header-only file is a truncated one, not an empty dataset.
        raise InputError("the profile table has no data rows (header only)", path=path,
                         fix="restore the file's rows, or remove the file to drop the dataset; "
                             "the previous index is kept")
    adapter = adapter_for(name, raw.columns)
    _require_columns(raw, adapter, path)
    frame = _typed_profile_columns(raw, path)
    check_physical_values(frame, path)
    frame["ct_id"] = frame["ct_path"].map(lambda p: strip_volume_suffix(Path(p).name))
    frame["patient_id"] = raw[adapter.patient_column].astype("string").str.strip()
    if adapter.annotation_column:
        frame["annotation_id"] = raw[adapter.annotation_column].astype("string").str.strip()
    else:
        frame["annotation_id"] = derived_annotation_ids(frame)
    frame["label"] = adapter.label_rule(raw, str(path))
    frame["source_row"] = np.arange(1, len(raw) + 1)
    for out_column, native in adapter.extra_columns.items():
        if native in raw.columns:
            frame[out_column] = raw[native]
    _attach_optional(frame, raw)
    for column in (*OPTIONAL_NUMERIC_COLUMNS, *OPTIONAL_TEXT_COLUMNS):
        if column in raw.columns:
            frame[column] = raw[column]
    if adapter.multi_reader:
        if adapter.score_column:
            scores = pd.to_numeric(raw[adapter.score_column], errors="coerce")
            frame["_score"] = scores.astype(float)
        frame = _aggregate_readers(frame, threshold=adapter.malignant_at_or_above)
    else:
        frame["n_readers"] = frame.get("n_readers", pd.Series(1, index=frame.index))
    _check_duplicates(frame, path, adapter)
    relative = data_root.relative(path)
    frame["dataset"] = name
    frame["label_source"] = adapter.label_source
    frame["source_file"] = relative
    digest = sha256_file(path)
    frame["source_sha256"] = digest
    frame["nodule_uid"] = name + "/" + frame["annotation_id"].astype(str)
    _attach_paths(frame, data_root, name, adapter)
    frame = _join_meta(frame, data_root, name)
    frame["quality_flags"] = row_flags(frame)
    source = {"file": relative, "sha256": digest, "rows": len(raw), "nodules": len(frame),
              "adapter": adapter.name if adapter.name == name else "generic",
              "label_source": adapter.label_source,
              "quality": dataset_quality(frame.reindex(columns=_QUALITY_COLUMNS),
                                         derived=_derived(adapter, frame))}
    return frame.reindex(columns=INDEX_COLUMNS), source


_QUALITY_COLUMNS = [*PROFILE_COLUMNS, "patient_id", "label"]


def _derived(adapter: DatasetAdapter, frame: pd.DataFrame) -> dict[str, str]:
    """Columns the index computed rather than read, and how (index.json ``quality``)."""
    out = {}
    if adapter.annotation_column is None:
        out["annotation_id"] = "no id column: scan id + hash of the rounded centre and size"
    if adapter.label_source != "label":
        out["label"] = f"from {adapter.label_source}"
    if adapter.multi_reader:
        out["reader_rows"] = ("one nodule per group of reader rows within 5 mm: numbers are "
                              "reader means, the id and mask are the first reader's")
    if (frame["mask_scope"] == "scan").any():
        out["mask_path"] = ("one mask file per scan holds all its nodules: each nodule is the "
                            "connected component nearest its centre (lesiontrials.donors)")
    return out


def _require_columns(raw: pd.DataFrame, adapter: DatasetAdapter, path: Path) -> None:
    needed = [*PROFILE_COLUMNS, *adapter.required_columns]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise InputError(
            f"missing required column{'s' if len(missing) > 1 else ''} {missing}",
            path=path, column=missing[0],
            fix="add the column (the profile columns are listed in docs/profiles.md), or "
            "compute profiles with `lesiontrials profile`",
        )


def _typed_profile_columns(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    frame = pd.DataFrame(index=raw.index)
    for column in PROFILE_COLUMNS:
        values = raw[column]
        if column in FLOAT_COLUMNS or column in INT_COLUMNS:
            frame[column] = _numeric(values, column, path)
        elif column in BOOL_COLUMNS:
            frame[column] = _boolean(values, column, path)
        elif column in _VOCABULARIES:
            frame[column] = _vocabulary(values, column, path)
        else:
            frame[column] = values.astype("string").fillna("")
    if (frame["ct_path"] == "").any():
        raise InputError("empty ct_path", path=path, row=first_row(frame["ct_path"] == ""),
                         column="ct_path", fix="give the CT path relative to raw_ct/")
    frame["organ_label_id"] = frame["organ_label_id"].astype("Int16")
    frame["n_nodules_in_patient"] = frame["n_nodules_in_patient"].astype("Int16")
    return frame


#: Sizes that cannot be negative (a mm length, a volume, a voxel count).
NON_NEGATIVE_COLUMNS = ("nodule_mean_diam_mm", "nodule_vol_mm3", "w", "h", "d",
                        "nodule_voxels", "nodule_max_axis_mm", "reinsertion_nodule_diam_mm")
#: Columns every row must have: the nodule's centroid (RAS mm).
REQUIRED_VALUE_COLUMNS = ("coordX", "coordY", "coordZ")


def check_physical_values(frame: pd.DataFrame, path: Path) -> None:
    """Refuse physically impossible values: infinite numbers, negative sizes, missing
    centroids, and ``ct_path`` values that leave ``raw_ct/``.

    Values that are possible but out of their documented range (percent columns above
    100 in some releases) are not refused here: the index flags them per row instead.
    """
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            infinite = np.isinf(frame[column].to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():
                _refuse(frame, infinite, column, path, "infinite value",
                        "write a finite number or leave the cell empty")
    for column in NON_NEGATIVE_COLUMNS:
        if column in frame.columns:
            negative = (frame[column] < 0).fillna(False).to_numpy(dtype=bool)
            if negative.any():
                _refuse(frame, negative, column, path, "negative size",
                        "sizes are >= 0: correct the value or recompute the profile with "
                        "`lesiontrials profile`")
    for column in REQUIRED_VALUE_COLUMNS:
        missing = frame[column].isna().to_numpy(dtype=bool)
        if missing.any():
            _refuse(frame, missing, column, path, "missing (NaN) centroid coordinate",
                    "give the nodule centroid in RAS mm or remove the row")
    escapes = np.array([Path(p).is_absolute() or ".." in Path(p).parts
                        for p in frame["ct_path"]], dtype=bool)
    if escapes.any():
        _refuse(frame, escapes, "ct_path", path,
                "path leaves raw_ct/ (absolute or '..')",
                "write ct_path relative to raw_ct/, e.g. DATASET/CT_ID.nii.gz")


def _refuse(frame: pd.DataFrame, bad: np.ndarray, column: str, path: Path, problem: str,
            fix: str) -> None:
    row = int(np.flatnonzero(bad)[0])
    value = frame[column].iloc[row]
    shown = str(value) if isinstance(value, str) else f"{float(value):g}"
    raise InputError(f"{problem}: {shown}", path=path, row=row + 1, column=column, fix=fix)


def _numeric(values: pd.Series, column: str, path: Path) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    numbers = pd.to_numeric(values, errors="coerce")
    blank = values.isna() | (values.astype("string").str.strip() == "")
    bad = numbers.isna() & ~blank
    if bad.any():
        row = first_row(bad)
        raise InputError(f"expected a number, found {shown(values.iloc[row - 1])}", path=path,
                         row=row, column=column, fix="write a number in mm/percent or leave empty")
    return numbers.astype(float)


def _boolean(values: pd.Series, column: str, path: Path) -> pd.Series:
    text = values.astype("string").str.strip().str.lower().fillna("")
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        row = first_row(bad)
        raise InputError(f"expected True/False, found {shown(values.iloc[row - 1])}", path=path,
                         row=row, column=column, fix="write True or False")
    return text.isin(_TRUE)


def _vocabulary(values: pd.Series, column: str, path: Path) -> pd.Series:
    text = values.astype("string").str.strip().fillna("")
    mapping: dict[str, str] = {"": ""}
    parse = _VOCABULARIES[column]
    for value in text.unique():
        if value in mapping:
            continue
        try:
            mapping[value] = str(parse(value).value)
        except ValueError as exc:
            row = first_row(text == value)
            raise InputError(f"unknown value {value!r} ({exc})", path=path, row=row,
                             column=column, fix="use a canonical name or a known alias") from exc
    return text.map(mapping).astype("string")


def _attach_optional(frame: pd.DataFrame, raw: pd.DataFrame) -> None:
    lower = {c.lower().replace(" ", "_"): c for c in raw.columns}
    for target, aliases in {**DEMOGRAPHIC_ALIASES, **CHARACTERISTIC_ALIASES}.items():
        for alias in aliases:
            if alias in lower:
                frame[target] = raw[lower[alias]]
                break
    if "n_readers" in lower:
        frame["n_readers"] = pd.to_numeric(raw[lower["n_readers"]], errors="coerce")


def _aggregate_readers(frame: pd.DataFrame, *, threshold: float | None) -> pd.DataFrame:
    """Multi-reader rows → one row per nodule: first id, mean numbers, reader count.

    With a reader score (``_score``) the label is ``mean score >= threshold``; otherwise
    the majority of the readers' labels.
    """
    frame = frame.assign(_group=group_reader_rows(frame))
    numeric = [c for c in frame.columns
               if pd.api.types.is_float_dtype(frame[c]) and c not in ("label",)]
    agg: dict[str, Any] = {c: "first" for c in frame.columns if c not in ("_group",)}
    agg.update({c: "mean" for c in numeric})
    agg["annotation_id"] = "min"
    agg["source_row"] = "min"
    frame["_label_score"] = frame["label"].astype(float)
    agg["_label_score"] = "mean"
    out = frame.sort_values("annotation_id").groupby("_group", sort=True).agg(agg)
    out["n_readers"] = frame.groupby("_group", sort=True).size().to_numpy()
    if "_score" in out.columns and threshold is not None:
        out["label"] = (out["_score"] >= threshold).astype("Int8")
        out.loc[out["_score"].isna(), "label"] = pd.NA
    else:
        out["label"] = (out["_label_score"] >= 0.5).astype("Int8")
        out.loc[out["_label_score"].isna(), "label"] = pd.NA
    return out.drop(columns=["_label_score", "_score"], errors="ignore").reset_index(drop=True)


def _check_duplicates(frame: pd.DataFrame, path: Path, adapter: DatasetAdapter) -> None:
    duplicated = frame["annotation_id"].duplicated(keep=False)
    if duplicated.any():
        rows = frame.loc[duplicated, "source_row"].tolist()[:5]
        value = frame.loc[duplicated, "annotation_id"].iloc[0]
        raise InputError(
            f"duplicate annotation id {value!r} in rows {rows}", path=path, row=rows[0],
            column=adapter.annotation_column or "derived id",
            fix="give every nodule a unique id (remove repeated rows)",
        )


def _attach_paths(frame: pd.DataFrame, root: DataRoot, name: str, adapter: DatasetAdapter) -> None:
    if adapter.mask_by_ct:
        masks = [root.nodule_seg(name, f"{ct}_seg") for ct in frame["ct_id"]]
    else:
        masks = [root.nodule_seg(name, a) for a in frame["annotation_id"]]
    segs = [root.refined_seg(name, ct) for ct in frame["ct_id"]]
    frame["mask_path"] = [root.relative(p) for p in masks]
    shared = frame["mask_path"].duplicated(keep=False).to_numpy()
    frame["mask_scope"] = np.where(adapter.mask_by_ct | shared, "scan", "nodule")
    frame["seg_path"] = [root.relative(p) for p in segs]
    existing_segs = {p for p in set(segs) if p.is_file()}
    frame["host_available"] = [p in existing_segs for p in segs]
    frame["mask_available"] = [p.is_file() for p in masks]


def _join_meta(frame: pd.DataFrame, root: DataRoot, name: str) -> pd.DataFrame:
    """Demographics from ``meta/{DS}_patients.csv`` (PatientID + columns) when present."""
    path = root.meta_csv(name, "patients")
    if not path.is_file():
        return frame
    meta = read_csv_table(path, dtype={"PatientID": "string"})
    if "PatientID" not in meta.columns:
        raise InputError("missing column 'PatientID'", path=path, column="PatientID",
                         fix="name the patient id column PatientID")
    lower = {c.lower().replace(" ", "_"): c for c in meta.columns}
    columns = {}
    for target, aliases in DEMOGRAPHIC_ALIASES.items():
        for alias in aliases:
            if alias in lower:
                columns[target] = meta.set_index("PatientID")[lower[alias]]
                break
    for target, series in columns.items():
        mapped = frame["patient_id"].map(series)
        frame[target] = mapped.where(mapped.notna(), frame.get(target))
    return frame
