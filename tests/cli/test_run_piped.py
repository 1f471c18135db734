"""``lesiontrials run`` with stdout and stderr piped to a file, as in CI or ``nohup``:
no line is wrapped or cut — every path printed exists whole, no "…", the library's
progress lines keep their executor and counts on one line, model versions read as names."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import pytest

PATH = re.compile(r"(?<![\w.])(/[^\s()'\"`,;]+)")
PLACEHOLDERS = {"TRIAL", "CASE", "NAME", "MODEL", "SET"}  # e.g. "cases/TRIAL/CASE/"
TABLE_EDGES = tuple("┏┡┃│└┗┠╇┳")  # rich table borders also use "━"


def _paths_cut(lines: list[str], roots: tuple[Path, ...]) -> list[str]:
    """Absolute paths under ``roots`` printed in ``lines`` that do not exist (a wrapped or
    truncated path is cut in two, so neither part exists)."""
    missing = []
    for line in lines:
        for token in PATH.findall(line):
            path = token.rstrip(".:")
            if not any(path.startswith(str(root)) for root in roots):
                continue
            parts = path.split("/")
            stop = next((i for i, part in enumerate(parts) if part in PLACEHOLDERS), None)
            if stop is not None:  # a pattern naming where outputs go: its fixed part exists
                path = "/".join(parts[:stop]) or "/"
            if not (glob.glob(path) if "*" in path else os.path.exists(path)):
                missing.append(f"{path!r} in {line!r}")
    return missing


@pytest.mark.slow  # the whole pipeline (conftest.small_job_run, shared with the resume test)
def test_run_piped_to_a_file_wraps_and_cuts_nothing(tiny_world: Path, small_job_run) -> None:
    workspace, text = small_job_run.workspace, small_job_run.log
    assert small_job_run.returncode in (0, 3), text[-3000:]
    lines = text.splitlines()
    assert "…" not in text, [line for line in lines if "…" in line]
    assert _paths_cut(lines, (workspace, tiny_world)) == []
    assert any(str(workspace) in line for line in lines)
    # the library's progress and summary lines: description, executor and counts together
    for stage in ("insert", "render"):
        summaries = [line for line in lines if line.startswith(f"{stage} ")
                     and " done, " in line]
        assert summaries, stage
        for line in summaries:  # two workers: the local pool
            assert "[local-pool]" in line and "cases/min" in line and "CPU" in line, line
    bars = [line for line in lines if "━" in line and not line.startswith(TABLE_EDGES)]
    assert bars and all(re.search(r"\d+/\d+", line) for line in bars), bars[:5]
    # model versions are named, not the raw identity "1+67889e24…"
    scored = [line for line in lines if "answers scored now" in line]
    assert scored and all(re.search(r" v\d[\w.]* \(config [0-9a-f]{8}\)", line)
                          for line in scored), scored
    assert not any(re.search(r"\b\d+\+[0-9a-f]{8,}\b", line) for line in scored)
    # the final screen: headline numbers and the next command, each whole
    assert any(line.startswith("next: open ") and f"--workspace {workspace}" in line
               for line in lines)
