"""The command line: commands run, print what they say, and fail with exit status 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lesiontrials.cli.main import app, main
from lesiontrials.io import Volume, VolumeKind, write_volume
from lesiontrials.testing import box_thorax, sphere_mask, write_release_profiles

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("config", "index", "world", "profile", "run"):
        assert command in result.output


def test_config_shows_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("LESIONTRIALS_SEED", "11")
    result = runner.invoke(app, ["config", "--workspace", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "environment (LESIONTRIALS_SEED)" in result.output
    assert "command line" in result.output


def test_index_build_stats_query(tmp_path):
    root = write_release_profiles(tmp_path / "root", {"LUNA25": 30, "LUNA16": 10})
    ws = tmp_path / "ws"
    env = {"COLUMNS": "200"}
    built = runner.invoke(app, ["index", "build", "-w", str(ws), "-d", str(root)], env=env)
    assert built.exit_code == 0, built.output
    assert (ws / "index" / "nodules.parquet").is_file() and "40 nodules" in built.output
    stats = runner.invoke(app, ["index", "stats", "-w", str(ws)], env=env)
    assert stats.exit_code == 0 and "LUNA16" in stats.output and "lobe RUL" in stats.output
    query = runner.invoke(app, ["index", "query", "-w", str(ws), "--dataset", "LUNA25",
                                "--lobe", "RUL"], env=env)
    table = pd.read_parquet(ws / "index" / "nodules.parquet")
    expected = int(((table.dataset == "LUNA25")
                    & (table.lobe_name == "right_lung_upper_lobe")).sum())
    assert f"{expected} matching nodules" in query.output


def test_profile_command_writes_the_release_columns(tmp_path):
    thorax = box_thorax()
    write_volume(tmp_path / "seg.nii.gz", thorax.volume, kind=VolumeKind.LABELS)
    mask = sphere_mask(thorax.volume.shape, (70, 40, 60), 5.0, thorax.spacing_mm)
    write_volume(tmp_path / "n1.nii.gz",
                 Volume(mask.to_full(thorax.volume.shape).astype(np.uint8), thorax.volume.affine),
                 kind=VolumeKind.MASK)
    result = runner.invoke(app, ["profile", str(tmp_path / "seg.nii.gz"),
                                 str(tmp_path / "n1.nii.gz"), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "p.csv")
    assert frame.loc[0, "nodule_id"] == "n1" and frame.loc[0, "lobe_name"] == (
        "right_lung_upper_lobe")


def test_errors_exit_2_with_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["lesiontrials", "index", "build", "-w", str(tmp_path),
                                     "-d", str(tmp_path / "missing")])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "data root directory not found" in err and "LESIONTRIALS_DATA_ROOT" in err


def test_plan_command_design_spec_and_schema(tmp_path):
    from lesiontrials.index import build_index, write_index
    from lesiontrials.paths import DataRoot, Workspace

    root = write_release_profiles(tmp_path / "root", {"LUNA25": 60, "DLCS24": 40})
    ws = tmp_path / "ws"
    build = build_index(DataRoot(root))
    write_index(build, Workspace(ws))
    env = {"COLUMNS": "200"}
    no_hosts = runner.invoke(app, ["plan", "--design", "1", "-w", str(ws), "-d", str(root)],
                             env=env)
    assert no_hosts.exit_code != 0  # no scan has a label map: nothing can host
    assert "no eligible host" in str(no_hosts.exception)
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: mine\nn_cases: 8\nprevalence: 0.5\n")
    schema = runner.invoke(app, ["plan", "--schema"], env=env)
    assert schema.exit_code == 0 and '"prevalence"' in schema.output
    missing_index = runner.invoke(app, ["plan", str(spec), "-w", str(tmp_path / "empty")])
    assert "no nodule index" in str(missing_index.exception)
    nothing = runner.invoke(app, ["plan", "--all", "-w", str(ws), "-d", str(root)], env=env)
    assert "nothing could be planned" in str(nothing.exception)  # no design is feasible
    assert "no eligible host" in nothing.output  # the table says why, design by design
