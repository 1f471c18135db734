"""Factories for the external models (user weights or served endpoints), by name.

Each factory takes keyword options, validated against the adapter's typed options
(:mod:`~lesiontrials.scoring.models.options`; command-line strings are converted), and
falls back to a ``LESIONTRIALS_*`` environment variable for the model location; a missing
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
``lingshu``               :class:`ChatVLM`           ``LESIONTRIALS_LINGSHU_PATH``
``internvl``              :class:`ChatVLM`           ``LESIONTRIALS_INTERNVL_PATH``
``vlm``                   :class:`ChatVLM`           ``LESIONTRIALS_VLM_PATH``
``openai``                :class:`OpenAIChatModel`   ``LESIONTRIALS_OPENAI_BASE_URL`` + ``_MODEL``
========================  =========================  =======================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping
from functools import partial
from typing import Any, Final

from lesiontrials.scoring.models.options import (
    ADAPTERS,
    cuda_available,
    gpu_defaults,
    validate_options,
)
from lesiontrials.slicing.contract import Model

ModelFactory = Callable[..., Model]

#: chat VLM adapters → environment variable holding the local model folder
CHAT_MODELS: Final[dict[str, str]] = {
    name: info.env for name, info in ADAPTERS.items() if info.kind == "chat_vlm"}


def coerce_options(adapter: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` (strings from the command line, or typed values) validated against the
    adapter's typed options (:func:`~lesiontrials.scoring.models.options.validate_options`)."""
    return validate_options(adapter, options)


def make_clip(*, name: str = "biomedclip", adapter: str = "biomedclip",
              **options: Any) -> Model:
    """BiomedCLIP-style zero-shot scoring from a local open_clip folder."""
    from lesiontrials.scoring.models.clip import PATH_SETTING, TEXT_CONFIG_SETTING, ClipZeroShot

    options = gpu_defaults("clip", coerce_options(adapter, options), cuda=cuda_available())
    if options.get("model_path") is None:
        options["model_path"] = os.environ.get(PATH_SETTING)
    if options.get("text_config") is None:
        options["text_config"] = os.environ.get(TEXT_CONFIG_SETTING)
    for key in ("model_path", "text_config"):
        if options[key]:
            options[key] = os.path.expanduser(str(options[key]))
    return ClipZeroShot(name=name, **options)


def make_chat(*, adapter: str = "vlm", name: str | None = None, **options: Any) -> Model:
    """A chat VLM from a local folder (see :data:`CHAT_MODELS`), on transformers or vLLM;
    GPU defaults (:func:`~lesiontrials.scoring.models.options.gpu_defaults`) fill what is
    unset."""
    from lesiontrials.scoring.models.chat import ChatVLM

    setting = CHAT_MODELS.get(adapter, "LESIONTRIALS_VLM_PATH")
    options = gpu_defaults("chat_vlm", coerce_options(adapter, options), cuda=cuda_available())
    if options.get("model_path") is None:
        options["model_path"] = os.environ.get(setting)
    backend = options.pop("backend", "transformers")
    if backend == "vllm":
        from lesiontrials.scoring.models.vllm_backend import VllmChatVLM

        return VllmChatVLM(name=name or adapter, adapter=adapter, path_setting=setting,
                           **options)
    return ChatVLM(name=name or adapter, adapter=adapter, path_setting=setting, **options)


def make_openai(*, name: str | None = None, adapter: str = "openai", **options: Any) -> Model:
    """A client of an OpenAI-compatible chat-completions endpoint."""
    from lesiontrials.scoring.models.openai_client import OpenAIChatModel

    return OpenAIChatModel(name=name, **coerce_options(adapter, options))


def external_models() -> dict[str, ModelFactory]:
    """Name → factory for every external model."""
    factories: dict[str, ModelFactory] = {"biomedclip": make_clip, "openai": make_openai}
    for name in CHAT_MODELS:
        factories[name] = partial(make_chat, adapter=name)
    return factories


def register_external_models(registry: MutableMapping[str, Any]) -> None:
    """Add the external model factories to ``registry`` (names already there are kept)."""
    for name, factory in external_models().items():
        registry.setdefault(name, factory)
