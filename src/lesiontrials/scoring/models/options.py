"""Typed options of every model adapter, and the catalogue of adapters a user can name.

Options arrive as strings (``-o batch_size=4`` on the command line) or YAML values
(``models.yaml``); :func:`validate_options` checks them against the adapter's pydantic
model: types are converted, out-of-range values and **unknown keys are refused** with the
list of valid keys, never dropped. :func:`gpu_defaults` fills what the user left unset when
a CUDA device is present (device, bfloat16, a larger batch); the adapters record the
resolved values in their model card, so a result says how it was computed.

Example:
    >>> validate_options("medgemma", {"batch_size": "4"})
    {'batch_size': 4}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lesiontrials.errors import ConfigError

Profile = Literal["lung", "medgemma_rgb"]


class AdapterOptions(BaseModel):
    """Base: unknown keys are an error; values are converted from strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(AdapterOptions):
    """The weight-free baselines take no options."""


class ClipOptions(AdapterOptions):
    """:class:`~lesiontrials.scoring.models.clip.ClipZeroShot`."""

    model_path: str | None = None
    text_config: str | None = None
    device: str = "auto"
    batch_size: int | None = Field(default=None, ge=1)
    overlay_prompts: bool = True
    use_context: bool = False
    profile: Profile = "lung"
    precision: Literal["fp32", "fp16", "bf16", "amp", "amp_bf16"] | None = None


class ChatOptions(AdapterOptions):
    """:class:`~lesiontrials.scoring.models.chat.ChatVLM` (transformers or vLLM)."""

    model_path: str | None = None
    context: Literal["auto", "on", "off"] = "auto"
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    batch_size: int | None = Field(default=None, ge=1)
    seed: int = 0
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device_map: str | None = None
    system_prompt: str | None = None
    profile: Profile | None = None
    option_scores: bool = True
    backend: Literal["transformers", "vllm"] = "transformers"


