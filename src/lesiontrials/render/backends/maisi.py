"""MAISI backend: MONAI's rectified-flow latent diffusion with a label ControlNet.

Needs the ``maisi`` extra (``torch``, ``monai``) and user-supplied checkpoints, read from
environment variables (or passed to :class:`MaisiConfig`):

* ``LESIONTRIALS_MAISI_AUTOENCODER`` — ``AutoencoderKlMaisi`` weights,
* ``LESIONTRIALS_MAISI_DIFFUSION`` — ``DiffusionModelUNetMaisi`` weights (+ ``scale_factor``),
* ``LESIONTRIALS_MAISI_CONTROLNET`` — ``ControlNetMaisi`` weights,
* ``LESIONTRIALS_MAISI_CONFIG`` — optional JSON with the three networks' constructor
  arguments (``autoencoder``, ``diffusion``, ``controlnet``), ``num_inference_steps``,
  ``accepted_xy`` and ``accepted_z``; the defaults below follow the MAISI CT release,
* ``LESIONTRIALS_MAISI_DEVICE`` — ``cuda`` (default) or ``cpu`` (slow; tests only).

The label map is snapped to accepted sizes (:mod:`~lesiontrials.render.backends.maisi_geometry`),
bit-encoded into 8 channels, latents start from seeded Gaussian noise (so one case
always renders the same volume), the ControlNet-guided UNet integrates the rectified flow,
the autoencoder decodes, intensities map back to HU (0…1 → −1000…1000) and the volume is
restored to the host grid. Networks are built once per worker process
(:func:`renderer_from_env` caches them). Lesion descriptors are recorded but cannot steer
MAISI: the lesion comes from label 23.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesiontrials.errors import ConfigError, MissingPathError
from lesiontrials.render.backends.maisi_geometry import (
    ACCEPTED_XY,
    ACCEPTED_Z,
    label_bits,
    plan_snap,
    restore,
    snap_labels,
)
from lesiontrials.render.interface import Acquisition, LesionSpec, RenderResult, to_hu_int16

EXTRA_HINT = "pip install 'lesiontrials[maisi]'"
ENV = {"autoencoder": "LESIONTRIALS_MAISI_AUTOENCODER",
       "diffusion": "LESIONTRIALS_MAISI_DIFFUSION",
       "controlnet": "LESIONTRIALS_MAISI_CONTROLNET"}
DEFAULT_NETWORKS: dict[str, dict[str, Any]] = {
    "autoencoder": {"spatial_dims": 3, "in_channels": 1, "out_channels": 1, "latent_channels": 4,
                    "num_channels": [64, 128, 256], "num_res_blocks": [2, 2, 2],
                    "norm_num_groups": 32, "norm_eps": 1e-6,
                    "attention_levels": [False, False, False],
                    "with_encoder_nonlocal_attn": False, "with_decoder_nonlocal_attn": False,
                    "use_checkpointing": False, "use_convtranspose": False,
                    "num_splits": 8, "dim_split": 1},
    "diffusion": {"spatial_dims": 3, "in_channels": 4, "out_channels": 4,
                  "num_channels": [64, 128, 256, 512],
                  "attention_levels": [False, False, True, True],
                  "num_head_channels": [0, 0, 32, 32], "num_res_blocks": 2,
                  "use_flash_attention": True, "include_top_region_index_input": False,
                  "include_bottom_region_index_input": False, "include_spacing_input": True},
    "controlnet": {"spatial_dims": 3, "in_channels": 4, "num_channels": [64, 128, 256, 512],
                   "attention_levels": [False, False, True, True],
                   "num_head_channels": [0, 0, 32, 32], "num_res_blocks": 2,
                   "use_flash_attention": True, "conditioning_embedding_in_channels": 8,
                   "conditioning_embedding_num_channels": [8, 32, 64]},
}


@dataclass(frozen=True)
class MaisiConfig:
    """Checkpoint paths, network arguments and sampling settings."""

    autoencoder_path: Path
    diffusion_path: Path
    controlnet_path: Path
    networks: dict[str, dict[str, Any]] = field(default_factory=lambda: DEFAULT_NETWORKS)
    num_inference_steps: int = 30
    accepted_xy: tuple[int, ...] = ACCEPTED_XY
    accepted_z: tuple[int, ...] = ACCEPTED_Z
    device: str = "cuda"
    latent_factor: int = 4  # image size / latent size

    @classmethod
    def from_env(cls) -> MaisiConfig:
        paths = {}
        for key, variable in ENV.items():
            value = os.environ.get(variable)
            if not value:
                raise ConfigError(f"the MAISI backend needs {variable} (path to the {key} "
                                  "checkpoint); set it or choose another --backend")
            paths[key] = Path(value)
        extra: dict[str, Any] = {}
        config_file = os.environ.get("LESIONTRIALS_MAISI_CONFIG")
        if config_file:
            extra = json.loads(Path(config_file).read_text(encoding="utf-8"))
        networks = {k: {**DEFAULT_NETWORKS[k], **extra.get(k, {})} for k in DEFAULT_NETWORKS}
        return cls(paths["autoencoder"], paths["diffusion"], paths["controlnet"],
                   networks=networks,
                   num_inference_steps=int(extra.get("num_inference_steps", 30)),
                   accepted_xy=tuple(extra.get("accepted_xy", ACCEPTED_XY)),
                   accepted_z=tuple(extra.get("accepted_z", ACCEPTED_Z)),
                   device=os.environ.get("LESIONTRIALS_MAISI_DEVICE", "cuda"))


def _torch() -> Any:
    try:
        import monai  # noqa: F401
        import torch
    except ImportError as exc:
        raise ConfigError(f"the MAISI backend needs torch and monai; {EXTRA_HINT}") from exc
    return torch


def _state_dict(path: Path, key: str, torch: Any) -> tuple[dict[str, Any], float | None]:
    if not path.is_file():
        raise MissingPathError("MAISI checkpoint not found", path=path,
                               fix=f"point {ENV[key]} at the {key} weights file")
    loaded = torch.load(path, map_location="cpu", weights_only=False)
    scale = loaded.get("scale_factor") if isinstance(loaded, dict) else None
    for name in (f"{'unet' if key == 'diffusion' else key}_state_dict", "state_dict"):
        if isinstance(loaded, dict) and name in loaded:
            loaded = loaded[name]
            break
    return loaded, (float(scale) if scale is not None else None)


@dataclass
class MaisiNetworks:
    """The three networks in eval mode on one device, and the latent scale factor."""

    autoencoder: Any
    unet: Any
    controlnet: Any
    scale_factor: float
    device: Any


def load_networks(config: MaisiConfig) -> MaisiNetworks:
    """Build the MONAI classes from ``config`` and load the user's weights."""
    torch = _torch()
    from monai.apps.generation.maisi.networks.autoencoderkl_maisi import AutoencoderKlMaisi
    from monai.apps.generation.maisi.networks.controlnet_maisi import ControlNetMaisi
    from monai.apps.generation.maisi.networks.diffusion_model_unet_maisi import (
        DiffusionModelUNetMaisi,
    )

    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("the MAISI backend needs a CUDA GPU and none is available; set "
                          "LESIONTRIALS_MAISI_DEVICE=cpu to run (very slowly) on the CPU")
    device = torch.device(config.device)
    classes = {"autoencoder": AutoencoderKlMaisi, "diffusion": DiffusionModelUNetMaisi,
               "controlnet": ControlNetMaisi}
    paths = {"autoencoder": config.autoencoder_path, "diffusion": config.diffusion_path,
             "controlnet": config.controlnet_path}
    nets, scale = {}, 1.0
    for key, cls in classes.items():
        net = cls(**config.networks[key])
        weights, found_scale = _state_dict(paths[key], key, torch)
        net.load_state_dict(weights)
        nets[key] = net.to(device).eval()
        if key == "diffusion" and found_scale is not None:
            scale = found_scale
    return MaisiNetworks(nets["autoencoder"], nets["diffusion"], nets["controlnet"], scale,
                         device)


