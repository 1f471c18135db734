"""Merlin-shaped 3-D CT vision-language network, built in code from MONAI and transformers.

Merlin (Blankemeier et al., 2024) pairs an I3-ResNet-152 image encoder (a 2-D ResNet-152 with
every convolution inflated to 3-D) with a Clinical-Longformer text encoder, trained
CLIP-style on CT volumes and their reports. The ``merlin-vlm`` package builds the same
network but downloads ImageNet and Hugging Face weights when its classes are constructed,
so it cannot run from local files only; this module builds the network from MONAI's
:class:`~monai.networks.nets.ResNet` and a transformers model made from a local
``config.json``, with the parameter names of Merlin's released state dict
(``encode_image.i3_resnet.*``, ``encode_text.text_encoder.*``,
``encode_text.linear_layer.*``, ``logit_scale``), so that checkpoint loads with
``strict=True``.

Image path: input ``(B, 1, X, Y, Z)`` (RAS, HU scaled to 0…1) → axes to ``(Z, X, Y)``
(the inflated "time" axis is the cranio-caudal one) → the channel repeated 3× (ResNet
stem) → conv (3, 7, 7) stride (1, 2, 2) → max-pool 3³ stride 2 → bottleneck layers
[3, 8, 36, 3] → global average pool → ``contrastive_head`` (1×1×1 conv, 2048 → 512) = the
image embedding. ``classifier`` (2048 → 1692 phenotypes) is kept so the state dict matches.
Text path: lower-cased text split into word/punctuation tokens (as Merlin's training
did) → tokenizer → encoder → first token's hidden state → ``linear_layer`` (768 → 512).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from monai.networks.nets.resnet import ResNet
from torch import nn

#: the published Merlin image encoder: ResNet-152 bottleneck layout, 1692 phenotype logits
MERLIN_LAYERS = (3, 8, 36, 3)
MERLIN_WIDTHS = (64, 128, 256, 512)
MERLIN_PHENOTYPES = 1692
MERLIN_EMBED_DIM = 512
#: word and punctuation runs, the rule Merlin's reports were normalised with
_WORD_PUNCT = re.compile(r"\w+|[^\w\s]+")


@dataclass(frozen=True)
class MerlinShape:
    """Architecture sizes (defaults: the released Merlin). Tests build tiny ones."""

    layers: tuple[int, int, int, int] = MERLIN_LAYERS
    widths: tuple[int, int, int, int] = MERLIN_WIDTHS
    n_phenotypes: int = MERLIN_PHENOTYPES
    embed_dim: int = MERLIN_EMBED_DIM

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> MerlinShape:
        """From a ``network.json`` record (unknown keys are an error for the caller)."""
        return cls(layers=tuple(int(v) for v in record.get("layers", MERLIN_LAYERS)),  # type: ignore[arg-type]
                   widths=tuple(int(v) for v in record.get("widths", MERLIN_WIDTHS)),  # type: ignore[arg-type]
                   n_phenotypes=int(record.get("n_phenotypes", MERLIN_PHENOTYPES)),
                   embed_dim=int(record.get("embed_dim", MERLIN_EMBED_DIM)))


class InflatedResNet(ResNet):
    """MONAI's 3-D bottleneck ResNet laid out as Merlin's I3-ResNet (module docstring)."""

    def __init__(self, shape: MerlinShape) -> None:
        kernel: Any = (3, 7, 7)  # MONAI annotates a 1-tuple; one value per axis is accepted
        stride: Any = (1, 2, 2)
        super().__init__(block="bottleneck", layers=list(shape.layers),
                         block_inplanes=list(shape.widths), spatial_dims=3,
                         n_input_channels=3, conv1_t_size=kernel, conv1_t_stride=stride,
                         feed_forward=False, bias_downsample=False)
        features = shape.widths[-1] * 4  # bottleneck expansion
        self.classifier = nn.Conv3d(features, shape.n_phenotypes, kernel_size=1, bias=True)
        self.contrastive_head = nn.Conv3d(features, shape.embed_dim, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, X, Y, Z)`` → image embedding ``(B, embed_dim)`` (not normalised)."""
        x = x.permute(0, 1, 4, 2, 3)
        x = torch.cat((x, x, x), dim=1)
        x = self.maxpool(self.act(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        pooled = self.avgpool(x)
        return self.contrastive_head(pooled).flatten(1)


class MerlinImageEncoder(nn.Module):
    def __init__(self, shape: MerlinShape) -> None:
        super().__init__()
        self.i3_resnet = InflatedResNet(shape)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.i3_resnet(image)


def normalise_report_text(text: str) -> str:
    """Lower case, words and punctuation runs separated by single spaces."""
    return " ".join(_WORD_PUNCT.findall(text.lower()))


class MerlinTextEncoder(nn.Module):
    """A transformers encoder (any architecture its ``config.json`` names; Merlin's is
    Longformer) + a linear map of the first token's state to the joint space."""

    def __init__(self, text_dir: Path, *, embed_dim: int, max_length: int = 1024) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        config = AutoConfig.from_pretrained(str(text_dir), local_files_only=True)
        self.tokenizer = AutoTokenizer.from_pretrained(str(text_dir), local_files_only=True)
        self.text_encoder = AutoModel.from_config(config)
        self.linear_layer = nn.Linear(int(config.hidden_size), embed_dim)
        self.max_length = max_length

    def forward(self, texts: list[str]) -> torch.Tensor:
        inputs = self.tokenizer([normalise_report_text(t) for t in texts],
                                return_tensors="pt", padding=True, truncation=True,
                                max_length=self.max_length)
        device = self.linear_layer.weight.device
        inputs = {k: v.to(device) for k, v in inputs.items()}
        hidden = self.text_encoder(**inputs).last_hidden_state[:, 0, :]
        return self.linear_layer(hidden)


class MerlinNetwork(nn.Module):
    """Image and text towers with Merlin's parameter names (module docstring)."""

    def __init__(self, shape: MerlinShape, *, text_dir: Path) -> None:
        super().__init__()
        self.encode_image = MerlinImageEncoder(shape)
        self.encode_text = MerlinTextEncoder(text_dir, embed_dim=shape.embed_dim)
        self.logit_scale = nn.Parameter(torch.ones([]))
