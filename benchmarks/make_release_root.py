"""Write a synthetic data root of the public release's layout *and dimensions*, for the
reference-size comparison of ``bench_insert.py --data-root`` and ``bench_slices.py
--data-root`` (issue 24). Prints JSON: path, scans, shapes, bytes, seconds.

The hosts are box-shaped thoraxes (:func:`lesiontrials.testing.box_thorax`, five lobes,
mediastinal structures) with sphere nodules, on 512×512×250–330 grids at 0.7×0.7×1 mm,
stored in LPS order like the release's NIfTIs; CTs carry Gaussian noise (SD 20 HU, so they
compress like real scans rather than like constants); donor masks lie on the scan's full
grid, as the release ships them; profiles CSVs with each dataset's quirks
(:mod:`lesiontrials.testing_release`). Synthetic anatomy of the same size and layout —
not the release's data.

    python benchmarks/make_release_root.py --out /tmp/release512
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lesiontrials.testing_release import REFERENCE_GRID, write_release_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty: choose a new directory")
    start = time.perf_counter()
    written = write_release_root(args.out, grid=REFERENCE_GRID)
    seconds = time.perf_counter() - start
    files = [p for p in args.out.rglob("*") if p.is_file()]
    print(json.dumps({
        "data_root": str(args.out), "synthetic": True, "scans": len(written.scans),
        "shapes": [list(REFERENCE_GRID.shape(i)) for i in range(len(written.scans))],
        "spacing_mm": list(REFERENCE_GRID.spacing_mm), "lps": REFERENCE_GRID.lps,
        "full_grid_masks": REFERENCE_GRID.full_grid_masks, "files": len(files),
        "bytes": sum(p.stat().st_size for p in files), "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
