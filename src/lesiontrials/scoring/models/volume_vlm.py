"""3-D CT vision-language encoders on the volume track: zero-shot questions and embeddings.

A :class:`VolumeVLM` wraps a :class:`VisionLanguageEncoder` — an image tower and a text
tower trained CLIP-style, each behind its own preprocessing: :class:`MerlinEncoder`
(Merlin's shape, :mod:`.merlin_network`, loaded by :func:`load_merlin`) or
:class:`~.colipri_encoder.ColipriEncoder` (the ``colipri`` package). It sees one CT at a
time (a :class:`~lesiontrials.io.volumes.Volume`, never truth or labels) and gives

- ``embed(volume)`` → the L2-normalised image embedding ``(embed_dim,)`` float32;
- ``zero_shot(volume, task)`` → the option whose sentence is most similar (cosine) to the
  image, and a softmax over the options (similarity × the encoder's ``logit_scale``; the
  chosen option does not depend on the scale).

Tasks and sentences (:data:`VOLUME_PROMPTS`) are fixed per task: every scan of a task is
asked with the same option texts, and each option's text differs from the others only in
the finding it names (a shared report-style sentence frame), so nothing in the wording
favours one answer. Merlin's preprocessing (:class:`Preprocess`, defaults = Merlin's
published pipeline): reorient to RAS by the affine (an LPS array and an RAS array of the
same scan give the same input), resample to 1.5 × 1.5 × 3 mm (linear), HU −1000…1000 →
0…1 clipped, zero-pad (0 = −1000 HU) then centre-crop to 224 × 224 × 160 voxels; MONAI's
transforms do each step.

Weights come from a local folder only; a missing file is an error naming every file
expected.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

from lesiontrials.anatomy import TASK_SIZE_BINS
from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io.volumes import Volume
from lesiontrials.slicing.contract import TASK_OPTIONS
from lesiontrials.slicing.tasks import OPTION_TEXT

#: the released Merlin contrastive checkpoint's file name (image + text towers)
MERLIN_CHECKPOINT: Final = "i3_resnet_clinical_longformer_best_clip_04-02-2024_23-21-36_epoch_99.pt"
TEXT_DIR: Final = "text_encoder"
NETWORK_JSON: Final = "network.json"
#: one of these makes a tokenizer (Clinical-Longformer ships vocab.json + merges.txt);
#: tokenizer_config.json is read when present
TOKENIZER_FILES: Final = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model")

#: one sentence frame per task; options fill the slot (a report's findings style)
_SIZE_TEXT: Final = {"<5": "smaller than 5 mm", "5-10": "measuring 5 to 10 mm",
                     "10-20": "measuring 10 to 20 mm", ">=20": "measuring 20 mm or more"}
VOLUME_PROMPTS: Final[dict[str, dict[str, str]]] = {
    "presence": {"present": "chest ct. lungs: a pulmonary nodule is present.",
                 "absent": "chest ct. lungs: no pulmonary nodule is present."},
    "lobe": {o: f"chest ct. lungs: a pulmonary nodule in the {OPTION_TEXT['lobe'][o]}."
             for o in TASK_OPTIONS["lobe"]},
    "size_bin": {b: f"chest ct. lungs: a pulmonary nodule {_SIZE_TEXT[b]}."
                 for b in TASK_SIZE_BINS},
}
VOLUME_TASKS: Final = tuple(VOLUME_PROMPTS)


def prompts_hash() -> str:
    """SHA-256 (16 hex) of every prompt: part of a model's version."""
    payload = json.dumps(VOLUME_PROMPTS, sort_keys=True).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:16]


@dataclass(frozen=True)
class Preprocess:
    """Volume → network input (defaults: Merlin's published preprocessing)."""

    spacing_mm: tuple[float, float, float] = (1.5, 1.5, 3.0)
    roi_size: tuple[int, int, int] = (224, 224, 160)
    hu_window: tuple[float, float] = (-1000.0, 1000.0)

    def __post_init__(self) -> None:
        if (len(self.spacing_mm) != 3 or len(self.roi_size) != 3
                or min(self.spacing_mm) <= 0 or min(self.roi_size) < 1
                or len(self.hu_window) != 2 or self.hu_window[0] >= self.hu_window[1]):
            raise InputError(f"preprocessing {self} is not usable",
                             fix="spacing_mm: 3 positive mm, roi_size: 3 voxel counts ≥ 1, "
                                 "hu_window: [low, high] with low < high")

    def apply(self, volume: Volume) -> np.ndarray:
        """The network input ``(X, Y, Z)`` float32 in RAS order (module docstring)."""
        import torch
        from monai.data import MetaTensor
        from monai.transforms import (
            CenterSpatialCrop,
            Orientation,
            ScaleIntensityRange,
            Spacing,
            SpatialPad,
        )

        image: Any = MetaTensor(torch.from_numpy(np.asarray(volume.array, dtype=np.float32))[None],
                           affine=torch.from_numpy(np.asarray(volume.affine, dtype=np.float64)))
        steps = (Orientation(axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))),
                 Spacing(pixdim=self.spacing_mm, mode="bilinear"),
                 ScaleIntensityRange(a_min=self.hu_window[0], a_max=self.hu_window[1],
                                     b_min=0.0, b_max=1.0, clip=True),
                 SpatialPad(spatial_size=self.roi_size), CenterSpatialCrop(self.roi_size))
        for step in steps:
            image = step(image)
        return np.asarray(image.as_tensor()[0].numpy(), dtype=np.float32)