def sample_latents(nets: MaisiNetworks, condition: np.ndarray, *, latent_shape: tuple[int, ...],
                   spacing_mm: tuple[float, float, float], steps: int, seed: int) -> Any:
    """Integrate the rectified flow from seeded noise, guided by the label ControlNet."""
    torch = _torch()
    from monai.networks.schedulers import RFlowScheduler

    generator = torch.Generator(device="cpu").manual_seed(int(seed) % (2**63))
    channels = int(nets.unet.out_channels) if hasattr(nets.unet, "out_channels") else 4
    latents = torch.randn((1, channels, *latent_shape), generator=generator).to(nets.device)
    scheduler = RFlowScheduler(num_train_timesteps=1000, use_discrete_timesteps=False,
                               use_timestep_transform=True, sample_method="uniform",
                               base_img_size_numel=int(np.prod(latent_shape)), spatial_dim=3)
    scheduler.set_timesteps(num_inference_steps=steps,
                            input_img_size_numel=int(np.prod(latent_shape)))
    cond = torch.from_numpy(condition[None]).to(nets.device)
    spacing = torch.tensor([list(spacing_mm)], dtype=torch.float32, device=nets.device) * 1e2
    timesteps = list(scheduler.timesteps)
    with torch.no_grad():
        for t, next_t in zip(timesteps, [*timesteps[1:], 0], strict=True):
            step = torch.as_tensor([float(t)], device=nets.device)
            down, mid = nets.controlnet(x=latents, timesteps=step, controlnet_cond=cond)
            kwargs = {"spacing_tensor": spacing} if getattr(
                nets.unet, "include_spacing_input", False) else {}
            velocity = nets.unet(x=latents, timesteps=step, down_block_additional_residuals=down,
                                 mid_block_additional_residual=mid, **kwargs)
            latents, _ = scheduler.step(velocity, t, latents, next_t)
    return latents


