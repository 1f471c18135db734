"""Running trials: resume, determinism across workers, release export and the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from conftest import World, donor_path, host_path, row, write_manifest
from lesiontrials.cli.insert_commands import insert
from lesiontrials.errors import MissingPathError
from lesiontrials.insert import insert_trial
from lesiontrials.io import read_json
from lesiontrials.paths import Workspace
from lesiontrials.testing import output_snapshot


def _rows() -> list[dict]:
    rows = [row("t1-00000"),
            row("t1-00001", placement="random", target_lobe="", donor_mask_path=donor_path("E")),
            row("t1-00002", target_lobe="LLL", target_lobe_ml_pct=math.nan, scale=1.25),
            row("t1-00003", donor_mask_path=donor_path("S40")),  # fails: too large
            row("t1-00004", nodule_free=True, donor_mask_path="", donor_uid="", placement="")]
    rows += [row("t1-00005", nodule_index=k, placement="random", target_lobe="",
                 donor_mask_path=donor_path(d), host_seg_path=host_path("H2"))
             for k, d in enumerate(("S6", "S4", "E"))]
    return rows


def _snapshot(workspace: Workspace) -> dict[str, bytes]:
    """Every file under cases/ byte for byte, but the wall-clock timing files."""
    return output_snapshot(workspace.cases_dir("t1"), root=workspace.root)


def test_results_are_identical_for_one_and_two_workers(tmp_path, world: World):
    snapshots = []
    for workers in (1, 2):
        workspace = Workspace(tmp_path / f"w{workers}")
        write_manifest(workspace, _rows())
        insert_trial("t1", workspace=workspace, data_root=world.root, workers=workers,
                     show_progress=False)
        snapshots.append(_snapshot(workspace))
    assert snapshots[0].keys() == snapshots[1].keys()
    assert any(k.endswith("labels.nii.gz") for k in snapshots[0])
    for key in snapshots[0]:
        assert snapshots[0][key] == snapshots[1][key], key


def test_an_interrupted_run_resumes_and_redoes_only_what_changed(tmp_path, world: World):
    workspace = Workspace(tmp_path / "ws")
    rows = _rows()
    write_manifest(workspace, rows)
    first = insert_trial("t1", workspace=workspace, data_root=world.root, show_progress=False)
    assert first["this_run"] == {"done": 5, "failed": 1}
    case = lambda uid: workspace.case_dir("t1", uid)  # noqa: E731
    before = {p: p.stat().st_mtime_ns for p in workspace.cases_dir("t1").rglob("*.nii.gz")}
    (case("t1-00001") / "labels.nii.gz").unlink()  # killed before its labels were renamed
    (case("t1-00002") / ".labels.nii.gz.k9x2.tmp").write_bytes(b"half a file")  # kill -9
    (case("t1-00005") / "nodule_1.nii.gz").unlink()
    rows[0]["target_lobe_cc_pct"] = 20.0  # a changed manifest row re-does that case
    write_manifest(workspace, rows)
    second = insert_trial("t1", workspace=workspace, data_root=world.root, show_progress=False)
    assert second["this_run"] == {"done": 4, "failed": 1, "skipped": 1}
    assert second["status"] == first["status"]
    redone = {"t1-00000", "t1-00001", "t1-00002", "t1-00005"}
    for path, mtime in before.items():
        changed = path.stat().st_mtime_ns != mtime if path.exists() else True
        assert changed == (path.parent.name in redone), path
    assert not list(case("t1-00002").glob("*.tmp"))
    assert read_json(case("t1-00000") / "insert.json")["nodules"][0]["planned"]["lobe_pct"][
        "cc"] == 20.0
    third = insert_trial("t1", workspace=workspace, data_root=world.root, show_progress=False)
    assert third["this_run"] == {"failed": 1, "skipped": 5}


def test_release_compatible_export(tmp_path, world: World):
    workspace = Workspace(tmp_path / "ws")
    write_manifest(workspace, _rows())
    export = tmp_path / "release"
    insert_trial("t1", workspace=workspace, data_root=world.root, export_dir=export,
                 show_progress=False)
    seg = export / "masks/t1/refined_seg/t1-00005_seg.nii.gz"
    assert seg.read_bytes() == (workspace.case_dir("t1", "t1-00005") / "labels.nii.gz").read_bytes()
    assert sorted(p.name for p in (export / "masks/t1/nodule_seg").glob("t1-00005_*")) == [
        "t1-00005_n0.nii.gz", "t1-00005_n1.nii.gz", "t1-00005_n2.nii.gz"]
    assert not (export / "masks/t1/refined_seg/t1-00003_seg.nii.gz").exists()  # failed case
    table = pd.read_csv(export / "meta/t1_insertions.csv")
    assert len(table) == 6 and {"planned_diameter_mm", "realised_diameter_mm",
                                "realised_lobe"} <= set(table.columns)
    seg.unlink()  # a resumed run restores a missing export file with the same bytes
    insert_trial("t1", workspace=workspace, data_root=world.root, export_dir=export,
                 show_progress=False)
    assert seg.read_bytes() == (workspace.case_dir("t1", "t1-00005") / "labels.nii.gz").read_bytes()


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(insert)
    return app


def _invoke(cli: typer.Typer, args: list[str], workspace: Path, world: World):
    return CliRunner().invoke(cli, [*args, "--workspace", str(workspace), "--data-root",
                                    str(world.root)])


def test_cli_inserts_one_trial_or_all(tmp_path, world: World, cli):
    workspace = Workspace(tmp_path / "ws")
    write_manifest(workspace, [row("t1-00000")])
    write_manifest(workspace, [row("t2-00000", trial="t2")], trial="t2")
    result = _invoke(cli, ["t1", "--workers", "1"], workspace.root, world)
    assert result.exit_code == 0, result.output
    assert "insertion" in result.output and "done / failed" in result.output
    assert (workspace.cases_dir("t1") / "insert_summary.json").is_file()
    result = _invoke(cli, ["--all", "-j", "1", "--export-release", str(tmp_path / "rel")],
                     workspace.root, world)
    assert result.exit_code == 0, result.output
    assert (workspace.case_dir("t2", "t2-00000") / "labels.nii.gz").is_file()
    assert (tmp_path / "rel/masks/t2/refined_seg/t2-00000_seg.nii.gz").is_file()


def test_cli_refuses_both_or_neither_and_unknown_trials(tmp_path, world: World, cli):
    for args in ([], ["t1", "--all"]):
        result = _invoke(cli, args, tmp_path, world)
        assert result.exit_code == 2 and "--all" in result.output
    result = _invoke(cli, ["nope", "-j", "1"], tmp_path, world)
    assert isinstance(result.exception, MissingPathError)
    assert "plan" in str(result.exception)


def test_decoded_cache_on_or_off_gives_identical_bytes(tmp_path, world: World):
    """Cold cache (decodes and stores), warm cache (reads every input from the .npy
    entries) and no cache write the same case files byte for byte."""
    from lesiontrials.io.decoded import DecodedCache

    cache = DecodedCache(tmp_path / "shared_cache")
    snapshots = []
    from lesiontrials.insert import case as insert_case_module
    from lesiontrials.io import decoded

    for name, use in (("off", None), ("cold", cache), ("warm", cache)):
        decoded.forget_remembered_crops()  # each mode reads its inputs itself
        insert_case_module._NATIVES.clear()
        space = Workspace(tmp_path / name)
        write_manifest(space, _rows())
        insert_trial("t1", workspace=space, data_root=world.root, workers=1,
                     show_progress=False, decoded_cache=use)
        snapshots.append(_snapshot(space))
    assert len(cache.entries()) >= 4  # both hosts and the donor crops are cached
    assert snapshots[0] == snapshots[1] == snapshots[2]