class VisionLanguageEncoder(Protocol):
    """The two towers of a CLIP-style 3-D model, behind its own preprocessing.

    ``encode_volume`` → L2-normalised image embedding ``(d,)`` float64; ``encode_texts`` →
    L2-normalised ``(n, d)``; ``logit_scale`` multiplies cosine similarities before the
    softmax; ``settings`` (architecture and preprocessing) go into the model version."""

    @property
    def logit_scale(self) -> float: ...

    @property
    def settings(self) -> dict[str, Any]: ...

    def encode_volume(self, volume: Volume) -> np.ndarray: ...

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


@dataclass
class MerlinEncoder:
    """Merlin's towers (:mod:`.merlin_network`, or any module with ``encode_image``,
    ``encode_text`` and ``logit_scale``) behind :class:`Preprocess`."""

    network: Any
    preprocess: Preprocess
    device: str = "cpu"

    @property
    def logit_scale(self) -> float:
        return float(np.exp(float(self.network.logit_scale.detach().float().item())))

    @property
    def settings(self) -> dict[str, Any]:
        return {"architecture": "merlin", **asdict(self.preprocess)}

    def encode_volume(self, volume: Volume) -> np.ndarray:
        import torch

        tensor = torch.from_numpy(self.preprocess.apply(volume))[None, None].to(self.device)
        with torch.inference_mode():
            out = self.network.encode_image(tensor).float()
        return _unit(out.cpu().numpy()[0])

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.network.encode_text(texts).float()
        return np.stack([_unit(row) for row in out.cpu().numpy()])


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


@dataclass
class VolumeVLM:
    """A loaded 3-D vision-language encoder (module docstring); ``kind`` = ``vlm``."""

    name: str
    encoder: VisionLanguageEncoder
    weights_sha256: str
    kind: str = "vlm"
    _text_cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        settings = self.encoder.settings
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8"))
        return (f"{settings['architecture']}+w{self.weights_sha256[:16]}+p{prompts_hash()}"
                f"+pre{digest.hexdigest()[:8]}")

    def _text_embeddings(self, task: str) -> np.ndarray:
        if task not in self._text_cache:
            self._text_cache[task] = self.encoder.encode_texts(list(VOLUME_PROMPTS[task].values()))
        return self._text_cache[task]

    def embed(self, volume: Volume) -> np.ndarray:
        """The L2-normalised image embedding ``(embed_dim,)`` float32."""
        return np.asarray(self.encoder.encode_volume(volume), dtype=np.float32)

    def zero_shot(self, volume: Volume, task: str) -> tuple[str, dict[str, float]]:
        """(chosen option, softmax score per option) for one of :data:`VOLUME_TASKS`."""
        if task not in VOLUME_PROMPTS:
            raise InputError(f"unknown volume question {task!r}",
                             fix=f"use one of {VOLUME_TASKS}")
        return self.zero_shot_all(volume, (task,))[task]

    def zero_shot_all(self, volume: Volume, tasks: tuple[str, ...] = VOLUME_TASKS
                      ) -> dict[str, tuple[str, dict[str, float]]]:
        """:meth:`zero_shot` for several tasks from one image embedding."""
        return self.answer_and_embed(volume, tasks)[0]

    def answer_and_embed(self, volume: Volume, tasks: tuple[str, ...] = VOLUME_TASKS
                         ) -> tuple[dict[str, tuple[str, dict[str, float]]], np.ndarray]:
        """(:meth:`zero_shot_all`, :meth:`embed`) from one pass of the image tower."""
        image = self.encoder.encode_volume(volume)
        scale = self.encoder.logit_scale
        out = {}
        for task in tasks:
            similarity = self._text_embeddings(task) @ image
            logits = scale * similarity
            probabilities = np.exp(logits - logits.max())
            probabilities /= probabilities.sum()
            options = tuple(VOLUME_PROMPTS[task])
            out[task] = (options[int(np.argmax(similarity))],
                         {o: float(p) for o, p in zip(options, probabilities, strict=True)})
        return out, np.asarray(image, dtype=np.float32)