class MaisiRenderer:
    """The MAISI backend; build once per worker (networks stay loaded)."""

    name = "maisi"

    def __init__(self, config: MaisiConfig, networks: MaisiNetworks | None = None) -> None:
        self.config = config
        self.networks = networks or load_networks(config)

    def render(self, *, labels: np.ndarray, spacing_mm: tuple[float, float, float],
               lesions: Sequence[LesionSpec], acquisition: Acquisition,
               seed: int) -> RenderResult:
        start = time.perf_counter()
        torch = _torch()
        plan = plan_snap(labels.shape, spacing_mm, accepted_xy=self.config.accepted_xy,
                         accepted_z=self.config.accepted_z)
        model_labels = snap_labels(labels, plan)
        latent_shape = tuple(n // self.config.latent_factor for n in plan.model_shape)
        latents = sample_latents(self.networks, label_bits(model_labels),
                                 latent_shape=latent_shape, spacing_mm=plan.model_spacing_mm,
                                 steps=self.config.num_inference_steps, seed=seed)
        with torch.no_grad():
            image = self.networks.autoencoder.decode_stage_2_outputs(
                latents / self.networks.scale_factor)
        unit = np.clip(image[0, 0].float().cpu().numpy(), 0.0, 1.0)
        hu = restore(unit * 2000.0 - 1000.0, plan)
        qc = {"model_shape": list(plan.model_shape), "model_spacing_mm":
              [round(s, 4) for s in plan.model_spacing_mm],
              "num_inference_steps": self.config.num_inference_steps,
              "device": str(self.networks.device),
              "note": "lesion appearance comes from label 23; descriptors are recorded only",
              "lesions": [], "seconds": round(time.perf_counter() - start, 3)}
        return RenderResult(hu=to_hu_int16(hu), qc=qc)


@functools.lru_cache(maxsize=1)
def renderer_from_env() -> MaisiRenderer:
    """One MAISI renderer per worker process, configured from the environment."""
    return MaisiRenderer(MaisiConfig.from_env())
