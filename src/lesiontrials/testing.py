"""Analytic fixtures with known answers, for tests and benchmarks.

``box_thorax`` is a label map made of axis-aligned boxes whose geometry is returned
alongside it, so every profile value can be computed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask, bounding_box
from lesiontrials.io.volumes import Volume

# box = ((x0, x1), (y0, y1), (z0, z1)) in voxel indices, half-open
VoxelBox = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class BoxThorax:
    volume: Volume
    boxes: dict[int, VoxelBox] = field(default_factory=dict)

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return self.volume.spacing_mm


def _scaled(box: tuple[float, ...], shape: tuple[int, int, int]) -> VoxelBox:
    return tuple(  # type: ignore[return-value]
        (round(lo * n), round(hi * n)) for (lo, hi), n in zip(
            zip(box[0::2], box[1::2], strict=True), shape, strict=True)
    )


def box_thorax(
    shape: tuple[int, int, int] = (96, 80, 80),
    spacing_mm: tuple[float, float, float] = (2.0, 2.0, 2.5),
    *,
    origin_mm: tuple[float, float, float] = (-96.0, -80.0, -100.0),
) -> BoxThorax:
    """A box-shaped thorax: body, two lungs split into five lobes by planes, trachea,
    airway, heart, aorta, esophagus, SVC and pulmonary vein, at fractions of ``shape``.

    Right lung at high x (RAS+). Lobes: right z-thirds RLL/RML/RUL, left z-halves LLL/LUL.
    """
    fractions: dict[int, tuple[float, ...]] = {
        anatomy.BODY: (0.02, 0.98, 0.05, 0.95, 0.0, 1.0),
        anatomy.LOBE_LABEL_IDS[anatomy.Lobe.RLL]: (0.55, 0.90, 0.15, 0.85, 0.10, 0.40),
        anatomy.LOBE_LABEL_IDS[anatomy.Lobe.RML]: (0.55, 0.90, 0.15, 0.85, 0.40, 0.60),
        anatomy.LOBE_LABEL_IDS[anatomy.Lobe.RUL]: (0.55, 0.90, 0.15, 0.85, 0.60, 0.90),
        anatomy.LOBE_LABEL_IDS[anatomy.Lobe.LLL]: (0.10, 0.45, 0.15, 0.85, 0.10, 0.50),
        anatomy.LOBE_LABEL_IDS[anatomy.Lobe.LUL]: (0.10, 0.45, 0.15, 0.85, 0.50, 0.90),
        anatomy.HEART: (0.46, 0.54, 0.55, 0.80, 0.15, 0.45),
        anatomy.AORTA: (0.46, 0.54, 0.25, 0.35, 0.15, 0.80),
        anatomy.ESOPHAGUS: (0.46, 0.54, 0.15, 0.22, 0.15, 0.80),
        anatomy.TRACHEA: (0.47, 0.53, 0.40, 0.50, 0.65, 1.0),
        anatomy.AIRWAY: (0.47, 0.53, 0.40, 0.50, 0.55, 0.65),
        anatomy.SUPERIOR_VENA_CAVA: (0.46, 0.54, 0.55, 0.65, 0.60, 0.90),
        anatomy.PULMONARY_VEIN: (0.46, 0.54, 0.40, 0.50, 0.45, 0.55),
    }
    labels = np.zeros(shape, dtype=np.uint8)
    boxes: dict[int, VoxelBox] = {}
    for label, fraction in fractions.items():  # later entries overwrite earlier ones
        box = _scaled(fraction, shape)
        boxes[label] = box
        labels[box[0][0]:box[0][1], box[1][0]:box[1][1], box[2][0]:box[2][1]] = label
    affine = np.diag([*spacing_mm, 1.0])
    affine[:3, 3] = origin_mm
    return BoxThorax(Volume(labels, affine), boxes)


def sphere_mask(
    shape: tuple[int, int, int],
    centre_voxel: tuple[float, float, float],
    radius_mm: float,
    spacing_mm: tuple[float, float, float],
) -> NoduleMask:
    """A sphere of ``radius_mm`` around ``centre_voxel``, as a tight crop of the grid."""
    centre = np.asarray(centre_voxel, dtype=float)
    half = np.ceil(radius_mm / np.asarray(spacing_mm)).astype(int) + 1
    lo = np.maximum(np.floor(centre).astype(int) - half, 0)
    hi = np.minimum(np.ceil(centre).astype(int) + half + 1, shape)
    axes = [(np.arange(a, b) - c) * s for a, b, c, s in zip(lo, hi, centre, spacing_mm,
                                                             strict=True)]
    gx, gy, gz = np.meshgrid(*axes, indexing="ij", sparse=True)
    mask = gx**2 + gy**2 + gz**2 <= radius_mm**2
    return NoduleMask(mask, tuple(int(v) for v in lo)).tight()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Release-layout profile tables (synthetic values, the release's schema)
# ---------------------------------------------------------------------------
RELEASE_COUNTS: dict[str, int] = {
    "LUNA25": 6163, "DLCS24": 2487, "IMDCT": 2032, "LUNA16": 1186, "LNDbv4": 768,
    "NSCLCR": 421, "LUNGx": 83,
}
_LOBE_SPELLINGS = ("right_lung_upper_lobe", "RML", "right lower lobe", "LUL",
                   "left_lung_lower_lobe", "RUL")


def synthetic_profiles(dataset: str, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` profile rows in the release schema with ``dataset``'s native id/label columns.

    LNDbv4 rows come as 1-3 reader rows per nodule (``n`` counts rows).
    """
    from lesiontrials.measurements.schema import (
        BOOL_COLUMNS,
        FLOAT_COLUMNS,
        INT_COLUMNS,
        PROFILE_COLUMNS,
    )

    rng = np.random.default_rng([seed, sum(dataset.encode())])
    ct_index = rng.integers(0, max(n // 2, 1), n)
    frame = pd.DataFrame({
        "ct_path": [f"{dataset}/{dataset}_{i:05d}.nii.gz" for i in ct_index],
    })
    for column in PROFILE_COLUMNS[1:]:
        if column in FLOAT_COLUMNS:
            frame[column] = np.round(rng.uniform(0.0, 100.0, n), 3)
        elif column in INT_COLUMNS:
            frame[column] = rng.integers(1, 5, n)
        elif column in BOOL_COLUMNS:
            frame[column] = rng.random(n) < 0.5
        else:
            frame[column] = ""
    frame["nodule_mean_diam_mm"] = np.round(np.exp(rng.normal(np.log(8.0), 0.65, n)), 2)
    frame["reinsertion_nodule_diam_mm"] = frame["nodule_mean_diam_mm"]
    lobes = rng.choice(_LOBE_SPELLINGS, n)
    frame["lobe_name"] = lobes
    frame["reinsertion_lobe"] = lobes
    right = np.char.startswith(np.char.lower(lobes.astype(str)), "r")
    frame["lung_side"] = np.where(right, "right", "left")
    frame["reinsertion_lung_side"] = frame["lung_side"]
    zones = rng.choice(["upper_zone", "middle_zone", "lower_zone"], n)
    frame["lung_zone"] = zones
    frame["reinsertion_lung_zone"] = zones
    frame["central_peripheral"] = rng.choice(["central", "peripheral"], n)
    frame["organ_label_name"] = "right lung upper lobe"
    patients = [f"{dataset}-P{i:05d}" for i in ct_index]
    ids = [f"{dataset}-A{i:06d}" for i in range(n)]
    return _native_columns(frame, dataset, patients, ids, rng)


def _native_columns(frame: pd.DataFrame, dataset: str, patients: list[str], ids: list[str],
                    rng: np.random.Generator) -> pd.DataFrame:
    n = len(frame)
    binary = rng.integers(0, 2, n)
    native: dict[str, dict[str, object]] = {
        "DLCS24": {"patient-id": patients, "AnnotationID": ids, "label": binary,
                   "Age": rng.integers(50, 80, n), "Sex": rng.choice(["Male", "Female"], n)},
        "LUNA25": {"PatientID": patients, "AnnotationID": ids, "label": binary,
                   "age": rng.integers(50, 80, n), "gender": rng.choice(["M", "F"], n)},
        "LUNA16": {"seriesuid": patients, "AnnotationID": ids},
        "LUNGx": {"PatientID": patients, "AnnotationID": ids, "CADx_label": binary},
        "LNDbv4": {"PatientID": patients, "AnnotationID": ids,
                   "Malignancy": rng.integers(1, 6, n)},
        "NSCLCR": {"PatientID": patients, "AnnotationID": ids,
                   "survival.time": rng.integers(10, 3000, n),
                   "deadstatus.event": rng.integers(0, 2, n),
                   "overall.stage": rng.choice(["I", "II", "IIIa", "IIIb"], n),
                   "histology": rng.choice(["adenocarcinoma", "squamous cell carcinoma"], n)},
        "IMDCT": {"PatientID": patients, "CADx_label": np.where(binary == 1, "cancer", "benign")},
    }
    columns = native.get(dataset, {"PatientID": patients, "AnnotationID": ids, "label": binary})
    for name, values in columns.items():
        frame[name] = values
    if dataset == "LNDbv4":  # every other nodule is seen by a second reader: repeat its centre
        repeat = np.arange(1, n, 2)
        for column in ("ct_path", "coordX", "coordY", "coordZ", "PatientID"):
            frame.loc[repeat, column] = frame.loc[repeat - 1, column].to_numpy()
    return frame


def write_release_profiles(root: Path, counts: dict[str, int] | None = None, *,
                           seed: int = 0) -> Path:
    """Write ``profiles/{DS}_nodule_profiles.csv`` for each dataset under ``root``."""
    from lesiontrials.io import write_csv

    for dataset, n in (counts or RELEASE_COUNTS).items():
        write_csv(synthetic_profiles(dataset, n, seed=seed),
                  Path(root) / "profiles" / f"{dataset}_nodule_profiles.csv")
    return Path(root)


RUN_LOGS = ("_timing.json", "_summary.json")
"""Files that record a run rather than its result (wall-clock seconds, run summaries)."""


def output_snapshot(folder: Path, *, root: Path,
                    skip_suffixes: tuple[str, ...] = ("_timing.json",)) -> dict[str, bytes]:
    """Every file under ``folder`` as bytes, keyed by its path relative to ``root``, but
    the files whose names end with ``skip_suffixes`` — what byte-identity tests compare."""
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(Path(folder).rglob("*"))
            if path.is_file() and not path.name.endswith(skip_suffixes)}


def explain_difference(key: str, got: bytes, expected: bytes) -> str:
    """Why two versions of one output file differ, for a byte-identity test's message:
    for a PNG or a gzipped volume, whether the decoded content differs (and where) or only
    the compressed bytes do; otherwise the first differing byte."""
    import gzip

    from lesiontrials.io.images import decode_png

    try:
        if key.endswith(".png"):
            a, b = decode_png(got), decode_png(expected)
        elif key.endswith(".gz"):
            a = np.frombuffer(gzip.decompress(got), np.uint8)
            b = np.frombuffer(gzip.decompress(expected), np.uint8)
        else:
            a = np.frombuffer(got, np.uint8)
            b = np.frombuffer(expected, np.uint8)
    except Exception as exc:  # the message must still be written
        return f"{key}: differs, and decoding failed ({type(exc).__name__}: {exc})"
    if a.shape != b.shape:
        return f"{key}: decoded shapes differ {a.shape} vs {b.shape}"
    where = [tuple(int(i) for i in w) for w in np.argwhere(a != b)]
    if not where:
        return (f"{key}: the same decoded content, other compressed bytes "
                f"({len(got)} vs {len(expected)} bytes)")
    return (f"{key}: {len(where)} decoded values differ, first at {where[0]} "
            f"({a[where[0]]} vs {b[where[0]]}), last at {where[-1]}")


def assert_same_outputs(got: dict[str, bytes], expected: dict[str, bytes]) -> None:
    """Assert two :func:`output_snapshot` results are identical, naming every differing
    file and what differs in it."""
    assert sorted(got) == sorted(expected)
    problems = [explain_difference(k, got[k], expected[k]) for k in sorted(expected)
                if got[k] != expected[k]]
    assert not problems, f"{len(problems)} files differ:\n" + "\n".join(problems)


def ellipsoid_mask(radii_mm: tuple[float, float, float], spacing_mm: tuple[float, float, float],
                   *, centre_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A tight boolean mask of the ellipsoid with semi-axes ``radii_mm`` centred at
    ``centre_mm`` from the voxel grid's origin (a sub-voxel ``centre_mm`` gives another
    voxelisation of the same shape): voxels whose centre lies inside."""
    half = [int(np.ceil((r + abs(c)) / s)) + 1 for r, c, s in zip(radii_mm, centre_mm,
                                                                   spacing_mm, strict=True)]
    axes = [np.arange(-h, h + 1) * s - c for h, s, c in zip(half, spacing_mm, centre_mm,
                                                             strict=True)]
    grids = np.meshgrid(*axes, indexing="ij", sparse=True)
    mask = sum((g / r) ** 2 for g, r in zip(grids, radii_mm, strict=True)) <= 1.0
    box = bounding_box(mask)
    if box is None:
        raise ValueError(f"an ellipsoid of {radii_mm} mm covers no voxel centre of {spacing_mm}")
    return np.asarray(mask[box])


def build_tiny_world(out: Path, *, seed: int = 5, workers: int = 1,
                     cache_dir: Path | None = None) -> Path:
    """The demo world with two phantom hosts per source on the coarse 3×3×4 mm grid (what
    the whole-pipeline tests and ``examples/library.py`` run on; a few minutes on two
    cores), built or resumed at ``out``; returns ``out``. ``cache_dir``: the packaged
    data (default: the settings')."""
    from lesiontrials.settings import Settings
    from lesiontrials.world.build import build_world

    build_world(Path(out), size="demo", seed=seed, workers=workers,
                cache_dir=cache_dir or Settings().cache_dir, hosts_per_source=2, grid="coarse")
    return Path(out)
