"""``lesiontrials questions`` reads a trial's insert.json files and writes the bank."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lesiontrials.cli.main import app
from lesiontrials.errors import MissingPathError
from lesiontrials.io import read_json, write_json
from lesiontrials.paths import Workspace


def _case(ws: Workspace, uid: str, status: str, diameters: list[float]) -> None:
    nodules = [{"nodule_index": k, "donor_characteristics": {"texture": 5, "calcification": 6},
                "realised": {"lobe": "right_lung_lower_lobe", "side": "right",
                             "zone": "lower_zone", "equivalent_diameter_mm": d,
                             "max_axis_diameter_mm": d, "volume_mm3": d ** 3 / 2,
                             "pleural_distance_mm": 8.0, "centroid_mm": [0, 0, -40.0 * k]}}
               for k, d in enumerate(diameters)]
    write_json({"case_uid": uid, "status": status, "nodules": nodules},
               ws.case_dir("t", uid) / "insert.json")


def test_writes_bank_and_lists_failed_cases(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    _case(ws, "t-00000", "done", [16.0])
    _case(ws, "t-00001", "done", [])
    _case(ws, "t-00002", "failed", [])
    result = CliRunner().invoke(app, ["questions", "t", "-w", str(tmp_path)])
    assert result.exit_code == 0, result.output
    bank = read_json(ws.questions_file("t"))
    assert bank["cases_not_inserted"] == ["t-00002"]
    rads = {i["case_uid"]: i["answer"] for i in bank["items"]
            if i["template_id"] == "lung_rads" and i["paraphrase"] == 0}
    assert rads == {"t-00000": "4B", "t-00001": "1"}
    first = ws.questions_file("t").read_bytes()
    CliRunner().invoke(app, ["questions", "t", "-w", str(tmp_path)])
    assert ws.questions_file("t").read_bytes() == first


def test_missing_cases_is_an_error(tmp_path: Path) -> None:
    from lesiontrials.scoring.questions.workspace import write_question_bank

    with pytest.raises(MissingPathError, match="lesiontrials insert t"):
        write_question_bank(Workspace(tmp_path), "t", seed=0)


def test_ask_cli_scores_named_models_and_reports_missing_bank(tmp_path: Path) -> None:
    from test_question_adapters import _cases, _workspace

    ws = _workspace(tmp_path, _cases(5))
    result = CliRunner().invoke(app, ["ask", "t", "-w", str(tmp_path), "--model", "blob",
                                      "--model", "majority", "--no-reader"])
    assert result.exit_code == 0, result.output
    assert (ws.question_results_dir("blob") / "t.parquet").is_file()
    assert (ws.question_results_dir("majority") / "t.parquet").is_file()
    missing = CliRunner().invoke(app, ["ask", "other", "-w", str(tmp_path), "--no-reader"])
    assert isinstance(missing.exception, MissingPathError)
    assert "lesiontrials questions other" in str(missing.exception)
