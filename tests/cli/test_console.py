"""Command output piped to a file is never wrapped or cut (rich would lay it out for 80
columns when stdout is not a terminal)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_piped_table_keeps_long_values_whole_on_one_line(tmp_path: Path):
    workspace = tmp_path / ("a_long_directory_name_" * 8) / "workspace"
    log = tmp_path / "config.log"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    with log.open("w") as out:  # a file, not a terminal
        subprocess.run([sys.executable, "-m", "lesiontrials.cli.main", "config",
                        "--workspace", str(workspace)], stdout=out, stderr=subprocess.STDOUT,
                       env=env, check=True)
    lines = log.read_text().splitlines()
    assert any(str(workspace) in line for line in lines), lines  # the path is not cut
    rows = [line for line in lines if line.startswith("│")]
    names = [line.split("│")[1].strip() for line in rows]
    assert all(names), rows  # no continuation line: a wrapped row would leave its name empty
    assert {"workspace", "data_root", "seed", "workers"} <= set(names)


def test_make_console_is_wide_and_soft_wrapping_off_a_terminal():
    from lesiontrials.cli.console import PLAIN_WIDTH, make_console

    console = make_console()  # pytest captures stdout: not a terminal
    assert not console.is_terminal
    assert console.width == PLAIN_WIDTH and console.soft_wrap


def test_the_final_screen_prints_each_headline_whole_and_stages_plainly(tmp_path: Path):
    import io
    import json

    from rich.console import Console

    from lesiontrials.cli.console import PLAIN_WIDTH, print_headlines, stage

    report = tmp_path / ("long_name_" * 12) / "report.html"
    report.parent.mkdir(parents=True)
    headline = ("- presence, synthetic (plain condition): best model **some_long_model_name"
                "_v2** 0.812 [0.701, 0.893], n = 160; best baseline majority (baseline) "
                "0.500 [0.420, 0.580], n = 160")
    (report.parent / "summary.json").write_text(json.dumps({"headlines": [headline]}))
    out = io.StringIO()
    console = Console(file=out, width=PLAIN_WIDTH, soft_wrap=True)  # as off a terminal
    stage(console, "summary")
    print_headlines(console, report)
    lines = out.getvalue().splitlines()
    assert lines[0] == "== summary =="  # no 10 000-character rule in a log
    assert lines[1] == headline.replace("**", "")
    assert lines[2] == f"report: {report} (Markdown: {report.with_suffix('.md')})"


def test_version_and_one_workers_option_on_every_per_case_stage():
    from typer.testing import CliRunner

    from lesiontrials import __version__
    from lesiontrials.cli.main import app

    runner = CliRunner()
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"lesiontrials {__version__}"
    for command in (["insert"], ["render"], ["slices"], ["run"], ["world", "build"]):
        text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
        assert "--workers" in text and "-j" in text and "lesiontrials config" in text, command


def test_backends_and_sizes_are_choices_refused_when_unknown():
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app
    from lesiontrials.cli.options import BackendName
    from lesiontrials.render.backends.registry import BACKEND_NAMES

    assert {b.value for b in BackendName} == set(BACKEND_NAMES)  # one list, in sync
    runner = CliRunner()
    for args in (["render", "t", "--backend", "nope"], ["world", "build", "--size", "paper"],
                 ["plan", "--all", "--size", "full"], ["run", "--size", "huge"]):
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 2 and "Invalid value" in result.output, (args, result.output)


def test_help_keeps_square_brackets_of_install_hints():
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app

    text = CliRunner().invoke(app, ["index", "embed", "--help"], env={"COLUMNS": "200"}).output
    assert "lesiontrials[encoder]" in text


def test_render_refuses_an_unknown_trial_and_tables_show_no_python_values(tmp_path: Path):
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app
    from lesiontrials.cli.render_commands import plain_value
    from lesiontrials.errors import InputError

    case = tmp_path / "cases" / "t1" / "t1-00000"
    case.mkdir(parents=True)
    (case / "insert.json").write_text("{}")
    result = CliRunner().invoke(app, ["render", "no_such_trial", "--workspace", str(tmp_path)])
    assert isinstance(result.exception, InputError)
    assert "no_such_trial" in str(result.exception) and "t1" in str(result.exception)
    assert plain_value({"analytic": 3, "host-ct": 1}) == "analytic: 3, host-ct: 1"
    assert plain_value(None) == "–" and plain_value({}) == "–"
    assert plain_value(0.123456) == "0.1235"


def test_render_of_many_trials_prints_one_table_with_a_row_per_trial(capsys):
    from lesiontrials.cli.render_commands import summary_table

    summaries = [{"trial": f"trial_{k}", "cases": 4, "rendered": 4, "this_run": {"done": 4},
                  "backends": {"analytic": 4}, "failed": [],
                  "fidelity": {"noise_sd_hu_mean": 11.5 + k, "texture_library": None}}
                 for k in range(3)]
    summary_table(summaries)
    out = capsys.readouterr().out
    assert out.count("render · ") == 1  # one table for the stage
    rows = [line for line in out.splitlines() if line.startswith("│ trial_")]
    assert len(rows) == 3 and "analytic: 4" in rows[0] and "None" not in out
    assert "{" not in out


def test_model_versions_read_as_name_version_and_config():
    from lesiontrials.cli.console import model_label
    from lesiontrials.scoring.models.registry import load_model

    threshold = load_model("threshold")
    label = model_label(threshold.name, threshold.version)  # e.g. "1+67889e24…"
    assert label.startswith("threshold v") and "(config " in label and "+" not in label
    digest = threshold.version.split("+", 1)[1]
    assert label.endswith(f"(config {digest[:8]})")
    assert model_label("m", "2") == "m v2" and model_label("m", "v1.5") == "m v1.5"
    assert model_label("m", "llava-med-hf") == "m (version llava-med-hf)"
