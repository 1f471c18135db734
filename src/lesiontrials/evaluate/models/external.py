"""Factories for the external models (user weights or served endpoints), by name.

Each factory takes keyword options (strings from the command line are converted) and falls
back to a ``LESIONTRIALS_*`` environment variable for the model location; a missing
location is a clear error naming both, never a fallback model. Register them with
:func:`register_external_models`.

========================  =========================  =======================================
name                      adapter                    location
========================  =========================  =======================================
``biomedclip``            :class:`ClipZeroShot`      ``LESIONTRIALS_BIOMEDCLIP_PATH``
``llava``                 :class:`ChatVLM`           ``LESIONTRIALS_LLAVA_PATH``
``llava-med``             :class:`ChatVLM`           ``LESIONTRIALS_LLAVA_MED_PATH``
``medgemma``              :class:`ChatVLM`           ``LESIONTRIALS_MEDGEMMA_PATH``
``qwen2.5-vl``            :class:`ChatVLM`           ``LESIONTRIALS_QWEN_VL_PATH``
``vlm``                   :class:`ChatVLM`           ``LESIONTRIALS_VLM_PATH``
``openai``                :class:`OpenAIChatModel`   ``LESIONTRIALS_OPENAI_BASE_URL`` + ``_MODEL``
========================  =========================  =======================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping
from functools import partial
from typing import Any, Final

from lesiontrials.errors import ConfigError
from lesiontrials.evaluate.contract import Model

ModelFactory = Callable[..., Model]

_INT: Final = frozenset({"batch_size", "max_new_tokens", "max_tokens", "seed", "concurrency",
                         "max_retries"})
_FLOAT: Final = frozenset({"timeout_s", "backoff_s"})
_BOOL: Final = frozenset({"overlay_prompts", "use_context", "send_metadata",
                          "trust_server_answer"})
#: chat VLM names → environment variable holding the local model folder
CHAT_MODELS: Final[dict[str, str]] = {
    "llava": "LESIONTRIALS_LLAVA_PATH",
    "llava-med": "LESIONTRIALS_LLAVA_MED_PATH",
    "medgemma": "LESIONTRIALS_MEDGEMMA_PATH",
    "qwen2.5-vl": "LESIONTRIALS_QWEN_VL_PATH",
    "vlm": "LESIONTRIALS_VLM_PATH",
}


def coerce_options(options: dict[str, Any]) -> dict[str, Any]:
    """Convert command-line strings to the adapters' types (``key=value`` pairs)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        key = key.replace("-", "_")
        if isinstance(value, str):
            try:
                if key in _INT:
                    value = int(value)
                elif key in _FLOAT:
                    value = float(value)
                elif key in _BOOL:
                    value = value.strip().lower() in ("1", "true", "yes", "on")
            except ValueError as exc:
                raise ConfigError(f"option {key}={value!r} is not a number") from exc
        out[key] = value
    return out


def make_clip(*, name: str = "biomedclip", **options: Any) -> Model:
    """BiomedCLIP-style zero-shot scoring from a local open_clip folder."""
    from lesiontrials.evaluate.models.clip import PATH_SETTING, TEXT_CONFIG_SETTING, ClipZeroShot

    options = coerce_options(options)
    options.setdefault("model_path", os.environ.get(PATH_SETTING))
    options.setdefault("text_config", os.environ.get(TEXT_CONFIG_SETTING))
    return ClipZeroShot(name=name, **options)


def make_chat(*, name: str = "vlm", **options: Any) -> Model:
    """A transformers chat VLM from a local folder (see :data:`CHAT_MODELS`)."""
    from lesiontrials.evaluate.models.chat import ChatVLM

    setting = CHAT_MODELS.get(name, "LESIONTRIALS_VLM_PATH")
    options = coerce_options(options)
    options.setdefault("model_path", os.environ.get(setting))
    return ChatVLM(name=name, path_setting=setting, **options)


def make_openai(*, name: str | None = None, **options: Any) -> Model:
    """A client of an OpenAI-compatible chat-completions endpoint."""
    from lesiontrials.evaluate.models.openai_client import OpenAIChatModel

    return OpenAIChatModel(name=name, **coerce_options(options))


def external_models() -> dict[str, ModelFactory]:
    """Name → factory for every external model."""
    factories: dict[str, ModelFactory] = {"biomedclip": make_clip, "openai": make_openai}
    for name in CHAT_MODELS:
        factories[name] = partial(make_chat, name=name)
    return factories


def register_external_models(registry: MutableMapping[str, Any]) -> None:
    """Add the external model factories to ``registry`` (names already there are kept)."""
    for name, factory in external_models().items():
        registry.setdefault(name, factory)
