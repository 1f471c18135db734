"""Chat vision-language models from transformers: LLaVA-1.5 / LLaVA-Med (HF format),
MedGemma / Gemma-3, the Qwen2-VL / Qwen2.5-VL family (Lingshu) and InternVL (``-hf``).

The model folder is the user's local copy (``config.json``, weights, processor files):
``AutoProcessor`` and ``AutoModelForImageTextToText`` load it with ``local_files_only=True``.
Each item becomes one user turn of the processor's own chat template, with the centre slice,
or ``z-1, z, z+1`` for models that take several images. Decoding is greedy (deterministic);
the free-text reply is mapped to an option by the answer parser. Alongside the reply, each
option's answer text is scored teacher-forced (its log-likelihood after the prompt,
:mod:`~lesiontrials.scoring.models.option_scores`); the softmax over options is the
answer's ``scores``, used for calibration and selective prediction.

Example:
    >>> model = ChatVLM(model_path="~/models/medgemma-4b-it", name="medgemma")  # doctest: +SKIP
    >>> answers = model.answer(items)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from lesiontrials.errors import ConfigError
from lesiontrials.scoring.models import _deps
from lesiontrials.scoring.models.messages import (
    Parser,
    answer_from_text,
    default_parser,
    item_images,
    option_label,
    prompt_text,
    to_pil,
)
from lesiontrials.scoring.models.option_scores import score_options, softmax_scores
from lesiontrials.slicing.contract import Answer, Item, ModelCard

PATH_SETTING: Final = "LESIONTRIALS_VLM_PATH"
#: model types trained with several images per turn (context slices are sent by default)
MULTI_IMAGE_TYPES: Final = frozenset({"gemma3", "qwen2_vl", "qwen2_5_vl", "qwen3_vl",
                                      "llava_onevision", "idefics3", "smolvlm"})
#: model types this adapter is tested with (tiny models); others are tried as they come
KNOWN_TYPES: Final = frozenset({"llava", "gemma3", "qwen2_vl", "qwen2_5_vl", "internvl"})
#: checkpoints in a training repository's format that need `lesiontrials convert-llava-med`
UNCONVERTED_TYPES: Final = frozenset({"llava_mistral", "llava_llama"})
_CONFIG_FILES: Final = ("config.json", "generation_config.json", "chat_template.jinja",
                        "chat_template.json", "processor_config.json",
                        "preprocessor_config.json", "tokenizer_config.json")


@dataclass
class _Loaded:
    model: Any
    processor: Any
    device: str


_CACHE: dict[tuple[str, str, str, str | None], _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def resolve_dtype(dtype: str, device: str) -> str:
    """``'auto'`` → ``bfloat16`` on a GPU, ``float32`` on CPU; anything else as given."""
    if dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    return dtype


def _dtype_kwargs(transformers: Any, dtype: str, device: str) -> dict[str, Any]:
    import torch

    dtype = resolve_dtype(dtype, device)
    value = getattr(torch, dtype, None)
    if not isinstance(value, torch.dtype):
        raise ConfigError(f"unknown dtype {dtype!r}. Fix: use auto, float32, bfloat16 or float16")
    major = int(transformers.__version__.split(".")[0])
    return {"dtype": value} if major >= 5 else {"torch_dtype": value}


def load_chat_model(model_dir: Path, *, device: str, dtype: str,
                    device_map: str | None) -> _Loaded:
    """Load (once per process) a chat VLM and its processor from a local folder."""
    key = (str(model_dir.resolve()), device, dtype, device_map)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        _deps.offline_hub()
        transformers = _deps.require("transformers", extra="vlm", purpose="the chat VLM adapter")
        _deps.require("PIL", extra="vlm", purpose="the chat VLM adapter")
        kwargs = _dtype_kwargs(transformers, dtype, device)
        if device_map is not None:
            _deps.require("accelerate", extra="vlm", purpose="device_map loading")
            kwargs["device_map"] = device_map
        processor = transformers.AutoProcessor.from_pretrained(model_dir, local_files_only=True)
        model = transformers.AutoModelForImageTextToText.from_pretrained(
            model_dir, local_files_only=True, **kwargs)
        if device_map is None:
            model = model.to(device)
        model.eval()
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # decoder-only batches generate after the prompt
        loaded = _Loaded(model, processor, device)
        _CACHE[key] = loaded
        return loaded


class ChatVLM:
    """A transformers chat VLM answering in free text, parsed to an option.

    Args:
        model_path: local model folder (or set ``LESIONTRIALS_VLM_PATH``).
        name: model name recorded with the results (defaults to the folder name).
        context: ``'auto'`` (neighbour slices for models trained on several images),
            ``'on'`` or ``'off'``.
        max_new_tokens: reply length limit (64).
        batch_size: items per ``generate`` call (left padding); ``None``: 8 on a GPU, else 1.
        seed: torch seed set before each batch (decoding is greedy regardless).
        device: ``'auto'`` (resolved now: ``cuda`` when visible), ``'cpu'``, ``'cuda:1'`` ...
        dtype: ``'auto'`` (bfloat16 on GPU, float32 on CPU), ``'float32'``, ``'bfloat16'`` ...
        device_map: passed to ``from_pretrained`` (e.g. ``'auto'``, needs accelerate).
        profile: image encoding; default ``'medgemma_rgb'`` for Gemma-3 models, else ``'lung'``.
        system_prompt: optional system turn.
        option_scores: score every option's label teacher-forced (the answer's ``scores``).
        adapter: the catalogue name it was built as (recorded in the card).
        parser: ``(task, text) -> (option, status)``; defaults to the project's parser.
    """

    reads_prompt = True  # the runner asks it every paraphrase of a task

    def __init__(self, *, model_path: str | Path | None, name: str | None = None,
                 context: str = "auto", max_new_tokens: int = 64, batch_size: int | None = 1,
                 seed: int = 0, device: str = "auto", dtype: str = "auto",
                 device_map: str | None = None, system_prompt: str | None = None,
                 profile: str | None = None, parser: Parser | None = None,
                 option_scores: bool = True, adapter: str = "vlm",
                 path_setting: str = PATH_SETTING) -> None:
        self.model_dir = _deps.local_model_dir(
            model_path, setting=path_setting, option="--model-path", required_file="config.json",
            what="chat VLM")
        self.model_type = str(json.loads((self.model_dir / "config.json").read_text())
                              .get("model_type", ""))
        if self.model_type in UNCONVERTED_TYPES:
            raise ConfigError(
                f"{self.model_dir}: model_type {self.model_type!r} is the original LLaVA-Med "
                "training format, which transformers cannot load. Fix: run `lesiontrials "
                f"convert-llava-med {self.model_dir} OUT_DIR` and pass --model-path OUT_DIR")
        if not any(any(self.model_dir.glob(p)) for p in ("*.safetensors", "*.bin")):
            raise ConfigError(f"{self.model_dir}: no weights (*.safetensors, *.bin) next to "
                              "config.json. Fix: copy the model's weight files there")
        if context not in ("auto", "on", "off"):
            raise ConfigError(f"context={context!r}. Fix: use auto, on or off")
        self.name = name or self.model_dir.name
        self.adapter = adapter
        self.context = context
        self.max_new_tokens = int(max_new_tokens)
        self.device = _deps.resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = max(1, int(batch_size if batch_size is not None else
                                     (8 if self.device.startswith("cuda") else 1)))
        self.seed = int(seed)
        self.option_scores = bool(option_scores)
        self.device_map = device_map
        self.system_prompt = system_prompt
        self.profile = profile or ("medgemma_rgb" if self.model_type == "gemma3" else "lung")
        self._parser = parser

    @property
    def with_context(self) -> bool:
        """Whether neighbour slices are shown."""
        if self.context == "auto":
            return self.model_type in MULTI_IMAGE_TYPES
        return self.context == "on"

    @property
    def uses_context(self) -> bool:
        """Read by the runner: whether items need their neighbour slices."""
        return self.with_context

    @property
    def version(self) -> str:
        settings = {"context": self.with_context, "max_new_tokens": self.max_new_tokens,
                    "dtype": self.dtype, "system": self.system_prompt, "format": "messages-v1",
                    "option_scores": "loglik-v1" if self.option_scores else None}
        digest = _deps.fingerprint(self.model_dir, config_files=_CONFIG_FILES, extra=settings)
        return f"chat-{self.model_type or 'vlm'}-{digest}"

    @property
    def card(self) -> ModelCard:
        return ModelCard(self.name, self.version, "chat_vlm",
                         {"model_type": self.model_type, "path": str(self.model_dir),
                          "adapter": self.adapter, "backend": "transformers",
                          "device": self.device, "dtype": self.dtype,
                          "batch_size": str(self.batch_size),
                          "max_new_tokens": str(self.max_new_tokens),
                          "option_scores": str(self.option_scores).lower()})

    def messages(self, item: Item) -> tuple[list[dict[str, Any]], list[Any]]:
        """The chat turns for ``item`` and its images (PIL, in the order of the image parts)."""
        images = [to_pil(im) for im in item_images(item, with_context=self.with_context)]
        content: list[dict[str, Any]] = [{"type": "image"} for _ in images]
        content.append({"type": "text", "text": prompt_text(item, n_images=len(images))})
        turns: list[dict[str, Any]] = []
        if self.system_prompt:
            turns.append({"role": "system",
                          "content": [{"type": "text", "text": self.system_prompt}]})
        turns.append({"role": "user", "content": content})
        return turns, images

    def answer(self, items: list[Item]) -> list[Answer]:
        """Generate a reply per item and parse it to one of the item's options."""
        if not items:
            return []
        loaded = load_chat_model(self.model_dir, device=self.device, dtype=self.dtype,
                                 device_map=self.device_map)
        parser = self._parser or default_parser()
        answers: list[Answer] = []
        for start in range(0, len(items), self.batch_size):
            batch = items[start:start + self.batch_size]
            scores = self.option_log_likelihoods(batch, loaded=loaded) if (
                self.option_scores) else [None] * len(batch)
            for item, text, loglik in zip(batch, self._generate(loaded, batch), scores,
                                          strict=True):
                answer = answer_from_text(item.task, text, item.options, parser)
                if loglik is not None:
                    answer = replace(answer, scores=softmax_scores(loglik))
                answers.append(answer)
        return answers

    def prompts(self, loaded: _Loaded, items: list[Item]) -> tuple[list[str], list[list[Any]]]:
        """Chat-template text (ending with the assistant turn's opening) and PIL images
        per item."""
        texts, images = [], []
        for item in items:
            turns, pil_images = self.messages(item)
            texts.append(loaded.processor.apply_chat_template(turns, add_generation_prompt=True))
            images.append(pil_images)
        return texts, images

    def option_log_likelihoods(self, items: list[Item], *, loaded: _Loaded | None = None
                               ) -> list[dict[str, float]]:
        """Per item, option → summed log-likelihood of the option's label as the answer
        (teacher-forced; :mod:`~lesiontrials.scoring.models.option_scores`)."""
        loaded = loaded or load_chat_model(self.model_dir, device=self.device,
                                           dtype=self.dtype, device_map=self.device_map)
        texts, images = self.prompts(loaded, items)
        labels = [[option_label(o) for o in item.options] for item in items]
        values = score_options(loaded.model, loaded.processor, texts, images, labels,
                               batch_size=self.batch_size * max(len(x) for x in labels))
        return [dict(zip(item.options, v, strict=True)) for item, v in zip(items, values,
                                                                           strict=True)]

    def _generate(self, loaded: _Loaded, items: list[Item]) -> list[str]:
        import torch

        texts, images = self.prompts(loaded, items)
        inputs = loaded.processor(text=texts, images=images, return_tensors="pt",
                                  padding=True)
        device = loaded.model.device
        dtype = loaded.model.dtype
        inputs = {k: (v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device))
                  for k, v in inputs.items()}
        torch.manual_seed(self.seed)
        with torch.inference_mode():
            output = loaded.model.generate(**inputs, do_sample=False, num_beams=1,
                                           max_new_tokens=self.max_new_tokens)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        replies = loaded.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [reply.strip() for reply in replies]
