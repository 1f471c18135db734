"""`score`/`run`/`analyze`/`models` with configured models: -o options reach the adapter,
a models YAML drives scoring, every profile's models are reported, paraphrases stored."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import tiny_models
from evalsynth import TRIAL
from tiny_models import INSTALL_VLM, import_or_skip
from typer.testing import CliRunner

from lesiontrials.cli.main import app
from lesiontrials.scoring.paraphrases import paraphrases
from lesiontrials.scoring.runner import read_results

runner = CliRunner()
ENV = {"COLUMNS": "220"}


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import_or_skip("torch", INSTALL_VLM)
    import_or_skip("transformers", INSTALL_VLM)
    return tiny_models.build_llava(tmp_path_factory.mktemp("llava-cli"))


def _invoke(*args: str):
    result = runner.invoke(app, list(args), env=ENV)
    return result


def test_score_options_reach_the_adapter(fresh_trial, tiny_llava: Path) -> None:
    ws = str(fresh_trial.workspace.root)
    result = _invoke("score", "--model", "llava", "--model-path", str(tiny_llava),
                     "-o", "batch_size=4", "-o", "max_new_tokens=3", "-w", ws,
                     "-c", "plain", "-t", "presence")
    assert result.exit_code == 0, result.output
    card = json.loads((fresh_trial.workspace.results_root / "llava" / "model.json")
                      .read_text())["card"]
    assert card["extra"]["batch_size"] == "4" and card["extra"]["max_new_tokens"] == "3"
    assert card["extra"]["device"] == "cpu" and card["extra"]["dtype"] == "float32"
    frame = read_results(fresh_trial.workspace, model="llava", set_name=TRIAL,
                         condition="plain", task="presence", paraphrase=None)
    ids = [p.id for p in paraphrases("presence")]
    assert sorted(frame.paraphrase.unique()) == ids and len(frame) == 6 * len(ids)
    assert frame.groupby("paraphrase").slice_uid.nunique().eq(6).all()
    scores = [json.loads(s) for s in frame.scores_json]
    assert all(set(s) == {"present", "absent"} for s in scores)
    canonical = read_results(fresh_trial.workspace, model="llava", set_name=TRIAL,
                             condition="plain", task="presence")
    assert set(canonical.paraphrase) == {"p0"} and canonical.slice_uid.is_unique
    bad = _invoke("score", "--model", "llava", "--model-path", str(tiny_llava),
                  "-o", "colour=red", "-w", ws)
    assert bad.exit_code != 0 and "no option colour" in str(bad.exception or bad.output)


def test_models_yaml_drives_score_and_run(fresh_trial, tiny_llava: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ws = str(fresh_trial.workspace.root)
    models = tmp_path / "models.yaml"
    models.write_text(f"""
models:
  - name: tiny-med
    adapter: medgemma
    path: {tiny_llava}
    options: {{batch_size: 2, max_new_tokens: 2}}
    profile: medgemma_rgb
  - name: majority
