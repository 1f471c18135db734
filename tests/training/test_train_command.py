"""``lesiontrials train`` and ``score --model trained`` end to end through the CLI."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lesiontrials.cli.main import app
from lesiontrials.paths import Workspace
from lesiontrials.testing_training import write_disk_set

runner = CliRunner()


def test_train_then_score_another_set_and_refuse_the_training_set(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_disk_set(ws, "trial_a", n_cases=12, seed=1, image_size=32)
    write_disk_set(ws, "trial_b", n_cases=4, seed=2, image_size=32)
    args = ["train", "cnn", "-w", str(tmp_path), "-s", "trial_a", "--epochs", "2",
            "--image-size", "32"]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert (tmp_path / "models" / "cnn" / "checkpoint.pt").is_file()
    again = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert "already complete" in again.output
    changed = runner.invoke(app, [*args[:-1], "48"], env={"COLUMNS": "200"})
    assert changed.exit_code != 0 and "another recipe" in str(changed.exception)
    score = ["score", "-w", str(tmp_path), "--model", "trained", "--model-path",
             str(tmp_path / "models" / "cnn"), "-c", "plain", "-t", "presence"]
    held_out = runner.invoke(app, [*score, "-s", "trial_b"], env={"COLUMNS": "200"})
    assert held_out.exit_code == 0, held_out.output
    assert (tmp_path / "results" / "cnn" / "trial_b" / "plain" / "presence").is_dir()
    seen = runner.invoke(app, [*score, "-s", "trial_a"], env={"COLUMNS": "200"})
    assert seen.exit_code != 0 and "trained on" in str(seen.exception)


def test_train_patch3d_then_score_it_on_the_volume_track(tmp_path: Path) -> None:
    from lesiontrials.testing_training import write_sphere_volume_set

    ws = Workspace(tmp_path)
    write_sphere_volume_set(ws, "vol_a", n_scans=8, seed=1)
    write_sphere_volume_set(ws, "vol_b", n_scans=3, seed=2)
    trained = runner.invoke(app, ["train", "p3d", "--kind", "patch3d", "-w", str(tmp_path),
                                  "-s", "vol_a", "--epochs", "2", "--patch-size", "12",
                                  "--spacing-mm", "2"], env={"COLUMNS": "200"})
    assert trained.exit_code == 0, trained.output
    assert "patches" in trained.output
    checkpoint = str(tmp_path / "models" / "p3d" / "checkpoint.pt")
    score = ["volumes", "score", "-w", str(tmp_path), "--model", "log_blob_3d",
             "--trained", checkpoint]
    held_out = runner.invoke(app, [*score, "-s", "vol_b"], env={"COLUMNS": "200"})
    assert held_out.exit_code == 0, held_out.output
    assert (tmp_path / "volume_results" / "p3d" / "vol_b" / "candidates.parquet").is_file()
    seen = runner.invoke(app, [*score, "-s", "vol_a"], env={"COLUMNS": "200"})
    assert seen.exit_code != 0 and "trained on" in str(seen.exception)


def test_an_option_of_the_other_kind_is_refused(tmp_path: Path) -> None:
    for args in (["--kind", "patch3d", "--image-size", "48"],
                 ["--kind", "slice", "--patch-size", "16"]):
        result = runner.invoke(app, ["train", "x", "-w", str(tmp_path), "-s", "any", *args],
                               env={"COLUMNS": "200"})
        assert result.exit_code == 2 and "does not apply to --kind" in result.output


def test_a_batch_of_one_is_refused() -> None:
    import pytest
    from pydantic import ValidationError

    from lesiontrials.training.recipe import TrainRecipe

    with pytest.raises(ValidationError, match="batch_size"):
        TrainRecipe(batch_size=1)
