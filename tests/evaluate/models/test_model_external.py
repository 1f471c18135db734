"""Factories of the external models and the serve-model lookup (no heavy packages needed)."""

from __future__ import annotations

import pytest

from lesiontrials.cli.model_commands import build_model, parse_options
from lesiontrials.errors import ConfigError
from lesiontrials.scoring.models.external import (
    coerce_options,
    external_models,
    register_external_models,
)

NAMES = {"biomedclip", "llava", "llava-med", "medgemma", "qwen2.5-vl", "lingshu", "internvl",
         "vlm", "openai"}


def test_register_keeps_existing_names() -> None:
    registry: dict = {"medgemma": "mine"}
    register_external_models(registry)
    assert set(registry) == NAMES and registry["medgemma"] == "mine"
    assert set(external_models()) == NAMES


@pytest.mark.parametrize(("name", "setting"), [
    ("biomedclip", "LESIONTRIALS_BIOMEDCLIP_PATH"), ("medgemma", "LESIONTRIALS_MEDGEMMA_PATH"),
    ("llava-med", "LESIONTRIALS_LLAVA_MED_PATH"), ("qwen2.5-vl", "LESIONTRIALS_QWEN_VL_PATH"),
    ("openai", "LESIONTRIALS_OPENAI_BASE_URL")])
def test_missing_location_names_the_setting(name: str, setting: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(setting, raising=False)
    monkeypatch.delenv("LESIONTRIALS_OPENAI_MODEL", raising=False)
    with pytest.raises(ConfigError, match=setting):
        external_models()[name]()
    with pytest.raises(ConfigError, match=setting):
        build_model(name, {})


def test_options_from_the_command_line() -> None:
    assert parse_options(["batch_size=8", "use-context=yes", "device=cuda"]) == {
        "batch_size": "8", "use_context": "yes", "device": "cuda"}
    assert coerce_options("openai", {"concurrency": "8", "use_context": "yes",
                                     "timeout_s": "2.5"}) == {
        "concurrency": 8, "use_context": True, "timeout_s": 2.5}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_options(["batch_size"])
    with pytest.raises(ConfigError, match="batch_size: .*integer"):
        coerce_options("medgemma", {"batch_size": "many"})


def test_build_model_lookup_and_errors() -> None:
    assert build_model("majority", {}).name == "majority"
    with pytest.raises(ConfigError, match="unknown model 'gpt-9'.*biomedclip.*threshold"):
        build_model("gpt-9", {})
    with pytest.raises(ConfigError, match="no option colour. Fix: use api_key, .*base_url"):
        build_model("openai", {"base_url": "http://127.0.0.1:1/v1", "model": "m",
                               "colour": "red"})
