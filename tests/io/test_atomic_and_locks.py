"""Atomic writes honour the umask and leave no temp files; per-stage locks refuse a live
holder and take over a stale one."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest

from lesiontrials.errors import LockHeldError
from lesiontrials.io import (
    Volume,
    VolumeKind,
    file_record,
    matches_record,
    remove_temp_files,
    write_bytes_atomic,
    write_csv,
    write_volume,
)
from lesiontrials.io.locks import lock_path, stage_lock


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_get_the_umask_mode(tmp_path, umask, mode):
    import pandas as pd

    old = os.umask(umask)
    try:
        paths = [write_volume(tmp_path / "v.nii.gz", Volume(np.zeros((4, 4, 4), np.uint8),
                                                           np.eye(4)), kind=VolumeKind.MASK),
                 write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv"),
                 tmp_path / "b.bin"]
        write_bytes_atomic(paths[2], b"x")
    finally:
        os.umask(old)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_temp_files_are_found_and_removed(tmp_path):
    (tmp_path / "a").mkdir()
    leftover = tmp_path / "a" / ".ct.nii.gz.x1y2.tmp"
    leftover.write_bytes(b"half")
    keep = tmp_path / "a" / "ct.nii.gz"
    keep.write_bytes(b"whole")
    assert remove_temp_files(tmp_path) == [leftover]
    assert keep.exists() and not leftover.exists()


def test_file_record_detects_truncation_and_edits(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"0123456789")
    record = file_record(path)
    assert matches_record(path, record)
    path.write_bytes(b"01234")
    assert not matches_record(path, record)
    path.write_bytes(b"0123456780")  # same size, other bytes
    assert not matches_record(path, record)
    assert not matches_record(tmp_path / "gone", record) and not matches_record(path, None)


def test_a_live_holder_is_refused_with_its_pid_and_host(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = lock_path(tmp_path, "render")
        path.parent.mkdir()
        path.write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(),
                                    "started": "t0"}))
        with pytest.raises(LockHeldError, match=f"pid {sleeper.pid}") as caught, \
                stage_lock(tmp_path, "render"):
            pass
        assert "Fix:" in str(caught.value) and caught.value.exit_code == 4
        assert path.exists()  # the holder's lock is left alone
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_stale_lock_is_taken_over_and_released(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = lock_path(tmp_path, "insert")
    path.parent.mkdir()
    path.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    said = []
    with stage_lock(tmp_path, "insert", on_takeover=said.append):
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with pytest.raises(LockHeldError), stage_lock(tmp_path, "insert"):
            pass  # a second taker in this process is refused too
    assert not path.exists() and "stale" in said[0]


def test_a_half_written_lock_is_stale(tmp_path):
    path = lock_path(tmp_path, "slices")
    path.parent.mkdir()
    path.write_text('{"pid": 12')
    with stage_lock(tmp_path, "slices"):
        assert json.loads(path.read_text())["pid"] == os.getpid()
