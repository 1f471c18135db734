"""Seeds derived from names, never from order: (global seed, uid, stage) → generator.

Every random draw of a case is made from ``rng_for(seed, uid, stage)``, so results do not
depend on worker count, execution order or which other cases run.
"""

from __future__ import annotations

import hashlib

import numpy as np


def seed_words(global_seed: int, *keys: str | int) -> list[int]:
    """32-bit words of SHA-256 over the seed and keys (stable across runs and platforms)."""
    text = "\x1f".join([str(int(global_seed)), *(str(k) for k in keys)])
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


def rng_for(global_seed: int, *keys: str | int) -> np.random.Generator:
    """A generator seeded by the global seed and any number of keys (uid, stage, …)."""
    return np.random.default_rng(np.random.SeedSequence(seed_words(global_seed, *keys)))


def int_seed(global_seed: int, *keys: str | int) -> int:
    """A non-negative 63-bit integer seed (for libraries that take an int)."""
    words = seed_words(global_seed, *keys)
    return ((words[0] << 32) | words[1]) & ((1 << 63) - 1)
