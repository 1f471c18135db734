"""Zero-shot CLIP-style scoring with open_clip (BiomedCLIP configuration by default).

For each task, every answer option becomes a few text prompts ("an axial chest CT slice
showing a lung nodule in the right upper lobe"); the image embedding is compared with each
option's mean prompt embedding and a softmax over options gives the scores. With
``overlay_prompts`` the prompts of a guided condition mention the overlay ("in the region
outlined in red") for *every* option, "absent" included: guided negatives carry a decoy
overlay, so the overlay is no evidence for any one answer and no prompt may treat it as such.

Weights are the user's and load only from a local directory in open_clip's hub layout
(``open_clip_config.json`` + ``open_clip_pytorch_model.bin`` or ``*.safetensors``), e.g. a copy
of ``hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``. Nothing is downloaded.

Example:
    >>> model = ClipZeroShot(model_path="~/models/biomedclip")  # doctest: +SKIP
    >>> answers = model.answer(items)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from lesiontrials.errors import ConfigError
from lesiontrials.scoring.models import _deps
from lesiontrials.scoring.models.messages import option_label, to_pil
from lesiontrials.slicing.contract import Answer, Item, ModelCard

BIOMEDCLIP_HUB_ID: Final = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
PATH_SETTING: Final = "LESIONTRIALS_BIOMEDCLIP_PATH"
TEXT_CONFIG_SETTING: Final = "LESIONTRIALS_CLIP_TEXT_CONFIG"
_CONFIG_FILE: Final = "open_clip_config.json"
_TOKENIZER_FILES: Final = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")

TEMPLATES: Final = (
    "an axial chest CT slice showing {}",
    "a lung window CT image with {}",
    "a CT scan of the chest with {}",
)
_PHRASES: Final[dict[str, str]] = {
    "present": "a lung nodule",
    "absent": "no lung nodule",
    "right_lung_upper_lobe": "a lung nodule in the right upper lobe",
    "right_lung_middle_lobe": "a lung nodule in the right middle lobe",
    "right_lung_lower_lobe": "a lung nodule in the right lower lobe",
    "left_lung_upper_lobe": "a lung nodule in the left upper lobe",
    "left_lung_lower_lobe": "a lung nodule in the left lower lobe",
    "<5": "a tiny lung nodule smaller than 5 mm",
    "5-10": "a small lung nodule of 5 to 10 mm",
    "10-20": "a lung nodule of 10 to 20 mm",
    ">=20": "a large lung mass of 20 mm or more",
}
_OVERLAY_PHRASES: Final[dict[str, str]] = {
    "bbox": ", in the region marked by a green box",
    "contour": ", in the region outlined in red",
    "bbox_contour": ", in the region outlined in red inside a green box",
}


def option_prompts(option: str, *, condition: str, overlay_prompts: bool) -> list[str]:
    """The text prompts for one answer option under one guidance condition.

    The overlay clause is the same for every option (symmetric): it says where to look,
    never what is there."""
    phrase = _PHRASES.get(option, f"a lung nodule, {option_label(option)}")
    if overlay_prompts:
        phrase += _OVERLAY_PHRASES.get(condition, "")
    return [template.format(phrase) for template in TEMPLATES]


@dataclass
class _Loaded:
    model: Any
    preprocess: Any
    tokenizer: Any
    device: str


_CACHE: dict[tuple[str, str, str, str], _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def _text_tower_dir(model_cfg: dict[str, Any], text_config: Path | None) -> Path | None:
    """Local folder for an HF text tower's config (BiomedCLIP's PubMedBERT), if one is needed."""
    hf_name = model_cfg.get("text_cfg", {}).get("hf_model_name")
    if not hf_name:
        return None
    if text_config is not None:
        directory = Path(text_config).expanduser()
        if not (directory / "config.json").is_file():
            raise ConfigError(f"{directory}: no config.json for the CLIP text tower. Fix: "
                              f"pass --text-config / {TEXT_CONFIG_SETTING} pointing at a local "
                              f"copy of '{hf_name}'")
        return directory
    if Path(hf_name).expanduser().is_dir():
        return Path(hf_name).expanduser()
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(hf_name, "config.json"), str):
        return None  # in the local Hugging Face cache; loads offline
    raise ConfigError(
        f"the CLIP text tower '{hf_name}' is not available offline. Fix: pass --text-config "
        f"DIR or set {TEXT_CONFIG_SETTING}=DIR (a local copy of that model's config.json "
        "and tokenizer files)"
    )


def load_open_clip(model_dir: Path, *, text_config: Path | None, device: str,
                   precision: str) -> _Loaded:
    """Load (once per process) an open_clip model, its eval transform and its tokenizer."""
    key = (str(model_dir.resolve()), str(text_config), device, precision)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        _deps.offline_hub()
        open_clip = _deps.require("open_clip", extra="clip", purpose="the CLIP adapter")
        model_cfg = json.loads((model_dir / _CONFIG_FILE).read_text())["model_cfg"]
        text_dir = _text_tower_dir(model_cfg, text_config)
        kwargs: dict[str, Any] = {}
        if text_dir is not None:  # point the HF text tower at the local config, no download
            kwargs["text_cfg"] = {**model_cfg["text_cfg"], "hf_model_name": str(text_dir),
                                  "hf_model_pretrained": False}
        model, preprocess = open_clip.create_model_from_pretrained(
            f"local-dir:{model_dir}", device=device, precision=precision, **kwargs)
        model.eval()
        loaded = _Loaded(model, preprocess, _tokenizer(open_clip, model_dir, model_cfg, text_dir),
                         device)
        _CACHE[key] = loaded
        return loaded


def _tokenizer(open_clip: Any, model_dir: Path, model_cfg: dict[str, Any],
               text_dir: Path | None) -> Any:
    has_files = any((model_dir / name).is_file() for name in _TOKENIZER_FILES)
    if text_dir is None or has_files:
        return open_clip.get_tokenizer(f"local-dir:{model_dir}")
    text_cfg = model_cfg.get("text_cfg", {})
    return open_clip.tokenizer.HFTokenizer(
        str(text_dir), context_length=text_cfg.get("context_length", 77),
        **text_cfg.get("tokenizer_kwargs", {}))


class ClipZeroShot:
    """In-process zero-shot scoring with an open_clip model from a local directory.

    Args:
        model_path: local folder with ``open_clip_config.json`` and the weights
            (or set ``LESIONTRIALS_BIOMEDCLIP_PATH``).
        name: model name recorded with the results.
        text_config: local folder with the HF text tower's config/tokenizer when the model
            directory does not carry them (BiomedCLIP's PubMedBERT).
        device: ``'cpu'``, ``'cuda'`` or ``'auto'``.
        batch_size: images per forward pass.
        overlay_prompts: mention the guidance overlay in the prompts of guided conditions.
        use_context: average the centre slice's embedding with its neighbours'.
        profile: the image encoding to read (``'lung'`` grey by default).
        precision: open_clip precision (``'fp32'``, ``'bf16'``, ...).
    """

    def __init__(self, *, model_path: str | Path | None, name: str = "biomedclip",
                 text_config: str | Path | None = None, device: str = "cpu",
                 batch_size: int = 32, overlay_prompts: bool = True, use_context: bool = False,
                 profile: str = "lung", precision: str = "fp32",
                 hub_id: str = BIOMEDCLIP_HUB_ID) -> None:
        self.name = name
        self.model_dir = _deps.local_model_dir(
            model_path, setting=PATH_SETTING, option="--model-path", required_file=_CONFIG_FILE,
            what="open_clip model")
        if not any(any(self.model_dir.glob(p)) for p in ("*.safetensors", "*.bin", "*.pth")):
            raise ConfigError(f"{self.model_dir}: no weights (*.safetensors, *.bin, *.pth) next "
                              f"to {_CONFIG_FILE}. Fix: copy the model's weight file there")
        self.text_config = None if text_config is None else Path(text_config)
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.overlay_prompts = overlay_prompts
        self.use_context = use_context
        self.uses_context = use_context  # read by the runner
        self.profile = profile
        self.precision = precision
        self.hub_id = hub_id
        self._text_cache: dict[tuple[str, str, tuple[str, ...]], np.ndarray] = {}

    @property
    def version(self) -> str:
        settings = {"templates": TEMPLATES, "phrases": _PHRASES, "overlay": _OVERLAY_PHRASES,
                    "overlay_prompts": self.overlay_prompts, "context": self.use_context,
                    "precision": self.precision}
        digest = _deps.fingerprint(self.model_dir, config_files=(_CONFIG_FILE,), extra=settings)
        return f"clip-{digest}"

    @property
    def card(self) -> ModelCard:
        return ModelCard(self.name, self.version, "clip",
                         {"config": self.hub_id, "path": str(self.model_dir),
                          "device": _deps.resolve_device(self.device),
                          "precision": self.precision, "batch_size": str(self.batch_size)})

    def _loaded(self) -> _Loaded:
        device = _deps.resolve_device(self.device)
        return load_open_clip(self.model_dir, text_config=self.text_config, device=device,
                              precision=self.precision)

    def answer(self, items: list[Item]) -> list[Answer]:
        """Score every item's options; the answer is the highest-probability option."""
        if not items:
            return []
        loaded = self._loaded()
        image_features = self._image_features(loaded, items)
        scale = float(loaded.model.logit_scale.exp().item())
        answers = []
        for item, feature in zip(items, image_features, strict=True):
            text = self._text_features(loaded, item)
            logits = scale * (text @ feature)
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            best = int(np.argmax(probs))
            scores = {o: float(p) for o, p in zip(item.options, probs, strict=True)}
            answers.append(Answer(option=item.options[best], raw_text="",
                                  scores=scores, parse_status="ok"))
        return answers

    def _encode_images(self, loaded: _Loaded, images: list[np.ndarray]) -> np.ndarray:
        import torch

        dtype = next(loaded.model.parameters()).dtype
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            batch = torch.stack([loaded.preprocess(to_pil(im)) for im in chunk])
            with torch.inference_mode():
                feats = loaded.model.encode_image(batch.to(loaded.device, dtype=dtype),
                                                  normalize=True)
            out.append(feats.float().cpu().numpy())
        return np.concatenate(out, axis=0)

    def _image_features(self, loaded: _Loaded, items: list[Item]) -> np.ndarray:
        groups = [[item.image, *(item.context if self.use_context else ())] for item in items]
        flat = self._encode_images(loaded, [im for group in groups for im in group])
        features, at = [], 0
        for group in groups:
            mean = flat[at:at + len(group)].mean(axis=0)
            features.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            at += len(group)
        return np.stack(features)

    def _text_features(self, loaded: _Loaded, item: Item) -> np.ndarray:
        """``(n_options, D)`` normalised mean prompt embeddings, cached per task/condition."""
        key = (item.task, item.condition, tuple(item.options))
        if key not in self._text_cache:
            import torch

            rows = []
            for option in item.options:
                prompts = option_prompts(option, condition=item.condition,
                                         overlay_prompts=self.overlay_prompts)
                tokens = loaded.tokenizer(prompts).to(loaded.device)
                with torch.inference_mode():
                    emb = loaded.model.encode_text(tokens, normalize=True).float().cpu().numpy()
                mean = emb.mean(axis=0)
                rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            self._text_cache[key] = np.stack(rows)
        return self._text_cache[key]
