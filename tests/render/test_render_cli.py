"""The render/describe command functions (registered on a test app; main.py adds them)."""

from __future__ import annotations

from pathlib import Path

import typer
from render_cases import sphere, write_case
from typer.testing import CliRunner

from lesiontrials.cli import render_commands
from lesiontrials.io import Volume

app = typer.Typer()
app.command("render")(render_commands.render)
app.command("describe")(render_commands.describe)


def test_describe_command() -> None:
    result = CliRunner().invoke(app, ["describe", "8 mm part-solid nodule with spiculated "
                                      "margins", "--rules-only"])
    assert result.exit_code == 0, result.output
    assert "part_solid" in result.output and "spiculation=4.0" in result.output


def test_render_command(tmp_path: Path, thorax: Volume) -> None:
    write_case(tmp_path / "ws", tmp_path / "root", labels=thorax, nodules=[sphere(5.0)])
    result = CliRunner().invoke(app, ["render", "--all", "--workspace", str(tmp_path / "ws"),
                                      "--data-root", str(tmp_path / "root"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ws" / "cases" / "T1" / "T1-0000" / "ct.nii.gz").is_file()
    bad = CliRunner().invoke(app, ["render", "T1", "--backend", "nope",
                                   "--workspace", str(tmp_path / "ws")])
    assert bad.exit_code != 0


def test_render_appearance_with_a_size_warns_and_is_recorded(tmp_path: Path,
                                                              thorax: Volume) -> None:
    from lesiontrials.io import read_json

    write_case(tmp_path / "ws", tmp_path / "root", labels=thorax, nodules=[sphere(5.0)])
    result = CliRunner().invoke(app, ["render", "T1", "--appearance", "6 mm ground-glass "
                                      "nodule", "--workspace", str(tmp_path / "ws"),
                                      "--data-root", str(tmp_path / "root"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "states 6 mm" in result.output and "decided at planning" in result.output
    case = tmp_path / "ws" / "cases" / "T1" / "T1-0000"
    record = read_json(case / "render.json")
    assert record["appearance_override_size_ignored_mm"] == 6.0
    assert record["lesions"][0]["descriptors"]["attenuation"] == "ground_glass"
    assert "timing_s" not in record and "seconds" not in record["backend_qc"]
    assert read_json(case / "render_timing.json")["total_s"] > 0
