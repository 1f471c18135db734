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
