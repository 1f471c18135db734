"""A small workspace built in code: an index of 60 nodules (one with a label map and a
mask on disk), one planned trial, two cases (synthetic and real-host CT) and a report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from lesiontrials import anatomy
from lesiontrials.geometry import NoduleMask
from lesiontrials.io import Volume, VolumeKind, write_png, write_record, write_volume
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.testing import box_thorax, write_release_profiles
from lesiontrials.testing_records import insert_record, inserted_nodule, render_record

fastapi = pytest.importorskip("fastapi")


@dataclass(frozen=True)
class SmallWorld:
    workspace: Workspace
    data_root: DataRoot
    nodule_uid: str
    trial: str

    def case(self, index: int) -> str:
        """``{trial}/{trial}-{index:05d}``: the URL part of one fixture case."""
        return f"{self.trial}/{self.trial}-{index:05d}"


def _sphere(shape: tuple[int, int, int], centre: tuple[int, int, int], radius: int) -> np.ndarray:
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2


def _write_case(ws: Workspace, trial: str, case: str, *, backend: str) -> None:
    thorax = box_thorax()
    labels = thorax.volume.array.copy()
    nodule = _sphere(labels.shape, (70, 40, 60), 3)
    labels[nodule] = anatomy.NODULE
    hu = np.where(labels == 0, -1000, np.where(np.isin(labels, anatomy.LOBE_LABELS), -850, 40))
    directory = ws.case_dir(trial, case)
    write_volume(directory / "labels.nii.gz", Volume(labels, thorax.volume.affine),
                 kind=VolumeKind.LABELS)
    write_volume(directory / "ct.nii.gz", Volume(hu.astype(np.int16), thorax.volume.affine),
                 kind=VolumeKind.CT)
    write_volume(directory / "nodule_0.nii.gz",
                 Volume(nodule.astype(np.uint8), thorax.volume.affine), kind=VolumeKind.MASK)
    entry = inserted_nodule(0, NoduleMask(nodule, (0, 0, 0)).tight(), thorax.volume.affine,
                            lobe="right_lung_upper_lobe", donor_uid="LUNA25/x", label=1,
                            diameter_mm=12.0)
    write_record(insert_record(trial=trial, case_uid=case, seed=0, nodules=[entry]),
                 directory / "insert.json")
    write_record(render_record(trial=trial, case_uid=case, backend=backend),
                 directory / "render.json")


def _write_host_files(root: DataRoot, row: dict[str, str]) -> None:
    thorax = box_thorax()
    write_volume(root.root / row["seg_path"], thorax.volume, kind=VolumeKind.LABELS)
    mask = _sphere(thorax.volume.shape, (70, 40, 60), 3).astype(np.uint8)
    write_volume(root.root / row["mask_path"], Volume(mask, thorax.volume.affine),
                 kind=VolumeKind.MASK)


def _write_report(ws: Workspace) -> None:
    directory = ws.report_dir("demo")
    (directory / "tables").mkdir(parents=True)
    (directory / "tables" / "by_design.csv").write_text(
        "design,n,accuracy\n" + "".join(f"d{i},{i + 1},0.{i}\n" for i in range(7)))
    write_png(directory / "figures" / "accuracy.png", np.full((8, 8), 128, np.uint8))
    (directory / "report.html").write_text("<html><body><h1>demo</h1></body></html>")


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    from lesiontrials.index import NoduleIndex, build_index, write_index
    from lesiontrials.trials import PlanContext, hosts_from_index, plan_design, write_plan

    base = tmp_path_factory.mktemp("apps")
    root = DataRoot(write_release_profiles(base / "world", {"LUNA25": 40, "DLCS24": 20}, seed=1))
    ws = Workspace(base / "ws")
    built = build_index(root)
    first = built.table.iloc[0]
    _write_host_files(root, {"seg_path": str(first["seg_path"]),
                             "mask_path": str(first["mask_path"])})
    scores = np.where(np.arange(len(built.table)) % 2 == 0,
                      np.arange(len(built.table)) % 5 + 1.0, np.nan)
    built.table["malignancy"] = scores  # LIDC-style scores on half the rows, NaN elsewhere
    write_index(built, ws)
    table = built.table.copy()
    table["mask_available"] = True
    table["host_available"] = True
    index = NoduleIndex(table)
    plan = plan_design(PlanContext(index, hosts_from_index(index)), "controlled_prevalence",
                       size="demo", seed=0)
    write_plan(plan, ws)
    trial = plan.name
    _write_case(ws, trial, f"{trial}-00000", backend="analytic")
    _write_case(ws, trial, f"{trial}-00001", backend="host-ct")
    _write_report(ws)
    return SmallWorld(ws, root, str(first["nodule_uid"]), trial)


@pytest.fixture
def client(small_world: SmallWorld):
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    app = create_app(small_world.workspace.root, small_world.data_root.root)
    return TestClient(app, raise_server_exceptions=False, base_url="http://localhost")


@pytest.fixture
def private_client(small_world: SmallWorld):
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    app = create_app(small_world.workspace.root, small_world.data_root.root, real_pixels=False)
    return TestClient(app, raise_server_exceptions=False, base_url="http://localhost")
