"""The slice CNN: four conv blocks, global average pooling, three heads.

Input (B, 1, S, S) float32 in [0, 1]; outputs logits for presence (B,) (>0 → present),
size bin (B, 4) and lobe (B, 5), in the option order of
:data:`~lesiontrials.slicing.contract.TASK_OPTIONS`. Plain convolutions, batch norm and
ReLU, no dropout, so a forward pass is deterministic given the weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from itertools import pairwise

import torch
from torch import nn

from lesiontrials.training.data import LOBE_OPTIONS, SIZE_OPTIONS


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2))


class SliceCNN(nn.Module):
    """``width`` channels in the first block, doubling per block (4 blocks)."""

    def __init__(self, *, width: int = 16) -> None:
        super().__init__()
        channels = [1, width, 2 * width, 4 * width, 4 * width]
        self.features = nn.Sequential(*(_block(a, b) for a, b in pairwise(channels)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.presence = nn.Linear(channels[-1], 1)
        self.size = nn.Linear(channels[-1], len(SIZE_OPTIONS))
        self.lobe = nn.Linear(channels[-1], len(LOBE_OPTIONS))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 1, S, S) → presence (B,), size (B, 4), lobe (B, 5) logits."""
        feats = self.pool(self.features(images)).flatten(1)
        return self.presence(feats).squeeze(1), self.size(feats), self.lobe(feats)


@contextlib.contextmanager
def deterministic_torch() -> Iterator[None]:
    """Deterministic algorithms on one thread for the block; the previous settings after."""
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)
