"""Teacher-forced option scores of a chat VLM: the log-likelihood of each option's answer
text after the item's prompt.

For an item with prompt ``P`` (the chat template up to the assistant turn, images
included) and an option whose label tokenises to ``c_1 … c_m``, the score is

    log L(option) = Σ_k log p(c_k | P, c_1 … c_{k-1})

summed over the label's tokens (no length normalisation: the label is the whole answer a
model is asked to give). Softmax over an item's options gives the option probabilities
that calibration and selective prediction use.

Batching: every (item, option) pair is one sequence ``P + c``; the prompts of a batch are
tokenised by the model's processor (images handled exactly as for generation), the label
tokens appended on the right and right-padded. Right padding leaves every scored position
unchanged under causal attention, so scores do not depend on the batch size. Prompts of
different token lengths (left padding by the processor) are scored one item at a time,
because left padding shifts the positions of models that do not take position ids from
the attention mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def label_token_ids(tokenizer: Any, labels: Sequence[str]) -> list[list[int]]:
    """Token ids of each option label (no special tokens); an empty label is an error."""
    out = []
    for label in labels:
        ids = list(tokenizer(label, add_special_tokens=False)["input_ids"])
        if not ids:
            raise ValueError(f"option label {label!r} has no tokens")
        out.append([int(i) for i in ids])
    return out


def softmax_scores(log_likelihoods: dict[str, float]) -> dict[str, float]:
    """Option probabilities from log-likelihoods (softmax over the item's options)."""
    keys = list(log_likelihoods)
    values = np.array([log_likelihoods[k] for k in keys], dtype=np.float64)
    values = np.exp(values - values.max())
    values /= values.sum()
    return {k: float(v) for k, v in zip(keys, values, strict=True)}


def score_options(model: Any, processor: Any, prompts: Sequence[str],
                  images: Sequence[list[Any]], labels: Sequence[Sequence[str]], *,
                  batch_size: int) -> list[list[float]]:
    """Per item, the summed log-likelihood of each label after its prompt.

    Args:
        model: a loaded transformers image-text-to-text model (eval mode).
        processor: its processor (``text=``, ``images=``, returns input ids and pixels).
        prompts: chat-template text per item, ending with the assistant turn's opening.
        images: PIL images per item, in the order of the prompt's image placeholders.
        labels: option labels per item.
        batch_size: sequences (item × option pairs) per forward pass.
    Returns:
        ``[item][option]`` log-likelihoods (natural log, float64).
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    pairs = [(i, j) for i, item_labels in enumerate(labels) for j in range(len(item_labels))]
    ids = [label_token_ids(tokenizer, item_labels) for item_labels in labels]
    out: list[list[float]] = [[0.0] * len(item_labels) for item_labels in labels]
    for start in range(0, len(pairs), max(1, int(batch_size))):
        batch = pairs[start:start + max(1, int(batch_size))]
        values = _forward(model, processor, tokenizer, prompts, images, ids, batch)
        for (i, j), value in zip(batch, values, strict=True):
            out[i][j] = value
    return out


def _encode(processor: Any, prompts: Sequence[str], images: Sequence[list[Any]],
            pairs: Sequence[tuple[int, int]]) -> dict[str, Any]:
    return dict(processor(text=[prompts[i] for i, _ in pairs],
                          images=[images[i] for i, _ in pairs], return_tensors="pt",
                          padding=True))


def _forward(model: Any, processor: Any, tokenizer: Any, prompts: Sequence[str],
             images: Sequence[list[Any]], ids: list[list[list[int]]],
             pairs: list[tuple[int, int]]) -> list[float]:
    import torch

    inputs = _encode(processor, prompts, images, pairs)
    prompt_ids = inputs["input_ids"]
    n, prompt_len = prompt_ids.shape
    if not bool(inputs["attention_mask"].all()):  # unequal prompts: one item per call
        by_item: dict[int, list[tuple[int, int]]] = {}
        for pair in pairs:
            by_item.setdefault(pair[0], []).append(pair)
        if len(by_item) > 1:
            values = {p: v for group in by_item.values() for p, v in zip(
                group, _forward(model, processor, tokenizer, prompts, images, ids, group),
                strict=True)}
            return [values[p] for p in pairs]
    continuations = [ids[i][j] for i, j in pairs]
    width = max(len(c) for c in continuations)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    extra = torch.full((n, width), int(pad), dtype=prompt_ids.dtype)
    extra_mask = torch.zeros((n, width), dtype=inputs["attention_mask"].dtype)
    for row, cont in enumerate(continuations):
        extra[row, :len(cont)] = torch.tensor(cont, dtype=prompt_ids.dtype)
        extra_mask[row, :len(cont)] = 1
    for key, value in list(inputs.items()):  # per-token side inputs (token types) grow with 0
        if key in ("input_ids", "attention_mask"):
            continue
        if torch.is_tensor(value) and value.dim() == 2 and tuple(value.shape) == (n, prompt_len):
            inputs[key] = torch.cat([value, torch.zeros((n, width), dtype=value.dtype)], 1)
    inputs["input_ids"] = torch.cat([prompt_ids, extra], 1)
    inputs["attention_mask"] = torch.cat([inputs["attention_mask"], extra_mask], 1)
    device, dtype = model.device, model.dtype
    inputs = {k: (v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device))
              if torch.is_tensor(v) else v for k, v in inputs.items()}
    with torch.inference_mode():
        logits = model(**inputs).logits.float()
    # the token at position t is predicted by the logits at t - 1
    logp = torch.log_softmax(logits[:, prompt_len - 1:prompt_len - 1 + width], dim=-1)
    target = inputs["input_ids"][:, prompt_len:prompt_len + width]
    picked = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).double()
    picked = picked * extra_mask.to(picked.device, dtype=picked.dtype)
    return [float(v) for v in picked.sum(1).cpu()]
