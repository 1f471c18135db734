"""Chat VLM adapter on tiny LLaVA, Gemma-3 and Qwen2.5-VL models built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiny_models
from tiny_models import INSTALL_CLIP, INSTALL_VLM, import_or_skip, make_items

from lesiontrials.errors import ConfigError, MissingPathError
from lesiontrials.scoring.models.chat import ChatVLM

FAMILIES = ("llava", "gemma3", "qwen2_5_vl")
STATUSES = {"ok", "unparsed", "ambiguous"}


@pytest.fixture(scope="module", params=FAMILIES)
def tiny_vlm(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    import_or_skip("torch", INSTALL_VLM)
    import_or_skip("transformers", INSTALL_VLM)
    if request.param == "qwen2_5_vl":  # transformers' Qwen processors need torchvision
        import_or_skip("torchvision", INSTALL_CLIP)
    directory = tmp_path_factory.mktemp(request.param)
    getattr(tiny_models, f"build_{request.param}")(directory)
    return request.param, directory


def test_missing_weights_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LESIONTRIALS_MEDGEMMA_PATH") as info:
        ChatVLM(model_path=None, path_setting="LESIONTRIALS_MEDGEMMA_PATH")
    assert "--model-path" in str(info.value)
    with pytest.raises(MissingPathError, match="config.json"):
        ChatVLM(model_path=tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(ConfigError, match="no weights"):
        ChatVLM(model_path=tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match="context"):
        ChatVLM(model_path=tmp_path, context="maybe")


def test_answers_are_valid_and_deterministic(tiny_vlm: tuple[str, Path]) -> None:
    family, directory = tiny_vlm
    model = ChatVLM(model_path=directory, max_new_tokens=6, batch_size=1, device="cpu")
    items = make_items(3)
    answers = model.answer(items)
    assert len(answers) == len(items)
    for item, answer in zip(items, answers, strict=True):
        assert answer.parse_status in STATUSES
        assert answer.option in (*item.options, "")
        assert (answer.option != "") == (answer.parse_status == "ok")
        assert isinstance(answer.raw_text, str) and answer.scores is not None
    assert model.answer(items) == answers
    batched = ChatVLM(model_path=directory, max_new_tokens=6, batch_size=3, device="cpu")
    assert [a.raw_text for a in batched.answer(items)] == [a.raw_text for a in answers]
    assert model.version == batched.version and model.version.startswith(f"chat-{family}")


def test_context_follows_the_model_family(tiny_vlm: tuple[str, Path]) -> None:
    family, directory = tiny_vlm
    auto = ChatVLM(model_path=directory)
    assert auto.with_context == (family != "llava")
    turns, images = auto.messages(make_items(1)[0])
    assert len(images) == (3 if family != "llava" else 1)
    parts = turns[-1]["content"]
    assert [p["type"] for p in parts] == ["image"] * len(images) + ["text"]
    assert ("middle one" in parts[-1]["text"]) == (len(images) == 3)
    forced = ChatVLM(model_path=directory, context="on", max_new_tokens=4, device="cpu",
                     system_prompt="You are a thoracic radiologist.")
    assert forced.version != auto.version
    assert len(forced.answer(make_items(2))) == 2  # multi-image + system turn run end to end
