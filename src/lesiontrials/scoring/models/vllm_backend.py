"""Chat VLMs on vLLM (optional extra ``vllm``, CUDA GPU): all items of a call in one
batch, the same prompts, greedy decoding and option scores as the transformers path.

Prompts are rendered by the model's own HF processor (:meth:`ChatVLM.prompts`), images
passed as ``multi_modal_data``, so the text a model reads is identical on both backends.
Option scores are teacher-forced through vLLM's ``prompt_logprobs``: the prompt followed
by the option's label is scored and the log-probabilities of the label's tokens summed
(the label tokens are the last ones of the scored prompt; a tokenizer that merges the
label with the assistant prefix would shift this boundary, which the transformers path
avoids by appending label ids; check a new model family with the GPU test).

Select it with ``-o backend=vllm``; ``gpu_memory_utilization`` and ``max_model_len`` come
from the environment variables ``LESIONTRIALS_VLLM_GPU_MEMORY`` (default 0.85) and
``LESIONTRIALS_VLLM_MAX_LEN`` (default 8192).
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from lesiontrials.errors import ConfigError
from lesiontrials.scoring.models import _deps
from lesiontrials.scoring.models.chat import ChatVLM, _Loaded
from lesiontrials.scoring.models.messages import default_parser, option_label
from lesiontrials.scoring.models.option_scores import label_token_ids, softmax_scores
from lesiontrials.slicing.contract import Answer, Item, ModelCard

_ENGINES: dict[tuple[str, str, int], Any] = {}
_LOCK = threading.Lock()


def _engine(model_dir: Path, *, dtype: str, seed: int, images_per_prompt: int) -> Any:
    """One vLLM engine per (folder, dtype, seed) and process."""
    key = (str(model_dir.resolve()), dtype, seed)
    with _LOCK:
        if key not in _ENGINES:
            vllm = _deps.require("vllm", extra="vllm", purpose="the vLLM backend")
            _ENGINES[key] = vllm.LLM(
                model=str(model_dir), dtype=dtype, seed=seed, trust_remote_code=False,
                limit_mm_per_prompt={"image": images_per_prompt},
                gpu_memory_utilization=float(os.environ.get("LESIONTRIALS_VLLM_GPU_MEMORY",
                                                            "0.85")),
                max_model_len=int(os.environ.get("LESIONTRIALS_VLLM_MAX_LEN", "8192")))
        return _ENGINES[key]


class VllmChatVLM(ChatVLM):
    """:class:`ChatVLM` whose generation and option scoring run on vLLM."""

    def __init__(self, **options: Any) -> None:
        options.pop("device_map", None)
        super().__init__(**options)
        if not self.device.startswith("cuda"):
            raise ConfigError(f"the vLLM backend needs a CUDA GPU (device={self.device!r}). "
                              "Fix: run on a GPU machine or drop -o backend=vllm")
        self._processor: Any = None

    @property
    def version(self) -> str:
        return super().version + "-vllm"

    @property
    def card(self) -> ModelCard:
        card = super().card
        return replace(card, version=self.version, extra={**card.extra, "backend": "vllm"})

    def _loaded(self) -> _Loaded:
        if self._processor is None:
            transformers = _deps.require("transformers", extra="vllm", purpose="vLLM prompts")
            self._processor = transformers.AutoProcessor.from_pretrained(
                self.model_dir, local_files_only=True)
        return _Loaded(model=None, processor=self._processor, device=self.device)

    def _llm(self) -> Any:
        return _engine(self.model_dir, dtype=self.dtype, seed=self.seed,
                       images_per_prompt=3 if self.with_context else 1)

    def answer(self, items: list[Item]) -> list[Answer]:
        """Greedy replies for every item in one vLLM batch, then option scores."""
        if not items:
            return []
        vllm = _deps.require("vllm", extra="vllm", purpose="the vLLM backend")
        texts, images = self.prompts(self._loaded(), items)
        requests = [{"prompt": t, "multi_modal_data": {"image": im}}
                    for t, im in zip(texts, images, strict=True)]
        params = vllm.SamplingParams(temperature=0.0, max_tokens=self.max_new_tokens,
                                     seed=self.seed)
        outputs = self._llm().generate(requests, params, use_tqdm=False)
        parser = self._parser or default_parser()
        from lesiontrials.scoring.models.messages import answer_from_text

        answers = [answer_from_text(item.task, out.outputs[0].text.strip(), item.options,
                                    parser) for item, out in zip(items, outputs, strict=True)]
        if not self.option_scores:
            return answers
        logliks = self.option_log_likelihoods(items)
        return [replace(a, scores=softmax_scores(s)) for a, s in zip(answers, logliks,
                                                                     strict=True)]

    def option_log_likelihoods(self, items: list[Item], *, loaded: _Loaded | None = None
                               ) -> list[dict[str, float]]:
        """Teacher-forced option log-likelihoods through ``prompt_logprobs``."""
        vllm = _deps.require("vllm", extra="vllm", purpose="the vLLM backend")
        loaded = loaded or self._loaded()
        texts, images = self.prompts(loaded, items)
        tokenizer = getattr(loaded.processor, "tokenizer", loaded.processor)
        requests, spans = [], []
        for text, ims, item in zip(texts, images, items, strict=True):
            labels = [option_label(o) for o in item.options]
            for label, ids in zip(labels, label_token_ids(tokenizer, labels), strict=True):
                requests.append({"prompt": text + label, "multi_modal_data": {"image": ims}})
                spans.append(len(ids))
        params = vllm.SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0)
        outputs = self._llm().generate(requests, params, use_tqdm=False)
        values = []
        for out, n in zip(outputs, spans, strict=True):
            ids = out.prompt_token_ids[-n:]
            steps = out.prompt_logprobs[-n:]
            values.append(float(sum(step[token].logprob for step, token in zip(
                steps, ids, strict=True))))
        result, at = [], 0
        for item in items:
            result.append(dict(zip(item.options, values[at:at + len(item.options)],
                                   strict=True)))
            at += len(item.options)
        return result
