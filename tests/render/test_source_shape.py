"""A world phantom's native donor is drawn from its library source's fine shape, not from
its coarse mask (render/appearance/shape_source.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lesiontrials.errors import InputError
from lesiontrials.geometry import NoduleMask
from lesiontrials.io import Volume, VolumeKind, write_volume
from lesiontrials.lesion_text import LesionDescriptors
from lesiontrials.records import InsertedNodule
from lesiontrials.render.appearance.lesion import lesion_layer, sample_lesion_params
from lesiontrials.render.appearance.shape_source import donor_shape, uses_source_shape
from lesiontrials.shape_field import mask_on_grid, shape_from_mask
from lesiontrials.testing import ellipsoid_mask
from lesiontrials.testing_records import inserted_nodule, planned_nodule
from lesiontrials.world.natives import DonorShape, native_mask

SOURCE_SPACING = (0.35, 0.35, 0.625)
COARSE = (3.0, 3.0, 4.0)
SCREENING = (0.7, 0.7, 1.25)
SOURCE_REL, NATIVE_REL = "LIDC/masks/src.nii.gz", "PHANTOM/masks/n1.nii.gz"


def _write(root: Path, rel: str, mask: np.ndarray, spacing: tuple[float, float, float]) -> None:
    write_volume(root / rel, Volume(mask.astype(np.uint8), np.diag([*spacing, 1.0])),
                 kind=VolumeKind.MASK)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A data root with a fine library donor (an off-centre 11×8×7 mm ellipsoid) and the
    native it becomes on a 3×3×4 mm phantom (as the world build samples it)."""
    root = tmp_path_factory.mktemp("world")
    source = ellipsoid_mask((5.5, 4.0, 3.5), SOURCE_SPACING, centre_mm=(0.3, -0.2, 0.4))
    native = native_mask(DonorShape("LIDC/src", source, SOURCE_SPACING), COARSE)
    _write(root, SOURCE_REL, source, SOURCE_SPACING)
    _write(root, NATIVE_REL, native, COARSE)
    return root, source, native


def _nodule(native: np.ndarray, *, source: str, scale: float = 1.0) -> InsertedNodule:
    planned = planned_nodule(diameter_mm=8.0, donor_mask_path=NATIVE_REL, scale=scale,
                             donor_source_mask_path=source)
    return inserted_nodule(0, NoduleMask(native, (0, 0, 0)), np.eye(4), lobe=None,
                           donor_uid="PHANTOM/n1", planned=planned)


def _rendered_volume_mm3(field: object, host: tuple[float, float, float]) -> float:
    """The partial-volume volume of the lesion drawn on ``host`` with a sharp margin (a
    soft edge adds volume on a convex surface): its opacity summed."""
    assert field is not None
    placed = mask_on_grid(field, host)  # type: ignore[arg-type]
    shape = tuple(int(n) + 24 for n in placed.shape)
    params = replace(sample_lesion_params(LesionDescriptors(), rng=np.random.default_rng(1)),
                     edge_mm=0.0)
    layer = lesion_layer(params, mask=NoduleMask(placed, (12, 12, 12)), spacing_mm=host,
                         shape=shape, field=field)  # type: ignore[arg-type]
    return float(layer.alpha.sum()) * float(np.prod(host))


def test_native_with_a_source_is_shaped_from_the_source(world) -> None:
    root, source, native = world
    truth = shape_from_mask(source, SOURCE_SPACING).volume_mm3
    nodule = _nodule(native, source=SOURCE_REL)
    assert uses_source_shape(nodule)
    field = donor_shape(root, nodule)
    assert field is not None and field.volume_mm3 == pytest.approx(truth, rel=1e-6)
    for host in (SCREENING, COARSE):
        assert _rendered_volume_mm3(field, host) == pytest.approx(truth, rel=0.02)
    # the coarse mask alone misses the volume by more than that (why the source is used)
    coarse = donor_shape(root, _nodule(native, source=""))
    assert coarse is not None and not uses_source_shape(_nodule(native, source=""))
    assert abs(_rendered_volume_mm3(coarse, SCREENING) / truth - 1.0) > 0.05


