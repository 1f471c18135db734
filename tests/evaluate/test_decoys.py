"""Guidance must not leak the presence label: guided negatives carry a decoy overlay.

A generated set (many one-nodule cases of random size and place) is built once; readers
that look only at the overlay — the ``overlay_reader`` baseline, a colour detector and a
reader that scores the overlay's size — must score chance on presence under every guided
condition. Decoys lie inside the lung, far from every nodule, and are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from evalsynth import (
    AFFINE,
    SHAPE,
    SPACING,
    crop_affine,
    ct_from,
    nodule_entry,
    thorax_labels,
)
from scipy import ndimage
from scipy.stats import norm

from lesiontrials import anatomy
from lesiontrials.io import (
    Volume,
    VolumeKind,
    read_png,
    read_volume,
    write_parquet,
    write_record,
    write_volume,
)
from lesiontrials.paths import Workspace
from lesiontrials.scoring.models.overlay_reader import OverlayReader
from lesiontrials.slicing.contract import Item
from lesiontrials.slicing.overlays import (
    GREEN,
    RED,
    colour_mask,
    decoy_region,
    overlay_pixels,
)
from lesiontrials.slicing.sets import build_eval_set
from lesiontrials.slicing.tasks import task_prompt
from lesiontrials.slicing.windowing import axial_display
from lesiontrials.testing import sphere_mask
from lesiontrials.testing_records import insert_record, render_record

TRIAL = "decoys"
N_CASES = 30
GUIDED = ("bbox", "contour", "bbox_contour")


def _write_generated_trial(root, *, seed: int = 7) -> Workspace:
    """``N_CASES`` cases, each one bright nodule (radius 2.5–9 mm) somewhere in a lung."""
    ws = Workspace(root)
    rng = np.random.default_rng(seed)
    lungs = {"right_lung_upper_lobe": (36, 58), "left_lung_upper_lobe": (6, 28)}
    uids = []
    for index in range(N_CASES):
        case = f"{TRIAL}-{index:05d}"
        uids.append(case)
        lobe = list(lungs)[index % 2]
        radius = float(rng.uniform(2.5, 9.0))
        x0, x1 = lungs[lobe]
        pad = math.ceil(radius / SPACING[0]) + 1
        centre = (float(rng.uniform(x0 + pad, x1 - pad)), float(rng.uniform(10 + pad, 46 - pad)),
                  float(rng.uniform(14, 19)))
        mask = sphere_mask(SHAPE, centre, radius, SPACING)
        labels = thorax_labels()
        labels[mask.box][mask.mask] = anatomy.NODULE
        case_dir = ws.case_dir(TRIAL, case)
        write_volume(case_dir / "nodule_0.nii.gz",
                     Volume(mask.mask.astype(np.uint8), crop_affine(mask)), kind=VolumeKind.MASK)
        write_volume(case_dir / "labels.nii.gz", Volume(labels, AFFINE), kind=VolumeKind.LABELS)
        write_volume(case_dir / "ct.nii.gz", Volume(ct_from(labels, index), AFFINE),
                     kind=VolumeKind.CT)
        write_record(insert_record(
            trial=TRIAL, case_uid=case, seed=index, ct_id=f"PH_{index}",
            nodules=[nodule_entry(0, mask, lobe, donor_uid=f"D/{case}", label=0)]),
            case_dir / "insert.json")
        write_record(render_record(trial=TRIAL, case_uid=case, backend="test"),
                     case_dir / "render.json")
    write_parquet(pd.DataFrame({"case_uid": uids, "design": "generated"}),
                  ws.trial_dir(TRIAL) / "manifest.parquet")
    return ws


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, pd.DataFrame]:
    ws = _write_generated_trial(tmp_path_factory.mktemp("decoyws"))
    build_eval_set(trial=TRIAL, workspace=ws, profiles=("lung",), show_progress=False)
    return ws, pd.read_parquet(ws.eval_dir(TRIAL, "lung") / "cases.parquet")


def _images(ws: Workspace, rows: pd.DataFrame) -> list[np.ndarray]:
    base = ws.eval_dir(TRIAL, "lung")
    return [read_png(base / p) for p in rows.image_path]


def _wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _auc_ci(positive: np.ndarray, negative: np.ndarray) -> tuple[float, float, float]:
    """Mann–Whitney AUC with a Hanley–McNeil 95 % interval."""
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    auc = float(greater + 0.5 * ties)
    n1, n0 = len(positive), len(negative)
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    se = math.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc)
                    + (n0 - 1) * (q2 - auc * auc)) / (n1 * n0))
    z = float(norm.ppf(0.975))
    return auc, auc - z * se, auc + z * se


@pytest.mark.parametrize("condition", GUIDED)
def test_overlay_only_readers_score_chance_on_presence(generated, condition):
    ws, items = generated
    rows = items[items.condition == condition]
    truth = (rows.truth_presence == "present").to_numpy()
    assert truth.sum() == N_CASES and (~truth).sum() == N_CASES
    images = _images(ws, rows)
    prompt = task_prompt("presence")
    reader = OverlayReader().answer([
        Item(slice_uid=u, task="presence", condition=condition, profile="lung",
             question=prompt.question, options=prompt.options, image=image,
             pixel_spacing_mm=float(s))
        for u, image, s in zip(rows.slice_uid, images, rows.pixel_spacing_mm, strict=True)])
    colour = np.array([overlay_pixels(image).any() for image in images])
    for said_present in (np.array([a.option == "present" for a in reader]), colour):
        # the cheat would be recall 1 with no false alarms; now it flags every item
        assert said_present[truth].mean() == said_present[~truth].mean()
        low, high = _wilson(int((said_present == truth).sum()), len(truth))
        assert low <= 0.5 <= high
    # a subtler cheat: the overlay's size (pixels of box and contour) as a presence score
    size = np.array([overlay_pixels(image).sum() for image in images], dtype=float)
    auc, low, high = _auc_ci(size[truth], size[~truth])
    assert low <= 0.5 <= high, (condition, auc)


def test_guided_negatives_carry_a_decoy_of_nodule_size(generated):
    _, items = generated
    negatives = items[(items.kind == "negative") & (items.condition != "plain")]
    assert len(negatives) == N_CASES * len(GUIDED) and negatives.overlay_decoy.all()
    assert not items[items.condition == "plain"].overlay_decoy.any()
    boxed = items[items.condition == "bbox"]
    width = (boxed.bbox_x1 - boxed.bbox_x0 + 1).to_numpy()
    positive = (boxed.kind == "positive").to_numpy()
    assert (width[~positive] > 0).all()
    # box widths of decoys and of nodules come from the same range
    assert np.median(width[~positive]) == pytest.approx(np.median(width[positive]), rel=0.35)
    assert (items[items.kind == "negative"].mask_area_px == 0).all()


def test_decoys_are_inside_the_lung_and_far_from_every_nodule(generated):
    ws, items = generated
    rows = items[(items.kind == "negative") & (items.condition == "contour")]
    for row, image in zip(rows.itertuples(), _images(ws, rows), strict=True):
        red = colour_mask(image, RED)
        region = ndimage.binary_fill_holes(red) & ~red
        assert region.sum() > 0
        labels = read_volume(ws.case_dir(TRIAL, row.case_uid) / "labels.nii.gz").array
        lung = axial_display(np.isin(labels[:, :, row.z_index], anatomy.LOBE_LABELS))
        assert (region <= lung).all()  # the outlined region is lung
        nodule = np.argwhere(labels == anatomy.NODULE) * np.asarray(SPACING)
        cols, rws = np.nonzero(region.T)  # display (row, col) -> voxel (x, y)
        x = SHAPE[0] - 1 - cols
        y = SHAPE[1] - 1 - rws
        points = np.stack([x, y, np.full_like(x, row.z_index)], axis=1) * np.asarray(SPACING)
        gap = np.min(np.linalg.norm(points[:, None, :] - nodule[None, :, :], axis=2))
        assert gap >= 10.0  # the set's negative margin (mm)
        assert not colour_mask(image, GREEN).any()  # a contour decoy is drawn like a contour


def test_decoys_are_deterministic(generated, tmp_path):
    ws, items = generated
    again_ws = _write_generated_trial(tmp_path / "again")
    build_eval_set(trial=TRIAL, workspace=again_ws, profiles=("lung",), show_progress=False,
                   workers=2)
    again = pd.read_parquet(again_ws.eval_dir(TRIAL, "lung") / "cases.parquet")
    pd.testing.assert_frame_equal(items, again)
    negatives = again[(again.kind == "negative") & (again.condition != "plain")]
    for path in negatives.image_path:
        assert ((ws.eval_dir(TRIAL, "lung") / path).read_bytes()
                == (again_ws.eval_dir(TRIAL, "lung") / path).read_bytes())


def test_decoy_region_fits_the_lung_and_keeps_its_distance():
    lung = np.zeros((80, 80), bool)
    lung[10:70, 10:70] = True
    avoid = np.zeros_like(lung)
    avoid[15:25, 15:25] = True
    for seed in range(20):
        region = decoy_region(lung, diameter_px=(12.0, 12.0), avoid=avoid, min_distance_px=15.0,
                              rng=np.random.default_rng(seed))
        assert region is not None and (region <= lung).all()
        distance = ndimage.distance_transform_edt(~avoid)
        assert distance[region].min() >= 15.0
        diameter = 2 * math.sqrt(region.sum() / math.pi)
        assert 9.0 <= diameter <= 15.0
    first = decoy_region(lung, diameter_px=(8.0, 6.0), rng=np.random.default_rng(3))
    second = decoy_region(lung, diameter_px=(8.0, 6.0), rng=np.random.default_rng(3))
    assert first is not None and second is not None and (first == second).all()
    assert decoy_region(lung, diameter_px=(70.0, 70.0), rng=np.random.default_rng(0)) is None


def test_chat_prompts_are_the_same_in_every_condition_and_name_no_overlay():
    from lesiontrials.scoring.models.messages import prompt_text
    from lesiontrials.slicing.contract import CONDITIONS, TASKS

    image = np.zeros((8, 8), np.uint8)
    for task in TASKS:
        prompt = task_prompt(task)
        texts = {prompt_text(Item(slice_uid="s", task=task, condition=c, profile="lung",
                                  question=prompt.question, options=prompt.options,
                                  image=image), n_images=3)
                 for c in CONDITIONS}
        assert len(texts) == 1
        words = next(iter(texts)).lower()
        assert not any(w in words for w in ("box", "outline", "contour", "green", "red "))
