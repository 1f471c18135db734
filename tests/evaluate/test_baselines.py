"""Each classical baseline's code path on the synthetic set (bright nodules, dark lungs)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from evalsynth import TRIAL

from lesiontrials.io import read_png
from lesiontrials.scoring.models.baselines import BlobDetector, ThresholdDetector
from lesiontrials.scoring.models.imaging import hu_estimate, lobe_at, lung_silhouette
from lesiontrials.scoring.models.overlay_reader import OverlayReader
from lesiontrials.scoring.models.prior import MajorityPrior
from lesiontrials.scoring.models.registry import MODELS, load_model
from lesiontrials.slicing.contract import TASK_OPTIONS, Item, Model
from lesiontrials.slicing.tasks import task_prompt


def _items(trial, *, condition: str, task: str, profile: str = "lung") -> tuple[list[Item],
                                                                               list[str]]:
    base = trial.workspace.eval_dir(TRIAL, profile)
    frame = pd.read_parquet(base / "cases.parquet")
    frame = frame[frame.condition == condition]
    if task != "presence":
        frame = frame[frame.kind == "positive"]
    items, truth = [], []
    prompt = task_prompt(task)
    for row in frame.itertuples():
        paths = json.loads(row.context_paths)
        items.append(Item(slice_uid=row.slice_uid, task=task, condition=condition,
                          profile=profile, question=prompt.question, options=prompt.options,
                          image=read_png(base / row.image_path),
                          context=(read_png(base / paths[0]), read_png(base / paths[2])),
                          pixel_spacing_mm=row.pixel_spacing_mm))
        truth.append(getattr(row, f"truth_{task}"))
    return items, truth


@pytest.mark.parametrize("profile", ["lung", "medgemma_rgb"])
@pytest.mark.parametrize("model_class", [ThresholdDetector, BlobDetector])
def test_intensity_detectors_find_bright_nodules(built_trial, model_class, profile):
    model = model_class()
    assert isinstance(model, Model) and model.version.startswith(f"{model.algorithm_version}+")
    assert model.algorithm_version == ("5" if model_class is BlobDetector else "4")
    for task in ("presence", "lobe", "size"):
        items, truth = _items(built_trial, condition="plain", task=task, profile=profile)
        answers = model.answer(items)
        assert [a.option for a in answers] == truth, (task, [a.raw_text for a in answers])
        assert all(a.option in TASK_OPTIONS[task] and a.parse_status == "ok" for a in answers)
    presence = model.answer(_items(built_trial, condition="plain", task="presence")[0])
    assert all(set(a.scores or {}) == {"present", "absent"} for a in presence)


@pytest.mark.parametrize("condition", ["bbox", "contour", "bbox_contour"])
def test_overlay_reader_reads_the_overlay(built_trial, condition):
    model = OverlayReader()
    for task in ("lobe", "size"):
        items, truth = _items(built_trial, condition=condition, task=task)
        answers = model.answer(items)
        assert [a.option for a in answers] == truth
        assert all(("box" in a.raw_text) or ("contour" in a.raw_text) for a in answers)
    items, truth = _items(built_trial, condition=condition, task="presence")
    answers = model.answer(items)
    # negatives carry a decoy overlay: reading the overlay says "present" for every item
    assert {a.option for a in answers} == {"present"} and "absent" in truth


def test_overlay_reader_falls_back_without_overlay(built_trial):
    items, truth = _items(built_trial, condition="plain", task="presence")
    answers = OverlayReader().answer(items)
    assert all(a.raw_text.startswith("no overlay") for a in answers)
    assert [a.option for a in answers] == truth


def test_detectors_are_robust_to_overlays(built_trial):
    for condition in ("bbox", "contour"):
        items, truth = _items(built_trial, condition=condition, task="size")
        assert [a.option for a in ThresholdDetector().answer(items)] == truth


def test_majority_prior_fits_and_answers_the_most_frequent_option(built_trial):
    model = load_model("majority")
    assert isinstance(model, MajorityPrior)
    items, _ = _items(built_trial, condition="plain", task="size")
    assert {a.option for a in model.answer(items)} == {"5-10"}  # the default prior
    before = model.version
    model.fit_prior({"size": [">=20", ">=20", "5-10"]})
    answers = model.answer(items)
    assert {a.option for a in answers} == {">=20"} and model.version != before
    assert answers[0].scores == pytest.approx({"<5": 0, "5-10": 1 / 3, "10-20": 0,
                                               ">=20": 2 / 3})


def test_registry_lists_the_baselines_and_rejects_unknown_names():
    from lesiontrials.errors import InputError

    for name in ("threshold", "blob", "overlay_reader", "majority"):
        assert name in MODELS and load_model(name).name == name
    with pytest.raises(InputError, match="unknown model"):
        load_model("no-such-model")


def test_lobe_guess_from_position():
    lung = np.zeros((60, 80), bool)
    lung[10:50, 5:35] = True  # patient right lung (image left)
    lung[10:50, 45:75] = True
    assert lobe_at(15, 20, lung) == "right_lung_upper_lobe"
    assert lobe_at(45, 20, lung) == "right_lung_lower_lobe"
    assert lobe_at(15, 60, lung) == "left_lung_upper_lobe"
    assert lobe_at(45, 60, lung) == "left_lung_lower_lobe"
    wide = np.zeros((60, 80), bool)
    wide[10:50, 2:25] = True  # heart level: a wide gap in the anterior half
    wide[30:50, 25:34] = True
    wide[10:50, 55:78] = True
    assert lobe_at(14, 12, wide) == "right_lung_middle_lobe"


def test_hu_estimate_inverts_both_profiles():
    from lesiontrials.slicing.windowing import lung_grey, medgemma_rgb

    hu = np.array([[-900.0, -600.0], [0.0, 100.0]])
    assert np.abs(hu_estimate(lung_grey(hu), profile="lung") - hu).max() < 4
    assert np.abs(hu_estimate(medgemma_rgb(hu), profile="medgemma_rgb") - hu).max() < 5
    lung = lung_silhouette(np.pad(np.full((10, 10), -850.0), 3, constant_values=40.0),
                           spacing_mm=5.0, min_area_mm2=100.0)
    assert lung.sum() == 100


def _write_set(workspace, name: str, rows: list[dict]) -> None:
    from lesiontrials.io import write_json, write_parquet

    frame = pd.DataFrame(rows)
    frame = pd.concat([frame.assign(condition=c) for c in ("plain", "bbox")], ignore_index=True)
    write_parquet(frame, workspace.eval_dir(name, "lung") / "cases.parquet")
    write_json({"name": name}, workspace.eval_set_dir(name) / "set.json")


def _slice(uid: str, *, donor: str, case: str, size: str, source: str = "synthetic") -> dict:
    from lesiontrials.testing_records import eval_item_row

    positive = bool(size)
    return eval_item_row(slice_uid=uid, set="s", source=source, donor_uid=donor,
                         host_dataset="LUNG1" if source == "real" else "PHANTOM",
                         case_uid=case, kind="positive" if positive else "negative",
                         truth_presence="present" if positive else "absent",
                         truth_lobe="right_lung_upper_lobe" if positive else "",
                         truth_size=size)


def test_majority_prior_is_never_fitted_on_the_slices_it_is_scored_on(tmp_path):
    """Calibration-fold slices say 'absent' / '>=20'; every reported (held-out) and real
    slice says 'present' / '<5'. A prior fitted on the scored slices would be right on all
    of them; ours, fitted on the calibration fold only, is right on none."""
    from lesiontrials.paths import Workspace
    from lesiontrials.scoring.calibration import in_calibration
    from lesiontrials.scoring.runner import calibration_truth

    workspace = Workspace(tmp_path / "ws")
    rows = []
    for i in range(40):
        if in_calibration(f"donor:d{i}"):  # calibration: a few large nodules ...
            if i % 4 == 0:
                rows.append(_slice(f"p{i}", donor=f"d{i}", case=f"c{i}", size=">=20"))
        else:  # ... held out: many small ones
            rows.append(_slice(f"p{i}", donor=f"d{i}", case=f"c{i}", size="<5"))
        if in_calibration(f"case:n{i}"):  # nodule-free slices only in the calibration fold
            rows.append(_slice(f"n{i}", donor="", case=f"n{i}", size=""))
    _write_set(workspace, "s", rows)
    _write_set(workspace, "real", [_slice(f"r{i}", donor="", case=f"r{i}", size="<5",
                                          source="real") for i in range(10)])
    fit = calibration_truth(workspace, "lung")
    scored = [r for r in rows if not in_calibration(
        f"donor:{r['donor_uid']}" if r["donor_uid"] else f"case:{r['case_uid']}")]
    assert scored and fit.calibration["sets"] == ["s"]
    # no real label and no scored one
    assert sum(fit.truth["presence"].values()) + len(scored) == len(rows)

    ours, cheat = MajorityPrior(), MajorityPrior()
    ours.fit_prior(fit.truth, calibration=fit.calibration)
    cheat.fit_prior({"presence": [r["truth_presence"] for r in scored],
                     "size": [r["truth_size"] for r in scored]})
    for task in ("presence", "size"):
        prompt = task_prompt(task)
        items = [Item(slice_uid=r["slice_uid"], task=task, condition="plain", profile="lung",
                      question=prompt.question, options=prompt.options,
                      image=np.zeros((4, 4), np.uint8)) for r in scored]
        truth = [r[f"truth_{task}"] for r in scored]
        right = {name: [a.option == t for a, t in zip(model.answer(items), truth, strict=True)]
                 for name, model in (("cheat", cheat), ("ours", ours))}
        assert all(right["cheat"]) and not any(right["ours"]), task
    assert json.loads(ours.card.extra["fitted_on"])["sha256"] == fit.calibration["sha256"]
    assert ours.version != cheat.version


def test_scored_majority_records_the_splits_calibration_fold(fresh_trial):
    from lesiontrials.scoring.runner import score
    from lesiontrials.scoring.splits import make_split

    score(model="majority", workspace=fresh_trial.workspace, sets=[TRIAL],
          show_progress=False)
    split = make_split(workspace=fresh_trial.workspace, name="main", sets=[TRIAL])
    card = json.loads((fresh_trial.workspace.results_root / "majority" / "model.json")
                      .read_text())["card"]
    fitted_on = json.loads(card["extra"]["fitted_on"])
    assert fitted_on["sha256"] == split.provenance["calibration"]["sha256"]
    assert fitted_on["slices"] == len(split.provenance["calibration"]["uids"]) > 0


def test_presence_option_scores_are_probabilities_that_agree_with_the_answer():
    """LoG responses exceed 1; the option scores must still lie in [0, 1], sum to 1 and put
    the answer given on top (the report's Brier/ECE/AUROC read them as probabilities)."""
    import math

    from lesiontrials.scoring.models.baselines import presence_probability

    for threshold in (0.3, 0.5):
        for score in (0.0, 0.1, threshold, 0.9, 1.0113, 7.5):
            p = presence_probability(score, threshold=threshold)
            assert 0.0 <= p < 1.0
            assert (p >= 0.5) == (score >= threshold)
    assert math.isclose(presence_probability(0.3, threshold=0.3), 0.5)
    with pytest.raises(ValueError):
        presence_probability(-0.01, threshold=0.5)
