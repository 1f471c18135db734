"""MONAI's lung-nodule detection bundle (3-D RetinaNet, LUNA16-trained) as a volume detector.

Built with MONAI's detection classes exactly as the bundle's inference config builds them:
a ResNet backbone (``conv1_t_stride`` (2, 2, 1)) → FPN feature extractor (returned layers
1, 2) → ``RetinaNet`` (1 class, 3 anchors) → ``RetinaNetDetector`` with an
``AnchorGeneratorWithAnchorShape`` (feature-map scales 1, 2, 4; anchor shapes
(6, 8, 4), (8, 6, 5), (10, 10, 6)), box selection (score ≥ 0.02, top 1000, NMS 0.22, 300
per image) and sliding-window inference. Preprocessing per the bundle: resample to
0.703125 × 0.703125 × 1.25 mm (linear), RAS (the volume already is), HU −1024…300 → 0…1
clipped. Boxes come back in the resampled grid's voxel coordinates and are mapped to RAS
world mm through that grid's affine (centre of the box).

Weights are the user's: ``{bundle_dir}/models/model.pt`` (the network's state dict, as the
bundle ships it). Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from lesiontrials.errors import InputError
from lesiontrials.io.volumes import Volume

BUNDLE_SPACING_MM = (0.703125, 0.703125, 1.25)
HU_RANGE = (-1024.0, 300.0)
ANCHOR_SHAPES = ((6, 8, 4), (8, 6, 5), (10, 10, 6))


@dataclass(frozen=True)
class RetinaNetConfig:
    """Architecture and inference settings (defaults: the LUNA16 bundle's)."""

    block: str = "bottleneck"
    layers: tuple[int, ...] = (3, 4, 6, 3)  # ResNet-50
    block_inplanes: tuple[int, ...] = (64, 128, 256, 512)
    size_divisible: tuple[int, int, int] = (16, 16, 8)
    roi_size: tuple[int, int, int] = (512, 512, 192)
    spacing_mm: tuple[float, float, float] = BUNDLE_SPACING_MM
    score_threshold: float = 0.02
    extra: dict[str, Any] = field(default_factory=dict)


def build_detector(config: RetinaNetConfig) -> Any:
    """The bundle's network and detector, from MONAI's classes (random weights)."""
    from monai.apps.detection.networks.retinanet_detector import RetinaNetDetector
    from monai.apps.detection.networks.retinanet_network import (
        RetinaNet,
        resnet_fpn_feature_extractor,
    )
    from monai.apps.detection.utils.anchor_utils import AnchorGeneratorWithAnchorShape
    from monai.networks.nets.resnet import ResNet

    stride: Any = (2, 2, 1)  # MONAI annotates a 1-tuple; the bundle passes one per axis
    kernel: Any = (7, 7, 7)
    backbone = ResNet(block=config.block, layers=list(config.layers),
                      block_inplanes=list(config.block_inplanes), spatial_dims=3,
                      n_input_channels=1, conv1_t_stride=stride, conv1_t_size=kernel)
    features = resnet_fpn_feature_extractor(backbone, 3, pretrained_backbone=False,
                                            returned_layers=[1, 2],
                                            trainable_backbone_layers=None)
    network = RetinaNet(spatial_dims=3, num_classes=1, num_anchors=len(ANCHOR_SHAPES),
                        feature_extractor=features, size_divisible=config.size_divisible)
    anchors = AnchorGeneratorWithAnchorShape(feature_map_scales=[1, 2, 4],
                                             base_anchor_shapes=[list(a) for a in ANCHOR_SHAPES])
    detector = RetinaNetDetector(network=network, anchor_generator=anchors, spatial_dims=3,
                                 num_classes=1, size_divisible=config.size_divisible)
    detector.set_target_keys(box_key="box", label_key="label")
    detector.set_box_selector_parameters(score_thresh=config.score_threshold,
                                         topk_candidates_per_level=1000, nms_thresh=0.22,
                                         detections_per_img=300)
    detector.set_sliding_window_inferer(roi_size=list(config.roi_size), overlap=0.25,
                                        sw_batch_size=1, mode="constant")
    return detector


def resample(volume: Volume, spacing_mm: tuple[float, float, float]) -> Volume:
    """Linear resampling to ``spacing_mm`` (end voxel centres kept, so the affine is exact)."""
    shape_in = np.array(volume.shape)
    extent = (shape_in - 1) * np.array(volume.spacing_mm)
    shape_out = np.maximum(np.rint(extent / np.array(spacing_mm)).astype(int) + 1, 2)
    array = ndimage.zoom(volume.array.astype(np.float32), shape_out / shape_in, order=1,
                         grid_mode=False)
    step = (shape_in - 1) / (array.shape - np.ones(3))
    return Volume(array, volume.affine @ np.diag([*step, 1.0]))


def boxes_to_world(boxes: np.ndarray, grid: Volume) -> np.ndarray:
    """Boxes ``(n, 6)`` x1 y1 z1 x2 y2 z2 in ``grid`` voxels → centres ``(n, 3)`` RAS mm."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 6)
    return grid.voxel_to_world((boxes[:, :3] + boxes[:, 3:]) / 2)


class MonaiLungNoduleDetector:
    """The bundle as a :class:`~lesiontrials.scoring.volume_contract.VolumeDetector`."""

    def __init__(self, bundle_dir: str | Path, *, config: RetinaNetConfig | None = None,
                 name: str = "monai_retinanet", version: str = "bundle") -> None:
        import torch

        self.name, self.version = name, version
        self.config = config or RetinaNetConfig()
        weights = Path(bundle_dir) / "models" / "model.pt"
        if not weights.is_file():
            raise InputError("MONAI lung-nodule detection bundle: weights not found",
                             path=weights, fix="unpack the bundle (lung_nodule_ct_detection) "
                             "there: models/model.pt holds the network's state dict")
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.detector = build_detector(self.config)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        try:
            self.detector.network.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError(f"{weights} does not fit the bundle's RetinaNet ({exc})"[:400],
                             path=weights, fix="use the bundle's models/model.pt") from exc
        self.detector.to(self.device).eval()

    def detect(self, volume: Volume) -> pd.DataFrame:
        import torch

        grid = resample(volume, self.config.spacing_mm)
        low, high = HU_RANGE
        image = np.clip((grid.array - low) / (high - low), 0.0, 1.0).astype(np.float32)
        tensor = torch.from_numpy(image)[None].to(self.device)  # (1, X, Y, Z) channel-first
        use_inferer = any(n > r for n, r in zip(image.shape, self.config.roi_size,
                                                 strict=True))
        with torch.inference_mode():
            out = self.detector([tensor], use_inferer=use_inferer)[0]
        boxes = out["box"].detach().cpu().numpy()
        scores = out["label_scores"].detach().cpu().numpy().astype(float)
        centres = boxes_to_world(boxes, grid)
        sizes = (boxes[:, 3:] - boxes[:, :3]) * np.array(grid.spacing_mm) if len(boxes) else \
            np.zeros((0, 3))
        return pd.DataFrame({"x_mm": centres[:, 0], "y_mm": centres[:, 1],
                             "z_mm": centres[:, 2], "probability": np.clip(scores, 0, 1),
                             "box_dx_mm": np.abs(sizes[:, 0]), "box_dy_mm": np.abs(sizes[:, 1]),
                             "box_dz_mm": np.abs(sizes[:, 2])})
