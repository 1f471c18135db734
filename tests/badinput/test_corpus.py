"""A generated corpus of bad inputs: volumes, tables, specs, arguments, environment and
file system. Each runs the real console entry point and must end with the expected exit
status, one message naming the file or field and the fix, no traceback, and the good
outputs already in place byte-identical afterwards."""

from __future__ import annotations

import errno
import gzip
import json
import os
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from lesiontrials.errors import EXIT_INPUT, EXIT_LOCKED
from lesiontrials.testing import output_snapshot

# ----------------------------------------------------------------------------- helpers


@dataclass
class Bad:
    """One bad input: the command to run, what the message must say, what must not exist."""

    argv: list[str]
    says: list[str]  # substrings of the message: the file or field, and the problem
    code: int = EXIT_INPUT
    env: dict[str, str] = field(default_factory=dict)
    patch: Callable[[pytest.MonkeyPatch], None] | None = None
    absent: list[Path] = field(default_factory=list)  # must not be created


def _nifti_bytes(array: np.ndarray, affine: np.ndarray) -> bytes:
    return gzip.compress(nib.Nifti1Image(array, affine).to_bytes(), mtime=0)


def _affine() -> np.ndarray:
    return np.diag([2.0, 2.0, 2.5, 1.0])


def _flip_a_bit(data: bytes) -> bytes:
    """Flip one bit inside the deflate stream, from the middle on, at the first byte where
    the flip changes the decompressed voxels (some bits, e.g. in a block's padding, do
    not): a damaged file that still decodes, which only the CRC can catch."""
    clean = gzip.decompress(data)
    for offset in range(len(data) // 2, len(data) - 8):
        raw = bytearray(data)
        raw[offset] ^= 0x10
        try:  # raw deflate after the 10-byte header: decodes without checking the CRC
            decoded = zlib.decompressobj(-15).decompress(bytes(raw[10:]))
        except zlib.error:
            continue
        if decoded[:len(clean)] != clean:
            return bytes(raw)
    raise AssertionError("no single-bit flip changes the decoded voxels")


def _profile(c, tmp: Path, *, labels: Path | None = None, mask: Path | None = None,
             ct: Path | None = None) -> list[str]:
    argv = ["profile", str(labels or c.labels), str(mask or c.mask), "--out",
            str(c.profile_out)]
    return [*argv, "--ct", str(ct)] if ct else argv


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------- volumes


def _crc_labels(c, tmp):
    bad = _write(tmp / "seg.nii.gz", _flip_a_bit(c.labels.read_bytes()))
    return Bad(_profile(c, tmp, labels=bad), [str(bad), "gzip stream is corrupt", "Fix:"])


def _crc_mask(c, tmp):
    bad = _write(tmp / "n1.nii.gz", _flip_a_bit(c.mask.read_bytes()))
    return Bad(_profile(c, tmp, mask=bad), [str(bad), "corrupt", "Fix:"])


def _crc_ct(c, tmp):
    bad = _write(tmp / "ct.nii.gz", _flip_a_bit(c.ct.read_bytes()))
    return Bad(_profile(c, tmp, ct=bad), [str(bad), "corrupt", "Fix:"])


def _truncated_labels(c, tmp):
    data = c.labels.read_bytes()
    bad = _write(tmp / "seg.nii.gz", data[: len(data) * 2 // 3])
    return Bad(_profile(c, tmp, labels=bad), [str(bad), "truncated", "Fix:"])


def _empty_file(c, tmp):
    bad = _write(tmp / "seg.nii.gz", b"")
    return Bad(_profile(c, tmp, labels=bad), [str(bad), "Fix:"])


def _not_gzip(c, tmp):
    bad = _write(tmp / "seg.nii.gz", b"this is not a volume\n" * 50)
    return Bad(_profile(c, tmp, labels=bad), [str(bad), "Fix:"])


def _nan_ct(c, tmp):
    from lesiontrials.io import read_volume

    ct = read_volume(c.ct)
    hu = ct.array.astype(np.float32)
    hu[40:44, 40:44, 30] = np.nan
    bad = _write(tmp / "ct.nii.gz", _nifti_bytes(hu, ct.affine))
    return Bad(_profile(c, tmp, ct=bad), [str(bad), "16 of", "NaN or infinite", "Fix:"])


def _all_nan_ct(c, tmp):
    from lesiontrials.io import read_volume

    ct = read_volume(c.ct)
    bad = _write(tmp / "ct.nii.gz", _nifti_bytes(np.full(ct.shape, np.nan, np.float32),
                                                 ct.affine))
    return Bad(_profile(c, tmp, ct=bad), [str(bad), "NaN or infinite", "Fix:"])


def _inf_ct(c, tmp):
    from lesiontrials.io import read_volume

    ct = read_volume(c.ct)
    hu = ct.array.astype(np.float64)
    hu[0, 0, 0] = np.inf
    bad = _write(tmp / "ct.nii.gz", _nifti_bytes(hu, ct.affine))
    return Bad(_profile(c, tmp, ct=bad), [str(bad), "1 of", "NaN or infinite"])


def _nan_affine(c, tmp):
    from lesiontrials.io import read_volume

    labels = read_volume(c.labels)
    image = nib.Nifti1Image(labels.array, labels.affine)  # sform code 2: the affine read
    raw = bytearray(image.to_bytes())
    raw[280:284] = np.float32(np.nan).tobytes()  # srow_x[0] in the NIfTI-1 header
    bad = _write(tmp / "seg.nii.gz", gzip.compress(bytes(raw), mtime=0))
    return Bad(_profile(c, tmp, labels=bad), [str(bad), "affine", "Fix:"])


def _singular_affine(c, tmp):
    from lesiontrials.io import read_volume

    labels = read_volume(c.labels)
    raw = bytearray(nib.Nifti1Image(labels.array, labels.affine).to_bytes())
    raw[320:324] = np.float32(0.0).tobytes()  # srow_z[2]: zero slice spacing
    bad = _write(tmp / "seg.nii.gz", gzip.compress(bytes(raw), mtime=0))
    return Bad(_profile(c, tmp, labels=bad), [str(bad), "affine", "Fix:"])


def _two_d(c, tmp):
    bad = _write(tmp / "seg.nii.gz", _nifti_bytes(np.zeros((20, 20), np.uint8), _affine()))
    return Bad(_profile(c, tmp, labels=bad), [str(bad), "3-D", "Fix:"])


def _wrong_suffix(c, tmp):
    bad = _write(tmp / "seg.txt", b"labels")
    return Bad(_profile(c, tmp, labels=bad), [str(bad), "unsupported volume format", "Fix:"])


def _missing_mask(c, tmp):
    return Bad(_profile(c, tmp, mask=tmp / "gone.nii.gz"),
               [str(tmp / "gone.nii.gz"), "not found", "Fix:"])


def _nan_nrrd(c, tmp):
    import SimpleITK as sitk

    array = np.zeros((8, 8, 8), np.float32)
    array[1, 2, 3] = np.nan
    bad = tmp / "ct.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(bad))
    return Bad(_profile(c, tmp, ct=bad), [str(bad), "NaN or infinite"])


def _mask_off_grid(c, tmp):
    from lesiontrials.io import read_volume

    mask = read_volume(c.mask)
    affine = mask.affine.copy()
    affine[:3, 3] += 1000.0  # a metre away: no voxel of the nodule lands on the host grid
    bad = _write(tmp / "n1.nii.gz", _nifti_bytes(mask.array, affine))
    return Bad(_profile(c, tmp, mask=bad), [str(bad), "lies outside the scan", "Fix:"])


# ----------------------------------------------------------------------------- tables


def _bad_table(mutate: Callable[[pd.DataFrame], pd.DataFrame], says: list[str]):
    def build(c, tmp):
        from lesiontrials.testing import write_release_profiles

        root = write_release_profiles(tmp / "root", {"LUNA25": 12})
        path = root / "profiles" / "LUNA25_nodule_profiles.csv"
        frame = mutate(pd.read_csv(path, dtype={"ct_path": "string"}))
        frame.to_csv(path, index=False)
        return Bad(["index", "build", "-w", str(c.workspace), "-d", str(root)],
                   ["LUNA25_nodule_profiles.csv", *says, "Fix:"])
    return build


def _raw_table(data: bytes, says: list[str]):
    def build(c, tmp):
        path = _write(tmp / "root" / "profiles" / "LUNA25_nodule_profiles.csv", data)
        return Bad(["index", "build", "-w", str(c.workspace), "-d", str(tmp / "root")],
                   [str(path), *says, "Fix:"])
    return build


def _header_only(c, tmp):
    header = (c.root / "profiles" / "LUNA25_nodule_profiles.csv").read_text().splitlines()[0]
    return _raw_table((header + "\n").encode(), ["no data rows"])(c, tmp)


def _set(column: str, value: object, row: int = 0):
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return mutate


def _non_utf8_table(c, tmp):
    text = (c.root / "profiles" / "LUNA25_nodule_profiles.csv").read_bytes()
    return _raw_table(text.replace(b"right_lung", "r\xe9ght_lung".encode("latin-1"), 1),
                      ["encoding"])(c, tmp)


# ----------------------------------------------------------------------------- specs


def _spec(text: bytes | str, says: list[str]):
    def build(c, tmp):
        path = _write(tmp / "trial.yaml", text if isinstance(text, bytes) else text.encode())
        return Bad(["plan", str(path), "-w", str(c.workspace), "-d", str(c.root)],
                   [str(path) if "{path}" in says else says[0], *says[1:]],
                   absent=[c.workspace / "trials"])
    return build


GOOD_SPEC = "name: t1\nn_cases: 4\n"

# ----------------------------------------------------------------------------- arguments


def _render_unknown(c, tmp):
    return Bad(["render", "no_such_trial", "-w", str(c.workspace)],
               ["no_such_trial", "no inserted cases", "Fix:"],
               absent=[c.workspace / "cases"])


def _name_case(command: list[str], name: str, what: str):
    def build(c, tmp):
        return Bad([*command, name, "-w", str(c.workspace)], [f"invalid {what}", "Fix:"],
                   absent=[c.workspace / "cases", c.workspace / "eval", c.workspace / "trials"])
    return build


def _score_bad_set(c, tmp):
    return Bad(["score", "-m", "majority", "--set", "../escape", "-w", str(c.workspace)],
               ["'../escape'", "Fix:"], absent=[c.workspace / "results"])


def _unknown_backend(c, tmp):
    return Bad(["render", "x", "--backend", "raytracer", "-w", str(c.workspace)],
               ["--backend", "'raytracer' is not one of", "'analytic'"])


# ----------------------------------------------------------------------------- environment


def _env(name: str, value: str, says: list[str]):
    def build(c, tmp):
        return Bad(["index", "build", "-w", str(c.workspace), "-d", str(c.root)], says,
                   env={name: value})
    return build


def _env_workspace_file(c, tmp):
    path = _write(tmp / "ws-file", b"not a folder")
    return Bad(["index", "build", "-d", str(c.root)],
               [str(path), "LESIONTRIALS_WORKSPACE", "not a folder", "Fix:"],
               env={"LESIONTRIALS_WORKSPACE": str(path)})


# ----------------------------------------------------------------------------- file system


def _workspace_is_file(c, tmp):
    path = _write(tmp / "ws-file", b"x")
    return Bad(["index", "build", "-w", str(path), "-d", str(c.root)],
               [str(path), "--workspace", "not a folder", "Fix:"])


def _fail_writes(error: int):
    """Make every atomic write fail as the kernel would (root ignores chmod, so a
    read-only folder is simulated; ENOSPC cannot be produced without a small disk)."""
    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        import tempfile

        def refuse(*args, dir=None, **kwargs):
            raise OSError(error, os.strerror(error), str(dir))

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    return patch


def _read_only_output(c, tmp):
    return Bad(["index", "build", "-w", str(c.workspace), "-d", str(c.root)],
               [str(c.workspace / "index"), "permission denied", "Fix:"],
               patch=_fail_writes(errno.EACCES))


def _disk_full_index(c, tmp):
    return Bad(["index", "build", "-w", str(c.workspace), "-d", str(c.root)],
               [str(c.workspace / "index"), "disk is full", "Fix:"],
               patch=_fail_writes(errno.ENOSPC))


def _disk_full_profile(c, tmp):
    return Bad(_profile(c, tmp), [str(c.profile_out.parent), "disk is full", "Fix:"],
               patch=_fail_writes(errno.ENOSPC))


def _read_only_fs(c, tmp):
    return Bad(_profile(c, tmp), [str(c.profile_out.parent), "read-only", "Fix:"],
               patch=_fail_writes(errno.EROFS))


def _out_under_a_file(c, tmp):
    blocker = _write(tmp / "blocker", b"x")
    return Bad(["profile", str(c.labels), str(c.mask), "--out", str(blocker / "p.csv")],
               [str(blocker), "Fix:"])


def _lock_held(c, tmp):
    import socket

    lock = c.workspace / ".locks" / "render.lock"

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                    "started": "earlier"}))
        monkeypatch.setattr("lesiontrials.render.trial.inserted_trials", lambda ws: ["t"])

    return Bad(["render", "--all", "-w", str(c.workspace)],
               [str(lock), "already running", f"pid {os.getppid()}", "Fix:"],
               code=EXIT_LOCKED, patch=patch, absent=[c.workspace / "cases"])


