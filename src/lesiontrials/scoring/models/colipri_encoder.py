"""COLIPRI (Microsoft's 3-D CT vision-language model) through the ``colipri`` package.

The package's own classes build the network (a Primus/EVA 3-D ViT image encoder with
8 × 8 × 8 patches, a 1×1×1 projection and attention pooling; a CXR-BERT text encoder with
attention pooling) and its own processor prepares the CT (torchio: reorient to RAS by the
affine, resample to 2 mm isotropic (linear), clamp HU to −1000…1000 and rescale to −1…1,
crop or pad to 192³ with the minimum value). Nothing is downloaded: the package's default
config names Hugging Face hub ids for the text model and tokenizer, and this module points
both at the local folder instead and loads the COLIPRI weights from a local
``model.safetensors`` with every key checked.

Folder layout (``colipri: FOLDER`` in a models YAML):

- ``model.safetensors`` — the COLIPRI state dict (``options.checkpoint`` to rename);
- ``text_encoder/`` — a local copy of ``microsoft/BiomedVLP-CXR-BERT-specialized``
  (``config.json``, its modelling ``.py`` files, ``tokenizer_config.json``, ``vocab.txt``);
  the config loads with ``trust_remote_code``, i.e. runs the Python files of that folder;
- ``overrides.json`` (optional) — ``{"dotted.config.key": value}`` applied to the
  package's config (``input_size``, ``spacing``, ``model.image_encoder.backbone.…``), for
  networks other than the released one.

Similarities: cosine of the pooled, projected, normalised embeddings; the softmax divides
them by the model's ``softmax_temperature`` (the package's ``classify``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io.volumes import Volume
from lesiontrials.scoring.models.volume_vlm import VolumeVLM

COLIPRI_CHECKPOINT: Final = "model.safetensors"
TEXT_DIR: Final = "text_encoder"
OVERRIDES_JSON: Final = "overrides.json"
TEXT_FILES: Final = ("config.json", "tokenizer_config.json", "vocab.txt")


@dataclass
class ColipriEncoder:
    """The package's model and processor (module docstring)."""

    model: Any
    processor: Any
    transform_config: dict[str, Any]
    device: str = "cpu"

    @property
    def logit_scale(self) -> float:
        return 1.0 / float(self.model.softmax_temperature.detach().float().item())

    @property
    def settings(self) -> dict[str, Any]:
        return {"architecture": "colipri", "transform": self.transform_config}

    def encode_volume(self, volume: Volume) -> np.ndarray:
        import torch
        import torchio as tio

        image = tio.ScalarImage(
            tensor=torch.from_numpy(np.asarray(volume.array, dtype=np.float32))[None],
            affine=np.asarray(volume.affine, dtype=np.float64))
        batch = self.processor.to_images_batch(self.processor.process_images(image))
        with torch.inference_mode():
            out = self.model.encode_image(batch.to(self.device), pool=True, project=True,
                                          normalize=True)
        return np.asarray(out.float().cpu().numpy()[0], dtype=np.float64)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        ids, mask = self.processor.process_text(texts)
        with torch.inference_mode():
            out = self.model.encode_text(ids.to(self.device), mask.to(self.device),
                                         pool=True, normalize=True)
        return np.asarray(out.float().cpu().numpy(), dtype=np.float64)


def _check_folder(folder: Path, *, checkpoint: str, name: str) -> None:
    expected = [checkpoint, *(f"{TEXT_DIR}/{f}" for f in TEXT_FILES)]
    missing = [p for p in expected if not (folder / p).is_file()]
    if missing:
        raise MissingPathError(
            f"volume model {name!r}: the COLIPRI folder lacks {missing}", path=folder,
            fix=f"put the COLIPRI weights there as {checkpoint} (or set options.checkpoint) "
                "and a local copy of microsoft/BiomedVLP-CXR-BERT-specialized (config, "
                f"modelling files, tokenizer) in {TEXT_DIR}/; expected: {expected}")


def _overrides(folder: Path) -> list[str]:
    """Dot-list overrides: the local text model and tokenizer, then ``overrides.json``."""
    text = str(folder / TEXT_DIR)
    pairs: dict[str, Any] = {
        "model.text_encoder.backbone.pretrained_model_name_or_path": text,
        "model.text_encoder.backbone.revision": None,
        "processor.tokenizer.pretrained_model_name_or_path": text,
        "processor.tokenizer.revision": None}
    path = folder / OVERRIDES_JSON
    if path.is_file():
        extra = json.loads(path.read_text())
        if not isinstance(extra, dict):
            raise InputError("overrides must be a JSON object of dotted keys", path=path,
                             fix='write e.g. {"input_size": 192}')
        pairs.update(extra)
    return [f"{k}={'null' if v is None else json.dumps(v) if isinstance(v, list) else v}"
            for k, v in pairs.items()]


def load_colipri(folder: Path, *, name: str, options: dict[str, Any] | None = None
                 ) -> VolumeVLM:
    """A COLIPRI :class:`~.volume_vlm.VolumeVLM` from ``folder`` (module docstring).
    Options: ``checkpoint``, ``device``."""
    from lesiontrials.io import sha256_file

    options = dict(options or {})
    unknown = sorted(set(options) - {"checkpoint", "device"})
    if unknown:
        raise InputError(f"volume model {name!r}: unknown option(s) {unknown}",
                         fix="use checkpoint, device")
    try:
        import torch
        from colipri import get_model, get_processor
        from colipri.checkpoint import load_model_config, load_processor_config
        from omegaconf import OmegaConf
    except ImportError as exc:
        raise InputError(f"volume model {name!r} needs the colipri package ({exc})",
                         fix="pip install 'lesiontrials[colipri]'") from exc
    checkpoint = str(options.get("checkpoint", COLIPRI_CHECKPOINT))
    device = str(options.get("device", "cuda" if torch.cuda.is_available() else "cpu"))
    folder = Path(folder).expanduser()
    _check_folder(folder, checkpoint=checkpoint, name=name)
    overrides = _overrides(folder)
    model = get_model(config=load_model_config(overrides=overrides), pretrained=False)
    _load_safetensors(model, folder / checkpoint, name=name)
    processor_config = load_processor_config(overrides=overrides)
    processor = get_processor(config=processor_config)
    transform: Any = OmegaConf.to_container(processor_config.image_transform, resolve=True)
    encoder = ColipriEncoder(model.to(device).eval(), processor, transform, device)
    return VolumeVLM(name=name, encoder=encoder, weights_sha256=sha256_file(folder / checkpoint))


def _load_safetensors(model: Any, path: Path, *, name: str) -> None:
    """Every key of the network from the file, and nothing else."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:  # a truncated or foreign file: name it
        raise InputError(f"volume model {name!r}: cannot read the checkpoint ({exc})",
                         path=path, fix="give COLIPRI's model.safetensors") from exc
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise InputError(f"volume model {name!r}: checkpoint tensor shapes do not match the "
                         f"COLIPRI network ({str(exc)[:300]})", path=path,
                         fix="use COLIPRI's weights, or an overrides.json matching them") from exc
    if result.missing_keys or result.unexpected_keys:
        raise InputError(
            f"volume model {name!r}: checkpoint keys do not match the COLIPRI network "
            f"(missing {len(result.missing_keys)}, e.g. {result.missing_keys[:3]}; "
            f"unexpected {len(result.unexpected_keys)}, e.g. {result.unexpected_keys[:3]})",
            path=path, fix="use COLIPRI's weights, or an overrides.json matching them")
