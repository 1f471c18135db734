"""``lesiontrials survival`` on a workspace built from a release-layout data root."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lesiontrials.cli.main import app
from lesiontrials.errors import InputError
from lesiontrials.index.build import build_index
from lesiontrials.io import read_json, write_parquet
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.survival.run import survival_json
from lesiontrials.testing import write_release_profiles


def test_cli_writes_a_simulated_labelled_record(tmp_path: Path) -> None:
    root = write_release_profiles(tmp_path / "root", {"LUNA25": 90}, seed=2)
    ws = Workspace(tmp_path / "ws")
    write_parquet(build_index(DataRoot(root)).table, ws.index_table)
    result = CliRunner().invoke(app, ["survival", "-w", str(ws.root), "--dataset", "LUNA25",
                                      "--replicates", "50", "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "SIMULATED outcomes" in result.output
    record = read_json(survival_json(ws))
    assert record["outcomes"] == "simulated"
    assert record["datasets"] == ["LUNA25"]
    assert record["dropped_clinical"]["pack_years"].startswith("missing")
    truth = record["generating_model"]["true_hr_per_sd"]
    assert truth["log_max_diameter_mm"] > 1.0
    assert "pack_years" not in truth  # not known for this cohort, so it carries no hazard
    assert set(record["scores"]) == {"clinical", "clinical+ct"}
    first = survival_json(ws).read_bytes()
    again = CliRunner().invoke(app, ["survival", "-w", str(ws.root), "--dataset", "LUNA25",
                                     "--replicates", "50", "--folds", "3"])
    assert again.exit_code == 0
    assert survival_json(ws).read_bytes() == first  # seeded: identical bytes


def test_cli_unknown_dataset_is_an_input_error(tmp_path: Path) -> None:
    root = write_release_profiles(tmp_path / "root", {"LUNA25": 30}, seed=2)
    ws = Workspace(tmp_path / "ws")
    write_parquet(build_index(DataRoot(root)).table, ws.index_table)
    result = CliRunner().invoke(app, ["survival", "-w", str(ws.root), "--dataset", "NOPE"])
    assert isinstance(result.exception, InputError)  # main() prints it and exits 2
    assert "'NOPE' is not in the index" in str(result.exception)
