"""Slice building speed (issue 7): cases/s for evaluation sets. JSON out.

Writes synthetic inserted + rendered cases in the pipeline's layout (an elliptic body with
two elliptic lungs split into lobes, 1–2 spherical nodules per case, a nodule-free case in
every five, Gaussian noise), then times ``build_eval_set`` (both profiles, four conditions,
context slices, negatives) with 1 and 2 workers, and a resumed re-run.

``--data-root PATH`` (issue 24) instead uses a release-layout data root: index build,
``plan --all`` (demo size), insert and render of each ``--design`` (default 1 and 3) in a
temporary workspace, then the slice build of each timed in a fresh process (one worker,
reading through the workspace's decoded cache as ``lesiontrials run`` does): s/case and
the process's peak RSS. ``--baseline-src DIR`` (another checkout's ``src``) also times
that code's slice build of the same cases, alternated with ours, and says whether the
two evaluation sets are byte-identical.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lesiontrials import anatomy
from lesiontrials.io import Volume, VolumeKind, write_json, write_volume
from lesiontrials.paths import Workspace
from lesiontrials.slicing.sets import build_eval_set
from lesiontrials.testing import sphere_mask

SIZES = {"real512": ((512, 512, 120), (0.7, 0.7, 2.5)),
         "phantom128": ((128, 128, 80), (3.0, 3.0, 4.0))}


def _labels(shape: tuple[int, int, int]) -> np.ndarray:
    x, y = np.ogrid[:shape[0], :shape[1]]
    cx, cy = shape[0] / 2, shape[1] / 2
    body = ((x - cx) / (0.45 * shape[0])) ** 2 + ((y - cy) / (0.35 * shape[1])) ** 2 <= 1
    plane = np.where(body, anatomy.BODY, 0).astype(np.uint8)
    labels = np.repeat(plane[:, :, None], shape[2], axis=2)
    z_split = shape[2] // 2
    for sign, (upper, lower) in ((1, (30, 32)), (-1, (28, 29))):
        lung = (((x - cx - sign * 0.2 * shape[0]) / (0.15 * shape[0])) ** 2
                + ((y - cy) / (0.25 * shape[1])) ** 2) <= 1
        labels[:, :, 5:z_split][lung] = lower
        labels[:, :, z_split:shape[2] - 5][lung] = upper
    return labels


def _write_case(ws: Workspace, trial: str, index: int, shape: tuple[int, int, int],
                spacing: tuple[float, float, float], rng: np.random.Generator) -> None:
    case = f"{trial}-{index:05d}"
    case_dir = ws.case_dir(trial, case)
    affine = np.diag([*spacing, 1.0])
    labels = _labels(shape)
    count = 0 if index % 5 == 4 else int(rng.integers(1, 3))
    nodules = []
    for k in range(count):
        side = 1 if k == 0 else -1
        centre = (shape[0] / 2 + side * 0.2 * shape[0], shape[1] / 2 + rng.uniform(-0.1, 0.1)
                  * shape[1], shape[2] * rng.uniform(0.25, 0.75))
        mask = sphere_mask(shape, centre, float(rng.uniform(3.0, 12.0)), spacing)
        labels[mask.box][mask.mask] = anatomy.NODULE
        shift = np.eye(4)
        shift[:3, 3] = mask.offset
        write_volume(case_dir / f"nodule_{k}.nii.gz",
                     Volume(mask.mask.astype(np.uint8), affine @ shift), kind=VolumeKind.MASK)
        volume = mask.voxel_count * float(np.prod(spacing))
        nodules.append({"nodule_index": k, "mask_file": f"nodule_{k}.nii.gz", "label": None,
                        "donor_uid": f"B/{case}-{k}", "donor_dataset": "B",
                        "realised": {"lobe": "right_lung_upper_lobe",
                                     "centroid_voxel": mask.centroid_voxel().tolist(),
                                     "equivalent_diameter_mm": (6 * volume / math.pi) ** (1 / 3)}})
    hu = np.select([labels == anatomy.NODULE, np.isin(labels, anatomy.LOBE_LABELS),
                    labels == anatomy.BODY], [30.0, -850.0, 40.0], -1000.0)
    hu += rng.normal(0.0, 20.0, shape)
    write_volume(case_dir / "labels.nii.gz", Volume(labels, affine), kind=VolumeKind.LABELS)
    write_volume(case_dir / "ct.nii.gz", Volume(np.rint(hu).astype(np.int16), affine),
                 kind=VolumeKind.CT)
    write_json({"case_uid": case, "trial": trial, "status": "done", "nodule_free": not count,
                "host": {"dataset": "B", "ct_id": case, "ct_path": ""}, "nodules": nodules},
               case_dir / "insert.json")


def run(size: str, n_cases: int) -> dict[str, object]:
    shape, spacing = SIZES[size]
    result: dict[str, object] = {"size": size, "shape": shape, "spacing_mm": spacing,
                                 "cases": n_cases}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp))
        rng = np.random.default_rng(0)
        for index in range(n_cases):
            _write_case(ws, size, index, shape, spacing, rng)
        for workers in (1, 2):
            shutil.rmtree(ws.root / "eval", ignore_errors=True)
            start = time.perf_counter()
            summary = build_eval_set(trial=size, workspace=ws, workers=workers,
                                     show_progress=False)
            seconds = time.perf_counter() - start
            result[f"workers_{workers}"] = {
                "seconds": round(seconds, 2), "cases_per_s": round(n_cases / seconds, 2),
                "slices": summary.positives + summary.negatives,
                "images_per_s": round(_images(ws, size) / seconds, 1)}
        start = time.perf_counter()
        build_eval_set(trial=size, workspace=ws, workers=1, show_progress=False)
        result["resume_all_cached_s"] = round(time.perf_counter() - start, 2)
    return result


def _images(ws: Workspace, trial: str) -> int:
    return sum(1 for _ in (ws.eval_set_dir(trial)).rglob("*.png"))


def build_one(trial: str, workspace: str, data_root: str, cache: bool) -> dict[str, float]:
    """Build ``trial``'s evaluation set in this process (one worker; ``cache``: through the
    workspace's decoded cache): wall s, slices, this process's peak RSS (MB)."""
    from lesiontrials.paths import DataRoot

    extra = {}
    if cache:
        from lesiontrials.io.decoded import decoded_cache_for

        extra["decoded_cache"] = decoded_cache_for(Path(workspace), max_gb=8.0)
    start = time.perf_counter()
    summary = build_eval_set(trial=trial, workspace=Workspace(Path(workspace)), workers=1,
                             data_root=DataRoot(Path(data_root)), show_progress=False, **extra)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": time.perf_counter() - start,
            "slices": summary.positives + summary.negatives,
            "cpu_s": usage.ru_utime + usage.ru_stime,  # the whole process, imports included
            "peak_rss_mb": usage.ru_maxrss / 1024}


def _timed_build(trial: str, ws: Path, data_root: Path, src: str | None) -> dict[str, float]:
    """:func:`build_one` in a fresh interpreter (imports counted), on ``src``'s code when
    given (a baseline checkout: no cache argument), on this checkout's otherwise."""
    shutil.rmtree(ws / "eval" / trial, ignore_errors=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if src:
        env["PYTHONPATH"] = src
    argv = [sys.executable, __file__, "--build-one", trial, "--workspace", str(ws),
            "--data-root", str(data_root)] + ([] if src else ["--cache"])
    start = time.perf_counter()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - start
    return result


def _tree_digest(directory: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def release_root(data_root: Path, designs: list[str], baseline_src: str | None = None
                 ) -> dict[str, object]:
    """Slice builds of the demo plans of ``designs`` on a release-layout root."""
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app
    from lesiontrials.trials.plan import resolve_design

    runner, runs = CliRunner(), []
    with tempfile.TemporaryDirectory(prefix="bench_slices_") as tmp:
        ws = Path(tmp) / "ws"
        common = ["-w", str(ws), "-d", str(data_root)]
        for argv in (["index", "build"], ["plan", "--all"]):
            runner.invoke(app, [*argv, *common])
        for design in designs:
            trial = resolve_design(design)[1]
            if not (ws / "trials" / trial / "manifest.parquet").is_file():
                runs.append({"design": trial, "error": "not planned on this root"})
                continue
            for argv in (["insert", trial], ["render", trial]):
                runner.invoke(app, [*argv, *common, "--workers", "2"])
            cases = sum(1 for _ in (ws / "cases" / trial).glob("*/ct.nii.gz"))
            digests = {}
            for code in (["baseline", "ours"] if baseline_src else ["ours"]):
                found = _timed_build(trial, ws, data_root,
                                     baseline_src if code == "baseline" else None)
                digests[code] = _tree_digest(ws / "eval" / trial)
                wall = found["process_wall_s"]
                runs.append({"design": trial, "code": code, "rendered_cases": cases,
                             "slices": found["slices"], "build_s": round(found["wall_s"], 2),
                             "wall_s": round(wall, 2),
                             "s_per_case": round(wall / max(cases, 1), 3),
                             "cpu_s": round(found["cpu_s"], 2),
                             "cpu_s_per_case": round(found["cpu_s"] / max(cases, 1), 3),
                             "load_average_1min": round(os.getloadavg()[0], 2),
                             "peak_rss_mb": round(found["peak_rss_mb"], 1)})
            if baseline_src:
                runs.append({"design": trial,
                             "byte_identical_to_baseline": len(set(digests.values())) == 1})
    return {"benchmark": "slices_release_root", "data_root": str(data_root), "runs": runs,
            "load_average_1min": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--data-root", type=Path, default=None,
                        help="a release-layout data root (else the synthetic cases)")
    parser.add_argument("--design", action="append", default=None,
                        help="design number or name (repeatable; default 1 and 3)")
    parser.add_argument("--baseline-src", default=None,
                        help="another checkout's src/ to time against (with --data-root)")
    parser.add_argument("--build-one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workspace", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_one is not None:
        print(json.dumps(build_one(args.build_one, args.workspace, str(args.data_root),
                                   args.cache)))
        return
    if args.data_root is not None:
        print(json.dumps(release_root(args.data_root, args.design or ["1", "3"],
                                      args.baseline_src)))
        return
    out = {"benchmark": "slices", "cpu_count": os.cpu_count(),
           "load_average": round(os.getloadavg()[0], 2),
           "runs": [run(size, args.cases) for size in SIZES]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
