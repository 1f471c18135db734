"""Teacher-forced option scores of chat VLMs, checked against a hand computation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tiny_models
from tiny_models import INSTALL_CLIP, INSTALL_VLM, import_or_skip, make_items

from lesiontrials.scoring.models.chat import ChatVLM, load_chat_model
from lesiontrials.scoring.models.messages import option_label
from lesiontrials.scoring.models.option_scores import softmax_scores


@pytest.fixture(scope="module", params=("llava", "gemma3", "qwen2_5_vl", "internvl"))
def tiny_vlm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import_or_skip("torch", INSTALL_VLM)
    import_or_skip("transformers", INSTALL_VLM)
    if request.param == "qwen2_5_vl":
        import_or_skip("torchvision", INSTALL_CLIP)
    directory = tmp_path_factory.mktemp(f"{request.param}-scores")
    getattr(tiny_models, f"build_{request.param}")(directory)
    return directory


def _by_hand(model: ChatVLM, item, option: str) -> float:
    """log p(label | prompt) from one unbatched, unpadded forward pass over prompt + label."""
    import torch

    loaded = load_chat_model(model.model_dir, device="cpu", dtype="float32", device_map=None)
    texts, images = model.prompts(loaded, [item])
    inputs = loaded.processor(text=texts, images=images, return_tensors="pt")
    label = loaded.processor.tokenizer(option_label(option), add_special_tokens=False)
    label_ids = torch.tensor([label["input_ids"]])
    n_prompt = inputs["input_ids"].shape[1]
    inputs["input_ids"] = torch.cat([inputs["input_ids"], label_ids], 1)
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    for key in ("token_type_ids", "mm_token_type_ids"):
        if key in inputs:
            inputs[key] = torch.cat([inputs[key], torch.zeros_like(label_ids)], 1)
    with torch.inference_mode():
        logits = loaded.model(**inputs).logits[0].double()
    total = 0.0
    for k, token in enumerate(label["input_ids"]):
        row = logits[n_prompt - 1 + k]
        total += float(row[token] - torch.logsumexp(row, 0))
    return total


@pytest.mark.slow
def test_log_likelihoods_equal_a_hand_computation(tiny_vlm: Path) -> None:
    items = make_items(6)
    batched = ChatVLM(model_path=tiny_vlm, device="cpu", batch_size=4, max_new_tokens=2)
    single = ChatVLM(model_path=tiny_vlm, device="cpu", batch_size=1, max_new_tokens=2)
    scores = batched.option_log_likelihoods(items)
    for a, b in zip(scores, single.option_log_likelihoods(items), strict=True):
        assert a == pytest.approx(b, abs=1e-4)  # batching and padding change nothing
    for item, per_option in zip(items[:3], scores[:3], strict=True):
        assert list(per_option) == list(item.options)
        for option in item.options:
            assert per_option[option] == pytest.approx(_by_hand(single, item, option),
                                                       abs=1e-4)
            assert per_option[option] < 0


def test_answers_carry_option_probabilities(tiny_vlm: Path) -> None:
    items = make_items(3)
    model = ChatVLM(model_path=tiny_vlm, device="cpu", batch_size=3, max_new_tokens=2)
    answers = model.answer(items)
    logliks = model.option_log_likelihoods(items)
    for item, answer, loglik in zip(items, answers, logliks, strict=True):
        assert answer.scores is not None and set(answer.scores) == set(item.options)
        assert math.isclose(sum(answer.scores.values()), 1.0, abs_tol=1e-9)
        assert answer.scores == pytest.approx(softmax_scores(loglik))
    off = ChatVLM(model_path=tiny_vlm, device="cpu", max_new_tokens=2, option_scores=False)
    assert all(a.scores is None for a in off.answer(items))
    assert off.version != model.version  # scored and unscored runs are kept apart


def test_softmax_scores_by_hand() -> None:
    probs = softmax_scores({"present": math.log(3.0), "absent": math.log(1.0)})
    assert probs == pytest.approx({"present": 0.75, "absent": 0.25})
    assert np.isfinite(list(softmax_scores({"a": -1e4, "b": -1e4 - 1}).values())).all()
