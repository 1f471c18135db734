"""Render resume verifies the outputs listed in render.json (size + SHA-256) and redoes a
case whose files do not match, instead of trusting the record."""

from __future__ import annotations

from pathlib import Path

from render_cases import sphere, write_case

from lesiontrials.io import Volume, read_json, sha256_file
from lesiontrials.render import RenderJob, render_case


def test_truncated_or_altered_outputs_are_rendered_again(tmp_path: Path, thorax: Volume) -> None:
    case_dir = write_case(tmp_path / "ws", tmp_path / "root", labels=thorax,
                          nodules=[sphere(5.0)])
    job = RenderJob(case_dir=case_dir, data_root=tmp_path / "root")
    assert render_case(job).status == "done"
    ct, qc = case_dir / "ct.nii.gz", case_dir / "qc.png"
    record = read_json(case_dir / "render.json")
    assert record["outputs"]["ct.nii.gz"] == {"bytes": ct.stat().st_size,
                                              "sha256": sha256_file(ct)}
    good_ct, good_qc = ct.read_bytes(), qc.read_bytes()
    assert render_case(job).status == "skipped"

    ct.write_bytes(good_ct[: len(good_ct) // 2])  # a truncated CT (e.g. disk full, copy cut)
    assert render_case(job).status == "done"
    assert ct.read_bytes() == good_ct  # redone, byte-identical

    qc.write_bytes(good_qc[:-1] + bytes([good_qc[-1] ^ 1]))  # same size, one bit flipped
    assert render_case(job).status == "done" and qc.read_bytes() == good_qc

    ct.unlink()
    assert render_case(job).status == "done" and ct.read_bytes() == good_ct
    assert render_case(job).status == "skipped"
