"""Where nodules sit in their slabs, measured on a finished workspace (issue 17 item 3).
JSON out.

For every inserted case that kept an axial slab (``host.slab_z_voxels`` in
``insert.json``): the slab's length, and for each nodule the distance (mm) from its
realised centroid to the slab's middle slice, the distance a "mid-slice" detector would
be off by. Also, per nodule, the same distance for a guess drawn uniformly over the slices
it could occupy in that slab (its margins kept) — the baseline the middle should not beat
— and the world z of nodule-free slabs' middles next to nodule slabs' (the same
distribution when nodule-free slabs are placed like nodule slabs).

    python benchmarks/bench_slab_position.py --workspace /tmp/demo [--margin-mm 14]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lesiontrials.io import read_record
from lesiontrials.records.insert import InsertRecord


def slab_positions(workspace: Path, *, margin_mm: float, seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    lengths, off_mid, off_guess, free_mid_z, nodule_mid_z = [], [], [], [], []
    for path in sorted(workspace.glob("cases/*/*/insert.json")):
        record = read_record(path, InsertRecord)
        slab = record.host.slab_z_voxels
        if not record.done or slab is None:
            continue
        dz = float(record.host.spacing_mm[2])
        depth = slab[1] - slab[0]
        lengths.append(depth * dz)
        middle = (depth - 1) / 2
        mid_z = float(np.mean(record.host.slab_z_mm or (0.0, 0.0)))
        (nodule_mid_z if record.nodules else free_mid_z).append(mid_z)
        margin = np.ceil(margin_mm / dz - 1e-9)
        for nodule in record.nodules:
            realised = nodule.realised
            centre = float(realised.centroid_voxel[2])
            low, high = realised.bbox_voxel[2][0], realised.bbox_voxel[2][1] - 1
            half = (high - low) / 2
            lowest, highest = margin + half, depth - 1 - margin - half
            guess = rng.uniform(lowest, highest) if highest > lowest else (lowest + highest) / 2
            off_mid.append(abs(centre - middle) * dz)
            off_guess.append(abs(centre - guess) * dz)

    def share(values: list[float], mm: float) -> float | None:
        return round(float(np.mean(np.array(values) <= mm)), 3) if values else None

    def quantiles(values: list[float]) -> list[float] | None:
        return [round(float(q), 2) for q in np.quantile(values, [0.1, 0.5, 0.9])] \
            if values else None

    return {"benchmark": "slab_position", "workspace": str(workspace),
            "slab_cases": len(lengths), "slab_nodules": len(off_mid),
            "slab_length_mm_p10_p50_p90": quantiles(lengths),
            "mid_slice_offset_mm_p10_p50_p90": quantiles(off_mid),
            "mid_slice_within_3mm": share(off_mid, 3.0),
            "uniform_admissible_guess_within_3mm": share(off_guess, 3.0),
            "nodule_free_slabs": len(free_mid_z),
            "slab_middle_z_mm_p10_p50_p90": {"with_nodules": quantiles(nodule_mid_z),
                                             "nodule_free": quantiles(free_mid_z)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--margin-mm", type=float, default=14.0)
    args = parser.parse_args()
    print(json.dumps(slab_positions(args.workspace, margin_mm=args.margin_mm)))


if __name__ == "__main__":
    main()
