"""Typed adapter options, GPU defaults and the models YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from lesiontrials.errors import ConfigError
from lesiontrials.scoring.models.config import from_cli, load_models_file, model_factory
from lesiontrials.scoring.models.options import ADAPTERS, gpu_defaults, validate_options


def test_options_are_converted_and_unknown_keys_listed() -> None:
    assert validate_options("medgemma", {"batch_size": "4", "dtype": "bfloat16",
                                         "option-scores": "false"}) == {
        "batch_size": 4, "dtype": "bfloat16", "option_scores": False}
    with pytest.raises(ConfigError, match=r"no option colour\. Fix: use .*batch_size.*device"):
        validate_options("medgemma", {"colour": "red"})
    with pytest.raises(ConfigError, match="dtype"):
        validate_options("medgemma", {"dtype": "float8"})
    with pytest.raises(ConfigError, match="batch_size"):
        validate_options("biomedclip", {"batch_size": "0"})
    with pytest.raises(ConfigError, match="no option batch_size.*a baseline"):
        validate_options("threshold", {"batch_size": "4"})
    assert validate_options("biomedclip", {"model_path": Path("/m"), "text_config": Path("/t")}
                            ) == {"model_path": "/m", "text_config": "/t"}  # serve-model
    with pytest.raises(ConfigError, match="unknown model adapter 'gpt-9'"):
        validate_options("gpt-9", {})


def test_gpu_defaults_fill_only_what_is_unset() -> None:
    assert gpu_defaults("chat_vlm", {}, cuda=True) == {
        "device": "cuda", "dtype": "bfloat16", "batch_size": 8}
    assert gpu_defaults("chat_vlm", {}, cuda=False) == {
        "device": "cpu", "dtype": "float32", "batch_size": 1}
    assert gpu_defaults("chat_vlm", {"device": "cpu", "batch_size": 2}, cuda=True) == {
        "device": "cpu", "dtype": "float32", "batch_size": 2}
    assert gpu_defaults("clip", {}, cuda=True)["precision"] == "bf16"
    assert gpu_defaults("baseline", {}, cuda=True) == {}


def test_every_adapter_documents_what_it_needs() -> None:
    for name, info in ADAPTERS.items():
        assert info.name == name
        if info.kind != "baseline":
            assert info.extra and info.env.startswith("LESIONTRIALS_") and info.layout


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_models_yaml_is_validated(tmp_path: Path) -> None:
    good = _write(tmp_path / "models.yaml", """
models:
  - name: lingshu-7b
    adapter: lingshu
    path: /nowhere/Lingshu-7B
    options: {batch_size: 4, max_new_tokens: 32}
  - name: threshold
""")
    configs = load_models_file(good)
    assert [c.name for c in configs] == ["lingshu-7b", "threshold"]
    assert configs[0].adapter_options() == {"name": "lingshu-7b", "batch_size": 4,
                                            "max_new_tokens": 32,
                                            "model_path": "/nowhere/Lingshu-7B"}
    assert model_factory(configs[1])().name == "threshold"
    cases = {
        "models: []": "non-empty list",
        "models:\n  - {name: a, adapter: medgemma, colour: red}": "colour: Extra inputs",
        "models:\n  - {name: a, adapter: medgemma, options: {temp: 1}}": "no option temp",
        "models:\n  - {name: a/b, adapter: medgemma}": r"models\[0\]: name",
        "models:\n  - {name: a, adapter: medgemma}\n  - {name: a, adapter: llava}": "twice",
        "models:\n  - {name: t2, adapter: threshold}": "cannot be renamed",
        "models: [": "not valid YAML",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_models_file(_write(tmp_path / "bad.yaml", text))
    with pytest.raises(ConfigError, match="not found"):
        load_models_file(tmp_path / "missing.yaml")


def test_cli_options_apply_to_one_model() -> None:
    (config,) = from_cli(["medgemma"], model_path=Path("/m"), options={"batch_size": "4"})
    assert config.adapter_options() == {"name": "medgemma", "batch_size": 4,
                                        "model_path": "/m"}
    with pytest.raises(ConfigError, match="apply to one model"):
        from_cli(["medgemma", "llava"], model_path=None, options={"batch_size": "4"})


def test_endpoint_results_keep_the_served_model_id() -> None:
    (plain,) = from_cli(["openai"], model_path=None,
                        options={"base_url": "http://127.0.0.1:1/v1", "model": "medgemma"})
    assert "name" not in plain.adapter_options()
    assert model_factory(plain)().name == "medgemma"
    (named,) = from_cli(["openai"], model_path=None, options={"model": "m"})
    renamed = named.model_copy(update={"name": "site-a"})
    assert renamed.adapter_options()["name"] == "site-a"