class OpenAIOptions(AdapterOptions):
    """:class:`~lesiontrials.scoring.models.openai_client.OpenAIChatModel`."""

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    use_context: bool = False
    profile: Profile = "lung"
    max_tokens: int = Field(default=64, ge=1)
    seed: int = 0
    system_prompt: str | None = None
    concurrency: int = Field(default=4, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_s: float = Field(default=1.0, ge=0)
    send_metadata: bool = True
    trust_server_answer: bool = True
    logprobs: bool = True


class TrainedOptions(AdapterOptions):
    """:class:`~lesiontrials.training.adapter.TrainedSliceModel` (``lesiontrials train``)."""

    model_path: str | None = None
    batch_size: int = Field(default=64, ge=1)


@dataclass(frozen=True)
class AdapterInfo:
    """What a named adapter is and what it needs to run here."""

    name: str
    kind: Literal["baseline", "clip", "chat_vlm", "openai_endpoint", "trained"]
    options: type[AdapterOptions]
    extra: str = ""  # the pip extra holding its dependencies ('' = base install)
    env: str = ""  # environment variable naming the local model folder / endpoint
    layout: str = ""  # what the folder must hold
    note: str = ""


_CHAT_LAYOUT: Final = "config.json, *.safetensors, processor + tokenizer files (HF format)"
#: every adapter a user can name (``--model NAME`` or ``adapter:`` in a models YAML)
ADAPTERS: Final[dict[str, AdapterInfo]] = {
    **{name: AdapterInfo(name, "baseline", NoOptions, note="weight-free baseline")
       for name in ("threshold", "blob", "overlay_reader", "majority")},
    "biomedclip": AdapterInfo(
        "biomedclip", "clip", ClipOptions, extra="clip", env="LESIONTRIALS_BIOMEDCLIP_PATH",
        layout="open_clip_config.json + open_clip_pytorch_model.bin (open_clip hub layout)",
        note="text tower config via text_config=DIR if not in the folder"),
    "llava": AdapterInfo("llava", "chat_vlm", ChatOptions, extra="vlm",
                         env="LESIONTRIALS_LLAVA_PATH", layout=_CHAT_LAYOUT,
                         note="llava-hf/llava-1.5-*-hf"),
    "llava-med": AdapterInfo(
        "llava-med", "chat_vlm", ChatOptions, extra="vlm", env="LESIONTRIALS_LLAVA_MED_PATH",
        layout=_CHAT_LAYOUT,
        note="official llava_mistral checkpoint: run `lesiontrials convert-llava-med` first"),
    "medgemma": AdapterInfo("medgemma", "chat_vlm", ChatOptions, extra="vlm",
                            env="LESIONTRIALS_MEDGEMMA_PATH", layout=_CHAT_LAYOUT,
                            note="google/medgemma-4b-it; reads the medgemma_rgb profile"),
    "qwen2.5-vl": AdapterInfo("qwen2.5-vl", "chat_vlm", ChatOptions, extra="vlm",
                              env="LESIONTRIALS_QWEN_VL_PATH", layout=_CHAT_LAYOUT,
                              note="Qwen/Qwen2.5-VL-*-Instruct"),
    "lingshu": AdapterInfo("lingshu", "chat_vlm", ChatOptions, extra="vlm",
                           env="LESIONTRIALS_LINGSHU_PATH", layout=_CHAT_LAYOUT,
                           note="lingshu-medical-mllm/Lingshu-7B (a Qwen2.5-VL derivative)"),
    "internvl": AdapterInfo("internvl", "chat_vlm", ChatOptions, extra="vlm",
                            env="LESIONTRIALS_INTERNVL_PATH", layout=_CHAT_LAYOUT,
                            note="OpenGVLab/InternVL3-*-hf (the '-hf' transformers format)"),
    "vlm": AdapterInfo("vlm", "chat_vlm", ChatOptions, extra="vlm",
                       env="LESIONTRIALS_VLM_PATH", layout=_CHAT_LAYOUT,
                       note="any AutoModelForImageTextToText chat model"),
    "trained": AdapterInfo(
        "trained", "trained", TrainedOptions, extra="torch", env="LESIONTRIALS_TRAINED_PATH",
        layout="models/NAME/checkpoint.pt written by `lesiontrials train`",
        note="a slice CNN trained on this workspace's trials; refuses its training cases"),
    "openai": AdapterInfo(
        "openai", "openai_endpoint", OpenAIOptions, extra="serve",
        env="LESIONTRIALS_OPENAI_BASE_URL",
        layout="an OpenAI-compatible /v1/chat/completions endpoint (base_url=, model=)",
        note="vLLM serve, `lesiontrials serve-model`, hosted APIs"),
}


def adapter_info(adapter: str) -> AdapterInfo:
    """The catalogue entry of ``adapter`` (an error listing the known names otherwise)."""
    if adapter not in ADAPTERS:
        raise ConfigError(f"unknown model adapter {adapter!r}. Fix: use one of "
                          f"{', '.join(sorted(ADAPTERS))} (see `lesiontrials models`)")
    return ADAPTERS[adapter]


def validate_options(adapter: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` checked against ``adapter``'s options; only the keys given are returned
    (converted), so the adapter's own defaults apply to the rest."""
    schema = adapter_info(adapter).options
    given = {str(k).replace("-", "_"): os.fspath(v) if isinstance(v, os.PathLike) else v
             for k, v in raw.items()}
    valid = sorted(schema.model_fields)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(f"model {adapter!r} has no option {', '.join(unknown)}. Fix: use "
                          f"{', '.join(valid) if valid else 'no options (a baseline)'}")
    try:
        parsed = schema.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"model {adapter!r}: invalid option value ({problems}). Fix: "
                          "correct the -o KEY=VALUE / options: entry") from exc
    return parsed.model_dump(include=set(given))


def gpu_defaults(kind: str, options: Mapping[str, Any], *, cuda: bool) -> dict[str, Any]:
    """``options`` with the GPU defaults filled in where unset (nothing changes on CPU).

    Chat VLMs: ``device=cuda``, ``dtype=bfloat16``, ``batch_size=8``; CLIP:
    ``device=cuda``, ``precision=bf16``, ``batch_size=128``. On CPU chat models keep
    float32 and one item per call, CLIP 32 images per call.
    """
    out = dict(options)
    if kind not in ("chat_vlm", "clip"):
        return out
    if out.get("device") in (None, "auto"):
        out["device"] = "cuda" if cuda else "cpu"
    on_gpu = str(out["device"]).startswith("cuda")
    if kind == "chat_vlm":
        defaults: dict[str, Any] = ({"dtype": "bfloat16", "batch_size": 8} if on_gpu else
                                    {"dtype": "float32", "batch_size": 1})
    else:
        defaults = ({"precision": "bf16", "batch_size": 128} if on_gpu else
                    {"precision": "fp32", "batch_size": 32})
    for key, value in defaults.items():
        if out.get(key) in (None, "auto"):
            out[key] = value
    return out


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (False when torch is not installed)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
