"""Zero-shot volume questions over a volume set: what each scan is asked and scored on,
what the model is given (the CT only, the same prompts for every scan), reuse, and the
report's table with Wilson intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evalsynth import TRIAL, write_trial

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from tiny_merlin import SMALL_INPUT, TINY, write_tiny_merlin  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lesiontrials.analysis.detection_report import volume_track  # noqa: E402
from lesiontrials.analysis.volume_questions_report import volume_question_table  # noqa: E402
from lesiontrials.cli.main import app  # noqa: E402
from lesiontrials.io import read_json, read_parquet  # noqa: E402
from lesiontrials.scoring.models.volume_vlm import (  # noqa: E402
    VOLUME_PROMPTS,
    MerlinEncoder,
    Preprocess,
    VolumeVLM,
)
from lesiontrials.scoring.volume_questions import (  # noqa: E402
    EMBEDDINGS_FILE,
    read_volume_answers,
    run_volume_questions,
    volume_question_truth,
)
from lesiontrials.scoring.volume_runner import score_volume_sets  # noqa: E402
from lesiontrials.slicing.volumes import build_volume_set  # noqa: E402


@pytest.fixture
def trial(tmp_path: Path):
    return write_trial(tmp_path / "ws")


def test_truth_asks_only_questions_with_one_answer(trial) -> None:
    vs = build_volume_set(trial=TRIAL, workspace=trial.workspace)
    truth = volume_question_truth(vs)
    asked = {(r.scan_uid, r.task): r.truth for r in truth.itertuples()}
    assert asked == {
        ("t1-00000", "presence"): "present",
        ("t1-00000", "lobe"): "right_lung_upper_lobe",
        ("t1-00000", "size_bin"): "10-20",  # one 14 mm nodule
        ("t1-00001", "presence"): "present",  # two nodules, two lobes, two size bins
        ("t1-00002", "presence"): "absent",
    }


class _SpyNetwork(torch.nn.Module):
    """Records every image and text it is given; answers from a fixed projection."""

    def __init__(self) -> None:
        super().__init__()
        self.logit_scale = torch.nn.Parameter(torch.zeros([]))
        self.images: list[torch.Tensor] = []
        self.texts: list[list[str]] = []

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        self.images.append(image.clone())
        return torch.stack([image.mean(), image.std(), image.max(), image.min()])[None]

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        self.texts.append(list(texts))
        return torch.stack([torch.tensor([len(t), t.count("e"), 1.0, t.count(" ")],
                                         dtype=torch.float32) for t in texts])


def test_model_sees_the_ct_and_the_fixed_prompts_only(trial) -> None:
    """A cheat would need per-scan wording or the truth: every scan gets the task's same
    option sentences, and the image tower gets the preprocessed CT alone."""
    ws = trial.workspace
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    preprocess = Preprocess(spacing_mm=(4.0, 4.0, 6.0), roi_size=(24, 24, 12))
    for uid in vs.scans["scan_uid"]:  # a fresh model per scan: no cache hides a difference
        spy = _SpyNetwork()
        model = VolumeVLM(name="spy", encoder=MerlinEncoder(spy, preprocess),
                          weights_sha256="0" * 64)
        one = vs.scans[vs.scans["scan_uid"] == uid]
        run_volume_questions(model, type(vs)(vs.name, vs.root, one, vs.truth, vs.sha256),
                             workspace=ws, force=True)
        assert spy.texts == [list(p.values()) for p in VOLUME_PROMPTS.values()]
        assert len(spy.images) == 1  # one pass of the image tower gives answers and embedding
        assert all(image.shape == (1, 1, 24, 24, 12) for image in spy.images)
        assert all(float(image.min()) >= 0.0 and float(image.max()) <= 1.0
                   for image in spy.images)  # HU window applied: a CT, not a label map


def test_volume_questions_end_to_end_and_report(trial, tmp_path: Path) -> None:
    ws = trial.workspace
    vs = build_volume_set(trial=TRIAL, workspace=ws)
    folder = tmp_path / "merlin"
    write_tiny_merlin(folder)
    yaml_path = tmp_path / "models.yaml"
    yaml_path.write_text(json.dumps({"volume_models": [
        {"name": "merlin-tiny", "merlin": str(folder), "options": SMALL_INPUT}]}))
    result = CliRunner().invoke(app, ["volumes", "score", "-w", str(ws.root), "--set", TRIAL,
                                      "--model", "brock_like", "--models", str(yaml_path)])
    assert result.exit_code == 0, result.output
    assert "merlin-tiny" in result.output and "brock_like" in result.output
    directory = ws.volume_results_dir("merlin-tiny", TRIAL)
    assert read_json(directory / "run.json")["kind"] == "vlm"
    answers = read_parquet(directory / "questions.parquet")
    assert len(answers) == 3 * len(VOLUME_PROMPTS)
    for row in answers.itertuples():
        assert row.option in VOLUME_PROMPTS[row.task]
        assert sum(json.loads(row.scores).values()) == pytest.approx(1.0)
    embeddings = read_parquet(directory / EMBEDDINGS_FILE)
    assert embeddings.shape == (3, 1 + TINY.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(embeddings.iloc[:, 1:].to_numpy(), axis=1), 1.0,
                               rtol=1e-5)
    first = (directory / "questions.parquet").read_bytes()
    score_volume_sets(ws, sets=[TRIAL], names=[], models_yaml=yaml_path, force=True)
    assert (directory / "questions.parquet").read_bytes() == first  # same bytes on a rerun
    scored = read_volume_answers(ws, "merlin-tiny", vs)
    assert len(scored) == 5 and scored["option"].notna().all()
    track = volume_track(ws, replicates=20)
    assert track is not None
    assert any("zero-shot volume questions" in title for title, _ in track.sections)
    table = track.tables["volume_questions"].set_index("task")
    assert table.loc["presence", "n_scans"] == 3 and table.loc["lobe", "n_scans"] == 1
    assert table.loc["lobe", "chance"] == pytest.approx(0.2)


def test_question_table_wilson_by_hand() -> None:
    answers = pd.DataFrame({"set": "s", "source": "synthetic", "model": "m",
                            "task": "presence", "truth": ["present"] * 6 + ["absent"] * 4,
                            "correct": [True] * 7 + [False] * 3})
    row = volume_question_table(answers).iloc[0]
    assert row["accuracy"] == pytest.approx(0.7) and row["n_scans"] == 10
    # Wilson 95 % for 7/10: (0.3968, 0.8922)
    assert row["ci_low"] == pytest.approx(0.3968, abs=1e-4)
    assert row["ci_high"] == pytest.approx(0.8922, abs=1e-4)
    assert row["chance"] == 0.5 and row["majority"] == pytest.approx(0.6)
    assert row["ci_method"] == "wilson"


def test_question_table_clusters_scans_that_share_a_host() -> None:
    """Ten synthetic scans on two hosts, answered right on one host and wrong on the other:
    they are two units, not ten — the interval must be the host-clustered one and wider
    than the independent-scan Wilson interval."""
    answers = pd.DataFrame({"set": "s", "source": "synthetic", "model": "m",
                            "task": "presence", "truth": ["present"] * 10,
                            "correct": [True] * 5 + [False] * 5,
                            "host": ["H1"] * 5 + ["H2"] * 5})
    row = volume_question_table(answers).iloc[0]
    alone = volume_question_table(answers.drop(columns=["host"])).iloc[0]
    assert row["ci_method"] == "wilson-design-effect" and alone["ci_method"] == "wilson"
    assert row["ci_high"] - row["ci_low"] > alone["ci_high"] - alone["ci_low"] + 0.1
    unknown = answers.assign(host=["H1"] * 5 + [None] * 5)
    with pytest.raises(ValueError, match="without a host CT"):
        volume_question_table(unknown)