""")
    result = _invoke("score", "--models", str(models), "-w", ws, "-c", "plain",
                     "-t", "presence", "--paraphrases", "canonical")
    assert result.exit_code == 0, result.output
    for name, profile in (("tiny-med", "medgemma_rgb"), ("majority", "lung")):
        frame = read_results(fresh_trial.workspace, model=name, set_name=TRIAL,
                             condition="plain", task="presence", paraphrase=None)
        assert len(frame) == 6 and set(frame.profile) == {profile}
        assert set(frame.paraphrase) == {"p0"}
    # run: the same file is parsed and validated before any stage starts
    from lesiontrials import pipeline
    from lesiontrials.cli import run_command

    seen: dict = {}

    def fake_run(settings, executor, **kw):
        seen.update(kw)
        return pipeline.RunRecord()

    monkeypatch.setattr(pipeline, "run", fake_run)
    monkeypatch.setattr(run_command, "_print_summary", lambda ws, record: None)
    assert _invoke("run", "--models", str(models), "-w", str(tmp_path / "r")).exit_code == 0
    assert [c.name for c in seen["models"]] == ["tiny-med", "majority"]
    assert seen["models"][0].adapter_options()["batch_size"] == 2
    assert _invoke("run", "-w", str(tmp_path / "r")).exit_code == 0
    assert [c.name for c in seen["models"]] == ["threshold", "blob", "overlay_reader",
                                                "majority"]
    models.write_text("models:\n  - {name: x, adapter: medgemma, options: {temp: 1}}\n")
    seen.clear()
    failed = _invoke("run", "--models", str(models), "-w", str(tmp_path / "r"))
    assert failed.exit_code != 0 and not seen  # refused before the world is built


@pytest.mark.slow
def test_mixed_profile_workspace_reports_every_model(fresh_trial, tiny_llava: Path) -> None:
    ws = str(fresh_trial.workspace.root)
    for args in (["--model", "majority"],
                 ["--model", "medgemma", "--model-path", str(tiny_llava), "-o",
                  "profile=medgemma_rgb", "-o", "max_new_tokens=2", "-o", "batch_size=6"]):
        scored = _invoke("score", *args, "-w", ws, "-c", "plain", "-c", "bbox",
                         "-t", "presence")
        assert scored.exit_code == 0, scored.output
    frozen = _invoke("split", "make", "main", "-w", ws, "-c", "plain", "-c", "bbox",
                     "-t", "presence")  # what analyze reports on
    assert frozen.exit_code == 0, frozen.output
    # medgemma misses one cell: shown as not scored, not dropped
    import shutil

    shutil.rmtree(fresh_trial.workspace.results_dir("medgemma", TRIAL, "bbox", "presence"))
    analyzed = _invoke("analyze", "-w", ws, "--replicates", "50")
    assert analyzed.exit_code == 0, analyzed.output
    tables = fresh_trial.workspace.report_dir("main") / "tables"
    report = (fresh_trial.workspace.report_dir("main") / "report.md").read_text()
    assert "majority" in report and "medgemma" in report
    coverage = pd.read_csv(tables / "coverage.csv")
    bbox = coverage[(coverage.condition == "bbox") & (coverage.task == "presence")]
    status = dict(zip(bbox.model, bbox.status, strict=True))
    assert status["majority"] == "scored" and status["medgemma"].startswith("not scored")
    robust = pd.read_csv(tables / "paraphrases.csv")
    med = robust[robust.model == "medgemma"].iloc[0]
    assert med["paraphrases"] == 4 and {"accuracy_p0", "accuracy_p3", "spread"} <= set(robust)
    confidence = pd.read_csv(tables / "confidence.csv")
    assert set(confidence.model) == {"majority", "medgemma"}
    assert "Prompt robustness" in report and "Confidence" in report


def test_models_lists_adapters_and_readiness(monkeypatch: pytest.MonkeyPatch,
                                             tiny_llava: Path) -> None:
    monkeypatch.setenv("LESIONTRIALS_LINGSHU_PATH", str(tiny_llava))
    monkeypatch.delenv("LESIONTRIALS_MEDGEMMA_PATH", raising=False)
    result = _invoke("models")
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines()
             if line.count("│") > 3 and line.split("│")[1].strip()}
    assert "yes" in lines["lingshu"] and "LESIONTRIALS_MEDGEMMA_PATH" in lines["medgemma"]
    assert "no:" in lines["medgemma"] and "yes" in lines["threshold"]


def test_model_choice_errors_are_clear(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    none = _invoke("score", "-w", ws)
    assert none.exit_code != 0 and "--model" in none.output
    orphan = _invoke("score", "--model-path", str(tmp_path), "-w", ws)
    assert orphan.exit_code != 0 and "need a --model" in str(orphan.exception or orphan.output)
    twice = _invoke("score", "--model", "majority", "--model", "majority", "-w", ws)
    assert twice.exit_code != 0 and "twice" in str(twice.exception or twice.output)
    many = _invoke("score", "--model", "llava", "--model", "medgemma", "-o", "batch_size=2",
                   "-w", ws)
    assert many.exit_code != 0 and "apply to one model" in str(many.exception or many.output)