def _lock_other_host(c, tmp):
    lock = c.workspace / ".locks" / "insert.lock"

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(json.dumps({"pid": 1, "host": "another-node", "started": "earlier"}))
        monkeypatch.setattr("lesiontrials.insert.list_trials", lambda ws: ["t"])

    return Bad(["insert", "--all", "-w", str(c.workspace)],
               [str(lock), "another-node", "delete the lock file"], code=EXIT_LOCKED,
               patch=patch, absent=[c.workspace / "cases"])


# ----------------------------------------------------------------------------- the corpus

CASES: dict[str, Callable] = {
    # volumes (14 + 2)
    "volume-gzip-crc-labels": _crc_labels,
    "volume-gzip-crc-mask": _crc_mask,
    "volume-gzip-crc-ct": _crc_ct,
    "volume-truncated": _truncated_labels,
    "volume-empty-file": _empty_file,
    "volume-not-gzip": _not_gzip,
    "volume-nan-voxels": _nan_ct,
    "volume-all-nan": _all_nan_ct,
    "volume-inf-voxel": _inf_ct,
    "volume-nan-affine": _nan_affine,
    "volume-singular-affine": _singular_affine,
    "volume-2d": _two_d,
    "volume-unsupported-suffix": _wrong_suffix,
    "volume-missing": _missing_mask,
    "volume-nrrd-nan": _nan_nrrd,
    "volume-mask-off-grid": _mask_off_grid,
    # tables
    "table-header-only": _header_only,
    "table-empty-file": _raw_table(b"", ["empty"]),
    "table-non-utf8": _non_utf8_table,
    "table-negative-diameter": _bad_table(_set("nodule_mean_diam_mm", -4.0, 2),
                                          ["row 3", "nodule_mean_diam_mm", "negative size"]),
    "table-infinite-diameter": _bad_table(_set("nodule_mean_diam_mm", "inf", 1),
                                          ["row 2", "nodule_mean_diam_mm", "infinite"]),
    "table-negative-volume": _bad_table(_set("nodule_vol_mm3", -1.0),
                                        ["row 1", "nodule_vol_mm3", "negative size"]),
    "table-nan-coordinate": _bad_table(_set("coordY", np.nan, 4),
                                       ["row 5", "coordY", "missing (NaN) centroid"]),
    "table-ct-path-dotdot": _bad_table(_set("ct_path", "../../etc/passwd", 0),
                                       ["row 1", "ct_path", "leaves raw_ct/"]),
    "table-ct-path-absolute": _bad_table(_set("ct_path", "/etc/passwd", 3),
                                         ["row 4", "ct_path", "leaves raw_ct/"]),
    "table-not-a-number": _bad_table(_set("nodule_vol_mm3", "big", 0),
                                     ["row 1", "nodule_vol_mm3", "expected a number"]),
    "table-missing-column": _bad_table(lambda f: f.drop(columns=["coordZ"]),
                                       ["coordZ", "missing required column"]),
    "table-unknown-lobe": _bad_table(_set("lobe_name", "left middle lobe", 1),
                                     ["row 2", "lobe_name", "unknown value"]),
    "table-label-out-of-vocabulary": _bad_table(_set("label", 7.0, 0),
                                                ["row 1", "label", "unknown label value 7"]),
    # specs
    "spec-unknown-design": _spec(GOOD_SPEC + "design: moonshot_design\n",
                                 ["{path}", "design", "unknown design 'moonshot_design'"]),
    "spec-non-utf8": _spec(("name: t\xe9\nn_cases: 4\n").encode("latin-1"),
                           ["{path}", "not UTF-8", "Fix: save the file as UTF-8"]),
    "spec-invalid-yaml": _spec("name: [t1\nn_cases: 4\n", ["{path}", "invalid YAML"]),
    "spec-not-a-mapping": _spec("- name: t1\n", ["{path}", "mapping"]),
    "spec-negative-n-cases": _spec("name: t1\nn_cases: -3\n", ["{path}", "n_cases", "Fix:"]),
    "spec-prevalence-over-1": _spec(GOOD_SPEC + "prevalence: 1.5\n",
                                    ["{path}", "prevalence", "Fix:"]),
    "spec-unset-variable": _spec("name: t1\nn_cases: ${LT_TEST_UNSET_N}\n",
                                 ["{path}", "LT_TEST_UNSET_N", "Fix:"]),
    "spec-name-traversal": _spec("name: ../t1\nn_cases: 4\n", ["{path}", "name", "Fix:"]),
    # command-line arguments
    "render-unknown-trial": _render_unknown,
    "render-unknown-backend": _unknown_backend,
    "insert-dotdot-trial": _name_case(["insert"], "../x", "trial name"),
    "insert-long-trial": _name_case(["insert"], "t" * 5000, "trial name"),
    "render-slash-trial": _name_case(["render"], "a/b", "trial name"),
    "slices-dotdot-trial": _name_case(["slices"], "..", "trial name"),
    "score-dotdot-set": _score_bad_set,
    # environment
    "env-workers-zero": _env("LESIONTRIALS_WORKERS", "0",
                             ["LESIONTRIALS_WORKERS='0'", "greater than or equal to 1",
                              "Fix:"]),
    "env-seed-not-int": _env("LESIONTRIALS_SEED", "seven",
                             ["LESIONTRIALS_SEED='seven'", "integer", "Fix:"]),
    "env-executor-unknown": _env("LESIONTRIALS_EXECUTOR", "moon",
                                 ["LESIONTRIALS_EXECUTOR='moon'", "Fix:"]),
    "env-workspace-is-file": _env_workspace_file,
    # file system
    "fs-workspace-is-file": _workspace_is_file,
    "fs-read-only-output": _read_only_output,
    "fs-disk-full-index": _disk_full_index,
    "fs-disk-full-profile": _disk_full_profile,
    "fs-read-only-file-system": _read_only_fs,
    "fs-output-under-a-file": _out_under_a_file,
    "fs-lock-held-live": _lock_held,
    "fs-lock-held-other-host": _lock_other_host,
}


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, corpus, tmp_path, monkeypatch, capsys):
    from lesiontrials.cli.main import main

    for variable in [v for v in os.environ if v.startswith("LESIONTRIALS_")]:
        monkeypatch.delenv(variable)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("COLUMNS", "400")  # one message, one line
    bad = CASES[name](corpus, tmp_path)
    for key, value in bad.env.items():
        monkeypatch.setenv(key, value)
    before = {**output_snapshot(corpus.workspace, root=corpus.workspace),
              "profile": corpus.profile_out.read_bytes()}
    capsys.readouterr()
    with monkeypatch.context() as patched:
        if bad.patch:
            bad.patch(patched)
        monkeypatch.setattr(sys, "argv", ["lesiontrials", *bad.argv])
        with pytest.raises(SystemExit) as caught:
            main()
    for lock in (corpus.workspace / ".locks").glob("*.lock"):
        lock.unlink()  # a lock a case planted (a refused run must not remove another's)
    output = capsys.readouterr()
    text = " ".join((output.err + output.out).split())
    assert caught.value.code == bad.code, text
    assert "Traceback" not in text and "np.float64" not in text and "domain.md" not in text
    for expected in bad.says:
        assert " ".join(expected.split()) in text, (expected, text)
    after = {**output_snapshot(corpus.workspace, root=corpus.workspace),
             "profile": corpus.profile_out.read_bytes()}
    assert after == before  # the good outputs in place are untouched
    for path in bad.absent:
        assert not path.exists(), f"{path} was created"
    assert not list(corpus.workspace.rglob(".*.tmp"))