def expected_files(*, checkpoint: str = MERLIN_CHECKPOINT) -> list[str]:
    """What a Merlin folder must hold (relative paths; tokenizer: one of several)."""
    return [checkpoint, f"{TEXT_DIR}/config.json", f"{TEXT_DIR}/" + " or ".join(TOKENIZER_FILES)]


def _check_folder(folder: Path, *, checkpoint: str, name: str) -> None:
    text = folder / TEXT_DIR
    missing = [p for p in (checkpoint, f"{TEXT_DIR}/config.json") if not (folder / p).is_file()]
    if not any((text / t).is_file() for t in TOKENIZER_FILES):
        missing.append(f"{TEXT_DIR}/" + " or ".join(TOKENIZER_FILES))
    if missing:
        raise MissingPathError(
            f"volume model {name!r}: the Merlin folder lacks {missing}", path=folder,
            fix=f"put the contrastive checkpoint there as {checkpoint} (or set "
                "options.checkpoint) and a local copy of Clinical-Longformer's config.json "
                f"and tokenizer files in {TEXT_DIR}/; expected: "
                f"{expected_files(checkpoint=checkpoint)}")


def load_merlin(folder: Path, *, name: str, options: dict[str, Any] | None = None) -> VolumeVLM:
    """A Merlin-shaped :class:`VolumeVLM` from ``folder`` (nothing is downloaded).

    ``folder`` holds the state dict (``options.checkpoint``, default
    :data:`MERLIN_CHECKPOINT`), ``text_encoder/`` (the text model's ``config.json`` and
    tokenizer) and optionally ``network.json`` (architecture sizes, for networks other
    than the released one). Options: ``checkpoint``, ``device``, ``spacing_mm``,
    ``roi_size``, ``hu_window``.
    """
    import torch

    from lesiontrials.io import sha256_file
    from lesiontrials.scoring.models.merlin_network import MerlinNetwork, MerlinShape

    options = dict(options or {})
    allowed = {"checkpoint", "device", "spacing_mm", "roi_size", "hu_window"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InputError(f"volume model {name!r}: unknown option(s) {unknown}",
                         fix=f"use {sorted(allowed)}")
    checkpoint = str(options.pop("checkpoint", MERLIN_CHECKPOINT))
    device = str(options.pop("device", "cuda" if torch.cuda.is_available() else "cpu"))
    preprocess = Preprocess(**{k: tuple(v) for k, v in options.items()})
    folder = Path(folder).expanduser()
    _check_folder(folder, checkpoint=checkpoint, name=name)
    shape_path = folder / NETWORK_JSON
    shape = MerlinShape()
    if shape_path.is_file():
        record = json.loads(shape_path.read_text())
        extra = sorted(set(record) - {"layers", "widths", "n_phenotypes", "embed_dim"})
        if extra:
            raise InputError(f"unknown keys {extra}", path=shape_path,
                             fix="use layers, widths, n_phenotypes, embed_dim")
        shape = MerlinShape.from_record(record)
    network = MerlinNetwork(shape, text_dir=folder / TEXT_DIR)
    _load_state(network, folder / checkpoint, name=name)
    encoder = MerlinEncoder(network.to(device).eval(), preprocess, device)
    return VolumeVLM(name=name, encoder=encoder,
                     weights_sha256=sha256_file(folder / checkpoint))


def _load_state(network: Any, path: Path, *, name: str) -> None:
    """Load a state dict whose keys must match the network's exactly (a position-id
    buffer that older transformers saved is the only key allowed to be extra)."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or non-tensor file: name it
        raise InputError(f"volume model {name!r}: cannot read the checkpoint ({exc})",
                         path=path, fix="give a PyTorch state dict saved with torch.save"
                         ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"volume model {name!r}: the checkpoint is not a state dict",
                         path=path, fix="save model.state_dict()")
    state = {k: v for k, v in state.items() if not k.endswith("embeddings.position_ids")}
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape
        raise InputError(f"volume model {name!r}: checkpoint tensor shapes do not match the "
                         f"Merlin network ({str(exc)[:300]})", path=path,
                         fix="use Merlin's contrastive checkpoint, or a network.json whose "
                             "sizes match the checkpoint") from exc
    if result.missing_keys or result.unexpected_keys:
        raise InputError(
            f"volume model {name!r}: checkpoint keys do not match the Merlin network "
            f"(missing {len(result.missing_keys)}, e.g. {result.missing_keys[:3]}; "
            f"unexpected {len(result.unexpected_keys)}, e.g. {result.unexpected_keys[:3]})",
            path=path, fix="use Merlin's contrastive checkpoint, or a network.json whose "
                           "sizes match the checkpoint")
