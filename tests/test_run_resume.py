"""``lesiontrials run`` killed with SIGKILL at three points, then resumed, leaves a
workspace byte-identical to an uninterrupted run, with no temp files or locks left; and a
rerun of a finished run changes nothing but the per-case timing logs.

Every run uses two workers (the CI machine's cores; byte identity across worker counts is
tested per stage), and a kill takes the whole process group, workers included, as a
crash of the machine would: no orphaned worker can finish a file after the kill. The job
is the small one of ``conftest.small_job`` (four designs, 14 cases: every stage runs, from
world to report), so the six runs take minutes, not the demo's half hour. The uninterrupted
run is ``conftest.small_job_run``, made once per test run and shared with the piped-output
test (``tests/cli/test_run_piped.py``), which reads its log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lesiontrials.testing import assert_same_outputs, output_snapshot

TIMING_LOGS = ("_timing.json",)  # wall-clock seconds: the documented per-run logs


def _outputs(workspace: Path) -> dict[str, bytes]:
    """Every output file, but the timing logs and the decoded-volume cache (not an output:
    safe to delete, a killed writer's temporary file there is removed once stale)."""
    snapshot = output_snapshot(workspace, root=workspace, skip_suffixes=TIMING_LOGS)
    return {name: data for name, data in snapshot.items() if not name.startswith("cache/")}


def _run(workspace: Path, job: list[str]) -> list[str]:
    return [sys.executable, "-m", "lesiontrials.cli.main", "run", "--size", "demo",
            "--workers", "2", "--keep-going", "-w", str(workspace), *job]


def _kill_when(command: list[str], env: dict[str, str], ready: Callable[[], bool],
               timeout_s: float = 1800) -> None:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before the kill point"
    os.killpg(process.pid, signal.SIGKILL)  # the run and its workers
    process.wait()


@pytest.mark.slow
def test_sigkill_three_times_then_resume_is_byte_identical(tiny_world, small_job, small_job_run,
                                                           tmp_path):
    env = {**os.environ, "LESIONTRIALS_DATA_ROOT": str(tiny_world), "COLUMNS": "120"}
    # the uninterrupted run: conftest's, shared with the piped-output test (read-only here)
    reference, killed = small_job_run.workspace, tmp_path / "killed"
    assert small_job_run.returncode in (0, 3), small_job_run.log[-2000:]
    expected = _outputs(reference)
    cases = len(list(reference.glob("cases/*/*/labels.nii.gz")))
    assert cases >= 10, f"the small job has {cases} cases: too few to kill mid-stage"
    # every stage wrote its outputs (a kill after a stage that made nothing proves little)
    for made in ("cases/*/*/ct.nii.gz", "eval/*/set.json", "results/*", "results/demo-cnn/*",
                 "splits/main.json", "volume_results/*", "questions/*",
                 "reports/demo/report.html"):
        assert list(reference.glob(made)), made

    points = [  # during insert, during render, after the first evaluation set
        lambda: len(list(killed.glob("cases/*/*/labels.nii.gz"))) >= cases // 3,
        lambda: len(list(killed.glob("cases/*/*/ct.nii.gz"))) >= cases // 2,
        lambda: any(killed.glob("eval/*/set.json")),
    ]
    for ready in points:
        _kill_when(_run(killed, small_job), env, ready)
    resumed = subprocess.run(_run(killed, small_job), env=env, capture_output=True,
                             check=False)
    assert resumed.returncode == small_job_run.returncode, resumed.stderr.decode()[-2000:]
    got = _outputs(killed)
    assert sorted(got) == sorted(expected)
    assert_same_outputs(got, expected)  # names each differing file, content or compression
    assert not [p for p in killed.rglob(".*.tmp") if "cache" not in p.relative_to(killed).parts]
    assert not list(killed.rglob("*.lock"))

    # a finished run run again changes nothing (on the resumed workspace: the reference is
    # shared)
    again = subprocess.run(_run(killed, small_job), env=env, capture_output=True, check=False)
    assert again.returncode == small_job_run.returncode
    assert _outputs(killed) == expected


def test_run_stops_at_a_failed_stage_unless_told_to_keep_going(monkeypatch, tmp_path):
    """pipeline.run: a per-case stage with failed cases stops the run, or with keep_going
    is listed and the later stages still run."""
    from lesiontrials import pipeline
    from lesiontrials.errors import StageFailedError
    from lesiontrials.settings import load_settings

    ran: list[str] = []

    def stage(name: str, failed: int = 0):
        def fake(*args, **kwargs):
            ran.append(name)
            return pipeline.StageRecord(name, (), failed, 5, "cases/*/x.json")
        return fake

    monkeypatch.setattr(pipeline, "world",
                        lambda *a, **k: pipeline.WorldRecord(tmp_path / "world", None))
    for name in ("build_index", "plan", "render", "build_slices", "score_stage",
                 "freeze_split", "volumes", "questions_stage", "analyze"):
        monkeypatch.setattr(pipeline, name, stage(name))
    # training starts before the volume track and is waited for after it
    monkeypatch.setattr(pipeline, "start_train_demo", lambda *a, **k: stage("train_demo"))
    monkeypatch.setattr(pipeline, "insert", stage("insert", failed=1))
    settings = load_settings(workspace=tmp_path / "ws", seed=0, workers=1)
    with pytest.raises(StageFailedError, match="insert"):
        pipeline.run(settings)
    assert ran == ["build_index", "plan", "insert"]
    ran.clear()
    record = pipeline.run(settings, keep_going=True)
    assert record.failed_stages == ["insert"]
    assert ran[-1] == "analyze" and "render" in ran and "questions_stage" in ran
    assert ran.index("volumes") < ran.index("train_demo") < ran.index("freeze_split")
