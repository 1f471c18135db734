"""Per-case and per-trial rendering: outputs, host affine, resume, appearance overrides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from render_cases import sphere, write_case

from lesiontrials.io import Volume, VolumeKind, read_json, read_volume, write_volume
from lesiontrials.paths import Workspace
from lesiontrials.render import RenderJob, render_case, render_trial
from lesiontrials.render.case import lesion_descriptors
from lesiontrials.testing_records import inserted_nodule


def test_render_case_outputs_and_resume(tmp_path: Path, thorax: Volume) -> None:
    shifted = Volume(thorax.array, thorax.affine.copy())
    shifted.affine[:3, 3] += (12.5, -3.0, 40.0)  # an arbitrary host origin
    case_dir = write_case(tmp_path / "ws", tmp_path / "root", labels=shifted,
                          nodules=[sphere(5.0)], characteristics=[{"texture": 1, "margin": 2}])
    job = RenderJob(case_dir=case_dir, data_root=tmp_path / "root")
    outcome = render_case(job)
    assert outcome.status == "done"
    ct = read_volume(case_dir / "ct.nii.gz")
    assert ct.array.dtype == np.int16 and ct.shape == thorax.shape
    np.testing.assert_allclose(ct.affine, shifted.affine, atol=1e-5)
    record = read_json(case_dir / "render.json")
    assert record["backend"] == "analytic" and record["acquisition"]["mas"] == 60.0
    lesion = record["lesions"][0]
    assert lesion["descriptors"]["attenuation"] == "ground_glass"
    assert "ground-glass" in lesion["description"]
    assert (case_dir / "qc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = (case_dir / "ct.nii.gz").read_bytes()
    assert render_case(job).status == "skipped"
    overridden = render_case(RenderJob(case_dir=case_dir, data_root=tmp_path / "root",
                                       appearance="calcified granuloma"))
    assert overridden.status == "done"
    assert read_json(case_dir / "render.json")["lesions"][0]["descriptors"][
        "calcification"] == "diffuse"
    assert (case_dir / "ct.nii.gz").read_bytes() != before


def test_descriptor_precedence() -> None:
    nodule = inserted_nodule(0, sphere(4.0), np.eye(4), lobe=None, donor_uid="D",
                             characteristics={"texture": 5, "spiculation": 4.6,
                                              "calcification": 6}, appearance="pure GGO")
    d = lesion_descriptors(nodule)
    assert d.attenuation.value == "ground_glass" and d.spiculation == 4.6
    d = lesion_descriptors(nodule, appearance="8 mm part-solid nodule")
    assert d.attenuation.value == "part_solid" and 0 < d.solid_fraction < 1


def test_render_trial_host_ct_and_summary(tmp_path: Path, thorax: Volume) -> None:
    root, space = tmp_path / "root", Workspace(tmp_path / "ws")
    write_case(space.root, root, labels=thorax, nodules=[sphere(5.0)], case_uid="T1-0000")
    write_case(space.root, root, labels=thorax, nodules=[], case_uid="T1-0002")  # negative
    write_case(space.root, root, labels=thorax, nodules=[sphere(4.0)], case_uid="T1-0001",
               dataset="REALCT", ct_id="REAL_1", ct_path="raw_ct/REALCT/REAL_1.nii.gz")
    real = np.where(thorax.array > 0, -800, -1000).astype(np.int16)
    write_volume(root / "raw_ct" / "REALCT" / "REAL_1.nii.gz", Volume(real, thorax.affine),
                 kind=VolumeKind.CT)
    summary = render_trial("T1", workspace=space, data_root=root, workers=1,
                           show_progress=False)
    assert summary["rendered"] == 3
    assert summary["backends"] == {"analytic": 2, "host-ct": 1}
    host_case = read_json(space.cases_dir("T1") / "T1-0001" / "render.json")
    assert host_case["fidelity"]["summary"]["hist_intersection_body"] > 0.8
    assert read_json(space.cases_dir("T1") / "render_summary.json")["cases"] == 3
    again = render_trial("T1", workspace=space, data_root=root, show_progress=False)
    assert again["this_run"] == {"skipped": 3}


def test_unknown_backend_is_refused(tmp_path: Path, thorax: Volume) -> None:
    from lesiontrials.errors import InputError

    case_dir = write_case(tmp_path / "ws", tmp_path / "root", labels=thorax,
                          nodules=[sphere(4.0)])
    with pytest.raises(InputError, match="host-ct"):
        render_case(RenderJob(case_dir=case_dir, data_root=tmp_path / "root",
                              backend="host-ct"))


def _real_host_case(tmp_path: Path, thorax: Volume) -> Path:
    case_dir = write_case(tmp_path / "ws", tmp_path / "root", labels=thorax,
                          nodules=[sphere(4.0)], dataset="REALCT", ct_id="REAL_1",
                          ct_path="raw_ct/REALCT/REAL_1.nii.gz")
    real = np.where(thorax.array > 0, -800, -1000).astype(np.int16)
    write_volume(tmp_path / "root" / "raw_ct" / "REALCT" / "REAL_1.nii.gz",
                 Volume(real, thorax.affine), kind=VolumeKind.CT)
    return case_dir


@pytest.mark.parametrize("backend", ["host-ct", "analytic"])
def test_host_ct_is_read_once_per_case(tmp_path: Path, thorax: Volume, backend: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import lesiontrials.io.decoded as decoded_module
    import lesiontrials.render.backends.registry as backends_module
    import lesiontrials.render.case as case_module

    case_dir = _real_host_case(tmp_path, thorax)
    reads: list[str] = []

    def counting(read):  # type: ignore[no-untyped-def]
        def wrapper(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            reads.append(Path(path).name)
            return read(path, *args, **kwargs)
        return wrapper

    for module in (case_module, backends_module, decoded_module):
        monkeypatch.setattr(module, "read_volume", counting(module.read_volume))
    outcome = render_case(RenderJob(case_dir=case_dir, data_root=tmp_path / "root",
                                    backend=backend))
    assert outcome.status == "done"
    assert reads.count("REAL_1.nii.gz") == 1
    assert read_json(case_dir / "render.json")["fidelity"]["summary"][
        "hist_intersection_body"] > 0


def test_resume_key_follows_renderer_version_seed_derivation_and_host_facts(
        tmp_path: Path, thorax: Volume, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    import lesiontrials.render.case as case_module
    from lesiontrials.io import write_csv
    from lesiontrials.seeding import int_seed

    root = tmp_path / "root"
    case_dir = write_case(tmp_path / "ws", root, labels=thorax, nodules=[sphere(4.0)])
    job = RenderJob(case_dir=case_dir, data_root=root)
    assert render_case(job).status == "done"
    assert render_case(job).status == "skipped"
    monkeypatch.setattr(case_module, "RENDER_VERSION", case_module.RENDER_VERSION + 1)
    assert render_case(job).status == "done"  # a new renderer version re-renders
    assert render_case(job).status == "skipped"
    monkeypatch.setattr(case_module, "int_seed",
                        lambda seed, *keys: int_seed(seed, *keys, "v2"))
    assert render_case(job).status == "done"  # so does a new seed derivation
    assert render_case(job).status == "skipped"
    write_csv(pd.DataFrame([{"ct_id": "SCREEN_0000", "seg_path": "", "lung_density_hu": -820.0}]),
              root / "meta" / "SCREEN_hosts.csv")
    assert render_case(job).status == "done"  # and a measured host fact
    record = read_json(case_dir / "render.json")
    assert record["host_facts"] == {"lung_density_hu": -820.0, "psf_sigma_xy_mm": None}
    assert record["backend_qc"]["host_facts"] == {"lung_density_hu": -820.0,
                                                  "psf_sigma_xy_mm": None}
    ct = read_volume(case_dir / "ct.nii.gz").array
    lungs = np.isin(thorax.array, (28, 29, 30, 31, 32))
    assert float(np.median(ct[lungs])) == pytest.approx(-820.0, abs=4.0)


def test_rerender_writes_identical_render_json_and_ct(tmp_path: Path, thorax: Volume) -> None:
    """Same inputs and seed → identical bytes; wall-clock times live in render_timing.json."""
    case_dir = write_case(tmp_path / "ws", tmp_path / "root", labels=thorax,
                          nodules=[sphere(4.0)])
    job = RenderJob(case_dir=case_dir, data_root=tmp_path / "root")
    assert render_case(job).status == "done"
    first = {name: (case_dir / name).read_bytes() for name in ("render.json", "ct.nii.gz")}
    (case_dir / "render.json").unlink()
    assert render_case(job).status == "done"
    for name, data in first.items():
        assert (case_dir / name).read_bytes() == data, name


def test_lesion_is_drawn_from_the_donor_mask_insert_json_names(tmp_path: Path,
                                                               thorax: Volume) -> None:
    """A nodule whose record names its donor mask is drawn from that mask's shape (another
    look than the host-grid mask's), the render says so, the donor file is part of the
    resume key, and a named but missing donor mask is an error naming it."""
    from lesiontrials.io import write_json
    from lesiontrials.testing import ellipsoid_mask

    root, workspace = tmp_path / "root", tmp_path / "ws"
    case_dir = write_case(workspace, root, labels=thorax, nodules=[sphere(6.0)])
    job = RenderJob(case_dir=case_dir, data_root=root)
    assert render_case(job).status == "done"
    assert read_json(case_dir / "render.json")["lesions"][0]["shape_source"] == "host_mask"
    from_host_mask = (case_dir / "ct.nii.gz").read_bytes()

    donor_path = root / "masks" / "LIDC" / "nodule_seg" / "D1.nii.gz"
    donor = ellipsoid_mask((7.0, 5.0, 4.0), (0.7, 0.7, 1.0))
    write_volume(donor_path, Volume(donor.astype(np.uint8), np.diag([0.7, 0.7, 1.0, 1.0])),
                 kind=VolumeKind.MASK)
    record = read_json(case_dir / "insert.json")
    record["nodules"][0]["planned"]["donor_mask_path"] = "masks/LIDC/nodule_seg/D1.nii.gz"
    write_json(record, case_dir / "insert.json")
    assert render_case(job).status == "done"
    assert read_json(case_dir / "render.json")["lesions"][0]["shape_source"] == "donor_mask"
    assert (case_dir / "ct.nii.gz").read_bytes() != from_host_mask
    assert render_case(job).status == "skipped"
    write_volume(donor_path, Volume(np.pad(donor, 1).astype(np.uint8),
                                    np.diag([0.7, 0.7, 1.0, 1.0])), kind=VolumeKind.MASK)
    assert render_case(job).status == "done"  # a changed donor file re-renders
    donor_path.unlink()
    from lesiontrials.errors import InputError

    with pytest.raises(InputError, match="D1.nii.gz"):
        render_case(job)