def test_a_stage_with_failed_cases_exits_3_after_writing_its_summary(corpus, tmp_path,
                                                                     monkeypatch, capsys):
    """`insert --all` where one case fits nowhere: the summary is printed and written
    first, then the command exits with the 'finished with failures' status (3)."""
    from lesiontrials.cli.main import main
    from lesiontrials.errors import EXIT_STAGE_FAILURES

    written = []
    summary = {"status": {"done": 4, "failed": 1}, "trial": "t1"}

    def fake_insert(name, **kwargs):
        written.append(name)
        return summary

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("lesiontrials.insert.list_trials", lambda ws: ["t1"])
    monkeypatch.setattr("lesiontrials.insert.insert_trial", fake_insert)
    monkeypatch.setattr("lesiontrials.insert.summary_table", lambda s: "SUMMARY-TABLE")
    monkeypatch.setattr(sys, "argv", ["lesiontrials", "insert", "--all", "-w",
                                      str(tmp_path / "ws"), "-j", "1"])
    with pytest.raises(SystemExit) as caught:
        main()
    output = capsys.readouterr()
    assert caught.value.code == EXIT_STAGE_FAILURES
    assert "SUMMARY-TABLE" in output.out  # the summary first
    assert "insert: 1 of 5 cases failed" in " ".join(output.err.split())
    assert written == ["t1"] and not list((tmp_path / "ws").rglob("*.lock"))