def test_the_source_shape_takes_the_planned_scale(world) -> None:
    root, source, native = world
    field = donor_shape(root, _nodule(native, source=SOURCE_REL, scale=1.5))
    assert field is not None
    assert field.volume_mm3 == pytest.approx(
        shape_from_mask(source, SOURCE_SPACING).volume_mm3 * 1.5**3, rel=1e-6)


def test_source_shape_is_deterministic(world) -> None:
    root, _, native = world
    a = donor_shape(root, _nodule(native, source=SOURCE_REL))
    b = donor_shape(root, _nodule(native, source=SOURCE_REL))
    assert a is not None and b is not None
    assert a.sd_mm.tobytes() == b.sd_mm.tobytes() and a.origin_mm == b.origin_mm


def test_a_missing_source_mask_is_an_error_naming_it(world) -> None:
    root, _, native = world
    with pytest.raises(InputError, match="source mask named in insert.json is missing"):
        donor_shape(root, _nodule(native, source="LIDC/masks/gone.nii.gz"))


def test_record_without_a_source_keeps_its_bytes(world) -> None:
    """An insert.json nodule without a source (any other donor, or written before the
    field) does not gain the key; one with a source round-trips it."""
    _, _, native = world
    plain = _nodule(native, source="").planned.model_dump(mode="json", exclude_unset=True)
    assert "donor_source_mask_path" not in plain
    planned = _nodule(native, source=SOURCE_REL).planned
    again = type(planned).model_validate(planned.model_dump(mode="json", exclude_unset=True))
    assert again.donor_source_mask_path == SOURCE_REL


def test_render_case_draws_a_native_from_its_source_and_says_so(tmp_path: Path,
                                                               thorax: Volume) -> None:
    """A case whose nodule is a native with a named source renders from the source (QC
    ``source_shape``, another image than from the native's own mask), re-renders
    identically, and the source file is part of the resume key."""
    from render_cases import sphere, write_case

    from lesiontrials.io import read_json, write_json
    from lesiontrials.render import RenderJob, render_case

    root, workspace = tmp_path / "root", tmp_path / "ws"
    source = ellipsoid_mask((7.0, 5.0, 4.0), SOURCE_SPACING, centre_mm=(0.3, -0.2, 0.4))
    _write(root, SOURCE_REL, source, SOURCE_SPACING)
    _write(root, NATIVE_REL, native_mask(DonorShape("LIDC/src", source, SOURCE_SPACING),
                                         COARSE), COARSE)
    case_dir = write_case(workspace, root, labels=thorax, nodules=[sphere(6.0)])
    job = RenderJob(case_dir=case_dir, data_root=root)
    record = read_json(case_dir / "insert.json")
    record["nodules"][0]["planned"]["donor_mask_path"] = NATIVE_REL
    write_json(record, case_dir / "insert.json")
    assert render_case(job).status == "done"
    assert read_json(case_dir / "render.json")["lesions"][0]["shape_source"] == "donor_mask"
    from_native = (case_dir / "ct.nii.gz").read_bytes()

    record["nodules"][0]["planned"]["donor_source_mask_path"] = SOURCE_REL
    write_json(record, case_dir / "insert.json")
    assert render_case(job).status == "done"
    assert read_json(case_dir / "render.json")["lesions"][0]["shape_source"] == "source_shape"
    from_source = (case_dir / "ct.nii.gz").read_bytes()
    assert from_source != from_native
    (case_dir / "render.json").unlink()
    assert render_case(job).status == "done"
    assert (case_dir / "ct.nii.gz").read_bytes() == from_source  # deterministic
    assert render_case(job).status == "skipped"
    _write(root, SOURCE_REL, np.pad(source, 1), SOURCE_SPACING)
    assert render_case(job).status == "done"  # a changed source file re-renders
