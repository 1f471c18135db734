"""The 3-D patch CNN: three conv blocks, global average pooling, one presence logit.

Input (B, 1, P, P, P) float32 in [0, 1] (P ≥ 8, a patch of :mod:`.patches`); output (B,)
logits, > 0 → a nodule is centred in the patch. Plain 3-D convolutions, batch norm and
ReLU, no dropout, so a forward pass is deterministic given the weights.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm3d(c_out), nn.ReLU(inplace=True), nn.MaxPool3d(2))


class PatchCNN3D(nn.Module):
    """``width`` channels in the first block, doubling per block (3 blocks)."""

    def __init__(self, *, width: int = 8) -> None:
        super().__init__()
        channels = [1, width, 2 * width, 4 * width]
        self.features = nn.Sequential(*(_block(a, b) for a, b in pairwise(channels)))
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.presence = nn.Linear(channels[-1], 1)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """(B, 1, P, P, P) → presence logits (B,)."""
        return self.presence(self.pool(self.features(patches)).flatten(1)).squeeze(1)
