"""Frozen splits: one reporting N, hash reproducibility, checks."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from evalsynth import TRIAL

from lesiontrials.errors import InputError
from lesiontrials.scoring.runner import score
from lesiontrials.scoring.splits import check_split, load_split, make_split, uid_hash


def test_uid_hash_is_over_the_sorted_lines():
    assert uid_hash(["b", "a"]) == hashlib.sha256(b"a\nb\n").hexdigest()
    assert uid_hash([]) == hashlib.sha256(b"").hexdigest()


@pytest.fixture
def scored(fresh_trial):
    for model in ("majority", "overlay_reader"):
        score(model=model, workspace=fresh_trial.workspace, sets=[TRIAL], show_progress=False)
    return fresh_trial.workspace


def test_split_is_reproducible_and_checks(scored):
    first = make_split(workspace=scored, name="main", sets=[TRIAL])
    fold = first.provenance["calibration"]
    # every slice is either reported or in the calibration fold, never both
    assert len(first.uids) + len(fold["uids"]) == 6 and not set(first.uids) & set(fold["uids"])
    assert 0 < len(first.uids) < 6  # this seed puts units in both folds
    assert list(first.uids) == sorted(first.uids)
    assert first.provenance["models"] == ["majority", "overlay_reader"]
    counts = first.provenance["counts"][TRIAL]
    assert counts["slices"] == 6 and counts["kept"] == len(first.uids)
    assert counts["calibration"] == len(fold["uids"]) and fold["sha256"] == uid_hash(
        fold["uids"])
    main_bytes = scored.split_file("main").read_bytes()
    second = make_split(workspace=scored, name="main", sets=[TRIAL])
    assert second.sha256 == first.sha256 == uid_hash(first.uids)
    assert scored.split_file("main").read_bytes() == main_bytes  # byte-identical re-run
    assert load_split(scored, "main").uids == first.uids
    assert check_split(workspace=scored, name="main").ok


def test_one_reporting_n_drops_slices_a_model_did_not_score(scored):
    score(model="threshold", workspace=scored, sets=[TRIAL], conditions=["plain"],
          show_progress=False)
    partial = make_split(workspace=scored, name="p", sets=[TRIAL],
                         models=["majority", "threshold"])
    assert partial.uids == ()  # threshold has no bbox/contour results yet
    plain = make_split(workspace=scored, name="plain", sets=[TRIAL],
                       models=["majority", "threshold"], conditions=["plain"])
    assert len(plain.uids) + len(plain.provenance["calibration"]["uids"]) == 6


def test_check_detects_tampering_and_lost_results(scored):
    split = make_split(workspace=scored, name="main", sets=[TRIAL])
    items = pd.read_parquet(scored.eval_dir(TRIAL, "lung") / "cases.parquet")
    positives = set(items.loc[items["kind"] == "positive", "slice_uid"]) & set(split.uids)
    shard = next((scored.root / "results" / "majority" / TRIAL / "bbox" / "lobe")
                 .glob("part-*.parquet"))
    shard.unlink()
    result = check_split(workspace=scored, name="main")
    assert positives and result.hash_ok and not result.reproducible
    assert set(result.missing) == positives  # the lobe task asks positives only
    path = scored.split_file("main")
    path.write_text(path.read_text().replace('"sha256": "', '"sha256": "0'))
    assert not check_split(workspace=scored, name="main").hash_ok


def test_no_models_is_a_clear_error(fresh_trial):
    with pytest.raises(InputError, match="no models"):
        make_split(workspace=fresh_trial.workspace, name="x", sets=[TRIAL])


def test_split_hash_is_stable_when_a_model_is_added(scored):
    first = make_split(workspace=scored, name="main", sets=[TRIAL])
    score(model="threshold", workspace=scored, sets=[TRIAL], show_progress=False)
    again = make_split(workspace=scored, name="again", sets=[TRIAL])
    assert again.provenance["models"] == ["majority", "overlay_reader", "threshold"]
    assert again.sha256 == first.sha256 and again.uids == first.uids
    assert again.provenance["calibration"]["sha256"] == first.provenance["calibration"][
        "sha256"]


def test_only_trained_models_scored_is_an_error_naming_them(fresh_trial):
    """A trained model never decides the split; when it is the only one scored the error
    says so (it used to fall through to "no models")."""
    import json
    workspace = fresh_trial.workspace
    score(model="majority", workspace=workspace, sets=[TRIAL], show_progress=False)
    card_path = workspace.results_root / "majority" / "model.json"
    record = json.loads(card_path.read_text())
    record["card"] = {**record.get("card", {}), "kind": "trained",
                      "extra": {"training_sets": json.dumps(["other"])}}
    card_path.write_text(json.dumps(record))
    with pytest.raises(InputError, match="only trained models.*majority") as error:
        make_split(workspace=workspace, name="x", sets=[TRIAL])
    assert "weight-free baseline" in str(error.value)
