"""Demo renders as the evaluation sees them (``docs/images/demo_renders.png``). Prints JSON
(which cases were drawn, their grids and slabs).

From a finished demo workspace (``lesiontrials run --size demo``), the phantom-host cases
whose primary nodule's realised equivalent diameter is nearest 4, 8 and 20 mm: per case
the whole axial slice through the nodule, then axial, coronal and sagittal crops of
48 mm around it, lung window (−1350…150 HU), drawn at their true mm aspect from the
rendered ``ct.nii.gz`` (an axial slab of the 0.75×0.75×1 mm host; the coronal and
sagittal crops end where the slab ends). Patient right on the image left, anterior and
superior up.

    python benchmarks/fig_demo_renders.py --workspace /tmp/demo --out docs/images/demo_renders.png

``--render-from WS``: take the inserted (not necessarily rendered) phantom-host cases of
workspace ``WS`` instead, copy the three chosen cases' insert outputs into ``--workspace``
and render just those with the current renderer (``WS/world`` as the data root) — the
figure of a demo whose render stage has not run, or ran on an older renderer.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from lesiontrials.io import read_record, read_volume
from lesiontrials.paths import Workspace
from lesiontrials.records.insert import InsertRecord
from lesiontrials.records.render import RenderRecord
from lesiontrials.slicing.windowing import axial_display

TARGETS_MM = (4.0, 8.0, 20.0)
CROP_MM = 48.0
WINDOW = (-1350.0, 150.0)


def _candidates(workspace: Workspace, *, rendered: bool = True
                ) -> list[tuple[float, Path, InsertRecord]]:
    """(realised diameter, case dir, record) of every (``rendered``) phantom-host case."""
    found = []
    for insert_json in sorted(workspace.root.glob("cases/*/*/insert.json")):
        case_dir = insert_json.parent
        if rendered and not (case_dir / "ct.nii.gz").is_file():
            continue
        record = read_record(insert_json, InsertRecord)
        if not record.done or not record.nodules or record.host.ct_path:
            continue
        primary = next((n for n in record.nodules if n.primary), record.nodules[0])
        found.append((primary.realised.equivalent_diameter_mm, case_dir, record))
    return found


def _planes(ct: np.ndarray, centre: np.ndarray, spacing: tuple[float, float, float]
            ) -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Whole axial slice, then axial/coronal/sagittal crops; each with its mm extent."""
    c = [round(float(v)) for v in centre]
    half = [round(CROP_MM / 2 / s) for s in spacing]
    box = [slice(max(0, c[a] - half[a]), min(ct.shape[a], c[a] + half[a] + 1)) for a in range(3)]
    planes = [(ct[:, :, c[2]], (spacing[0], spacing[1])),
              (ct[box[0], box[1], c[2]], (spacing[0], spacing[1])),
              (ct[box[0], c[1], box[2]], (spacing[0], spacing[2])),
              (ct[c[0], box[1], box[2]], (spacing[1], spacing[2]))]
    out = []
    for plane, (s_col, s_row) in planes:
        shown = axial_display(plane)  # rows: 2nd axis reversed, cols: 1st axis reversed
        out.append((shown, (0.0, shown.shape[1] * s_col, 0.0, shown.shape[0] * s_row)))
    return out


_RENDER_OUTPUTS = ("ct.nii.gz", "render.json", "qc.png", "render_timing.json")


def render_chosen(source: Workspace, workspace: Workspace) -> list[str]:
    """Copy the insert outputs of ``source``'s cases nearest ``TARGETS_MM`` into
    ``workspace`` and render them there (current renderer); their case uids."""
    import shutil

    from lesiontrials.render.case import RenderJob, render_case

    candidates = _candidates(source, rendered=False)
    if not candidates:
        raise SystemExit(f"no inserted phantom-host case with a nodule under {source.root}")
    done = []
    for target in TARGETS_MM:
        _, case_dir, record = min(candidates, key=lambda c, t=target: abs(c[0] - t))
        copy = workspace.root / case_dir.relative_to(source.root)
        if copy.exists():
            shutil.rmtree(copy)
        copy.mkdir(parents=True)
        for path in case_dir.iterdir():
            if path.is_file() and path.name not in _RENDER_OUTPUTS:
                shutil.copy2(path, copy / path.name)
        outcome = render_case(RenderJob(case_dir=copy, data_root=source.root / "world"))
        if outcome.status != "done":
            raise SystemExit(f"{record.case_uid}: render {outcome.status} ({outcome.reason})")
        done.append(record.case_uid)
    return done


def draw(workspace: Workspace, out: Path) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    candidates = _candidates(workspace)
    if not candidates:
        raise SystemExit(f"no rendered phantom-host case with a nodule under {workspace.root}")
    chosen = [min(candidates, key=lambda c, t=t: abs(c[0] - t)) for t in TARGETS_MM]
    fig, axes = plt.subplots(len(chosen), 4, figsize=(13, 3.4 * len(chosen)),
                             gridspec_kw={"width_ratios": [1.6, 1, 1, 1]})
    facts = []
    for row, (diameter, case_dir, record) in enumerate(chosen):
        ct = read_volume(case_dir / "ct.nii.gz")
        primary = next((n for n in record.nodules if n.primary), record.nodules[0])
        centre = np.asarray(primary.realised.centroid_voxel)
        titles = ["axial (whole slice)", "axial", "coronal", "sagittal"]
        for col, (image, extent) in enumerate(_planes(ct.array, centre, ct.spacing_mm)):
            ax = axes[row, col]
            ax.imshow(image, cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], extent=extent,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(titles[col], fontsize=9)
        described = read_record(case_dir / "render.json", RenderRecord).lesions
        kind = next((e.description for e in described
                     if e.nodule_index == primary.nodule_index), "").split(",")[0]
        axes[row, 0].set_ylabel(f"{record.case_uid} · {record.host.ct_id}\n{kind}", fontsize=9)
        host = record.host
        facts.append({"case_uid": record.case_uid, "diameter_mm": round(diameter, 2),
                      "description": kind,
                      "host": host.ct_id, "ct_shape": list(ct.shape),
                      "spacing_mm": [round(s, 4) for s in ct.spacing_mm],
                      "slab_z_voxels": host.slab_z_voxels, "host_shape": host.shape})
    fig.suptitle("Demo renders at screening resolution (0.75 mm pixels, 1-1.25 mm slices; "
                 "48 mm crops, lung window)", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return {"figure": str(out), "cases": facts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/images/demo_renders.png"))
    parser.add_argument("--render-from", type=Path, default=None,
                        help="render the chosen cases of this inserted workspace first")
    args = parser.parse_args()
    rendered = (render_chosen(Workspace(args.render_from), Workspace(args.workspace))
                if args.render_from else [])
    print(json.dumps({**draw(Workspace(args.workspace), args.out), "rendered_now": rendered},
                     indent=2))


if __name__ == "__main__":
    main()
