"""MAISI code path with tiny randomly initialised networks of the same MONAI classes (CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesiontrials.render.backends.maisi_geometry import label_bits, plan_snap, restore, snap_labels

TINY = {
    "autoencoder": {"spatial_dims": 3, "in_channels": 1, "out_channels": 1, "latent_channels": 4,
                    "num_channels": [8, 8, 8], "num_res_blocks": [1, 1, 1], "norm_num_groups": 4,
                    "attention_levels": [False, False, False], "num_splits": 1,
                    "save_mem": False},
    "diffusion": {"spatial_dims": 3, "in_channels": 4, "out_channels": 4, "num_channels": [8, 8],
                  "attention_levels": [False, False], "num_head_channels": [0, 8],
                  "num_res_blocks": 1, "norm_num_groups": 4, "use_flash_attention": False,
                  "include_spacing_input": True},
    "controlnet": {"spatial_dims": 3, "in_channels": 4, "num_channels": [8, 8],
                   "attention_levels": [False, False], "num_head_channels": [0, 8],
                   "num_res_blocks": 1, "norm_num_groups": 4, "use_flash_attention": False,
                   "conditioning_embedding_in_channels": 8,
                   "conditioning_embedding_num_channels": [8, 8, 8], "use_checkpointing": False},
}


def test_snap_and_restore_geometry() -> None:
    plan = plan_snap((20, 40, 10), (1.0, 1.0, 2.0), accepted_xy=(16, 32), accepted_z=(16,))
    assert plan.model_shape == (32, 32, 16) and plan.resampled_shape == (20, 32, 10)
    assert plan.model_spacing_mm == (1.0, 1.25, 2.0)
    labels = np.zeros((20, 40, 10), np.uint8)
    labels[5:15, 10:30, 2:8] = 30
    snapped = snap_labels(labels, plan)
    assert snapped.shape == (32, 32, 16) and set(np.unique(snapped)) == {0, 30}
    back = restore(snapped.astype(np.float32), plan)
    assert back.shape == labels.shape
    assert np.mean((back > 15) == (labels > 0)) > 0.95
    bits = label_bits(np.array([[[23]]], np.uint8))
    assert bits[:, 0, 0, 0].tolist() == [1, 1, 1, 0, 1, 0, 0, 0]


@pytest.fixture(scope="module")
def tiny_renderer(tmp_path_factory: pytest.TempPathFactory):
    torch = pytest.importorskip("torch", reason="the maisi extra (torch, monai) is not installed")
    pytest.importorskip("monai", reason="the maisi extra (torch, monai) is not installed")
    from monai.apps.generation.maisi.networks.autoencoderkl_maisi import AutoencoderKlMaisi
    from monai.apps.generation.maisi.networks.controlnet_maisi import ControlNetMaisi
    from monai.apps.generation.maisi.networks.diffusion_model_unet_maisi import (
        DiffusionModelUNetMaisi,
    )

    from lesiontrials.render.backends.maisi import MaisiConfig, MaisiRenderer

    torch.manual_seed(0)
    folder = Path(tmp_path_factory.mktemp("maisi"))
    paths = {}
    for key, cls in (("autoencoder", AutoencoderKlMaisi), ("diffusion", DiffusionModelUNetMaisi),
                     ("controlnet", ControlNetMaisi)):
        paths[key] = folder / f"{key}.pt"
        state = cls(**TINY[key]).state_dict()
        torch.save({"unet_state_dict": state, "scale_factor": 1.0} if key == "diffusion"
                   else state, paths[key])
    config = MaisiConfig(paths["autoencoder"], paths["diffusion"], paths["controlnet"],
                         networks=TINY, num_inference_steps=2, accepted_xy=(16, 32),
                         accepted_z=(16,), device="cpu")
    return MaisiRenderer(config)


def test_maisi_tiny_networks_render_deterministically(tiny_renderer) -> None:
    from lesiontrials.render import Acquisition

    labels = np.zeros((20, 24, 10), np.uint8)
    labels[2:18, 2:22, 1:9] = 200
    labels[4:10, 4:20, 2:8] = 29
    labels[6:8, 8:10, 4:6] = 23
    kwargs = {"labels": labels, "spacing_mm": (1.5, 1.5, 3.0), "lesions": [],
              "acquisition": Acquisition()}
    a = tiny_renderer.render(seed=3, **kwargs)
    b = tiny_renderer.render(seed=3, **kwargs)
    c = tiny_renderer.render(seed=4, **kwargs)
    assert a.hu.shape == labels.shape and a.hu.dtype == np.int16
    assert np.array_equal(a.hu, b.hu) and not np.array_equal(a.hu, c.hu)
    assert a.hu.min() >= -1000 and a.hu.max() <= 1000
    assert a.qc["model_shape"] == [32, 32, 16]


def test_maisi_errors_name_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lesiontrials.errors import ConfigError, MissingPathError
    from lesiontrials.render.backends.maisi import MaisiConfig, load_networks

    monkeypatch.delenv("LESIONTRIALS_MAISI_AUTOENCODER", raising=False)
    with pytest.raises(ConfigError, match="LESIONTRIALS_MAISI_AUTOENCODER"):
        MaisiConfig.from_env()
    pytest.importorskip("torch", reason="the maisi extra is not installed")
    pytest.importorskip("monai", reason="the maisi extra is not installed")
    config = MaisiConfig(tmp_path / "a.pt", tmp_path / "d.pt", tmp_path / "c.pt",
                         networks=TINY, device="cpu")
    with pytest.raises(MissingPathError, match="LESIONTRIALS_MAISI_AUTOENCODER"):
        load_networks(config)
