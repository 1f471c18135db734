"""Convert the official LLaVA-Med v1.5 checkpoint (``llava_mistral``) to a transformers
LLaVA model that :class:`~lesiontrials.scoring.models.chat.ChatVLM` loads.

The official checkpoint is the training repository's format: a Mistral language model
with ``model.mm_projector`` (two linear layers around a GELU) and the CLIP ViT-L/14-336
vision tower under ``model.vision_tower.vision_tower`` (or, when the tower was frozen and
not saved, named by ``mm_vision_tower`` only). transformers has no ``llava_mistral``
class, so the weights are renamed into ``LlavaForConditionalGeneration``:

=========================================  =============================================
official                                   transformers llava
=========================================  =============================================
``model.embed_tokens/layers/norm``          ``model.language_model.*``
``lm_head``                                 ``lm_head``
``model.mm_projector.0`` / ``.2``           ``model.multi_modal_projector.linear_1/_2``
``model.vision_tower.vision_tower.*``       ``model.vision_tower.*``
=========================================  =============================================

The vision features are taken as in training: the second-to-last layer
(``mm_vision_select_layer = -2``) without the CLS token (``patch``). An ``<image>`` token is
added to the tokenizer (its new embedding and output rows are the mean of the existing
ones; image tokens are replaced by image features, so the row only matters as an output
that the model should not produce). The chat template is the ``mistral_instruct``
conversation LLaVA-Med was tuned with: ``[INST] <image>\\n{question} [/INST]``. Images
here are square slices, so LLaVA's ``pad`` aspect-ratio mode changes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Final

from lesiontrials.errors import ConfigError, MissingPathError
from lesiontrials.scoring.models import _deps

#: the vision tower LLaVA-Med v1.5 was trained with (openai/clip-vit-large-patch14-336)
CLIP_L_336: Final[dict[str, Any]] = {
    "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
    "num_attention_heads": 16, "image_size": 336, "patch_size": 14, "projection_dim": 768,
    "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}
KNOWN_TOWERS: Final = {"openai/clip-vit-large-patch14-336": CLIP_L_336}
CHAT_TEMPLATE: Final = (
    "{% set ns = namespace(system='') %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.system = m['content'][0]['text'] + '\\n\\n' %}"
    "{% elif m['role'] == 'user' %}[INST] {{ ns.system }}{% set ns.system = '' %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %} [/INST]"
    "{% elif m['role'] == 'assistant' %} {% for c in m['content'] %}{{ c['text'] }}"
    "{% endfor %}</s>{% endif %}{% endfor %}")
IMAGE_TOKEN: Final = "<image>"


def _read_config(source: Path) -> dict[str, Any]:
    path = source / "config.json"
    if not path.is_file():
        raise MissingPathError("not a model folder: config.json is missing", path=source,
                               fix="point at the LLaVA-Med v1.5 folder (config.json, "
                                   "*.safetensors, tokenizer files)")
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if config.get("model_type") != "llava_mistral":
        raise ConfigError(f"{path}: model_type is {config.get('model_type')!r}, not "
                          "'llava_mistral'. Fix: convert only the official LLaVA-Med v1.5 "
                          "checkpoint; HF-format llava models load as they are")
    if config.get("mm_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
        raise ConfigError(f"{path}: mm_projector_type {config['mm_projector_type']!r} is "
                          "not supported. Fix: only mlp2x_gelu (LLaVA-Med v1.5) converts")
    return config


def _source_weights(source: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    files = sorted(source.glob("*.safetensors"))
    if not files:
        raise MissingPathError("no *.safetensors weights", path=source,
                               fix="copy the checkpoint's model-*.safetensors files there")
    weights: dict[str, Any] = {}
    for file in files:
        weights.update(load_file(str(file)))
    return weights


def _vision(config: dict[str, Any], weights: dict[str, Any], vision_tower: Path | None
            ) -> tuple[Any, dict[str, Any], Any]:
    """(CLIP vision config, vision weights in llava names, image processor)."""
    import transformers

    prefix = "model.vision_tower.vision_tower."
    inside = {k[len(prefix):].removeprefix("vision_model."): v
              for k, v in weights.items() if k.startswith(prefix)}
    processor = None
    if vision_tower is not None:
        if not (vision_tower / "config.json").is_file():
            raise MissingPathError("not a CLIP vision folder: config.json is missing",
                                   path=vision_tower, fix="point --vision-tower at a local "
                                   "copy of openai/clip-vit-large-patch14-336")
        vision_config = transformers.CLIPVisionConfig.from_pretrained(vision_tower)
        if not inside:
            tower = transformers.CLIPVisionModel.from_pretrained(vision_tower,
                                                                 local_files_only=True)
            inside = dict(tower.state_dict())
        if (vision_tower / "preprocessor_config.json").is_file():
            processor = transformers.CLIPImageProcessor.from_pretrained(vision_tower)
    else:
        known = KNOWN_TOWERS.get(str(config.get("mm_vision_tower", "")))
        if known is None or not inside:
            raise ConfigError(
                "the checkpoint does not carry its vision tower "
                f"({config.get('mm_vision_tower')!r}). Fix: pass --vision-tower DIR, a local "
                "copy of openai/clip-vit-large-patch14-336")
        vision_config = transformers.CLIPVisionConfig(**known)
    if processor is None:
        side = int(vision_config.image_size)  # type: ignore[arg-type]
        processor = transformers.CLIPImageProcessor(size={"shortest_edge": side},
                                                    crop_size={"height": side, "width": side})
    return vision_config, {f"model.vision_tower.{k}": v for k, v in inside.items()}, processor


def _text_config(config: dict[str, Any]) -> Any:
    import transformers

    known = set(transformers.MistralConfig().to_dict())
    fields = {k: v for k, v in config.items()
              if k in known and k not in ("model_type", "architectures", "transformers_version",
                                          "torch_dtype", "dtype", "auto_map")}
    return transformers.MistralConfig(**fields)


def _language_weights(weights: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in weights.items():
        if key.startswith("model.vision_tower."):
            continue
        if key.startswith("model.mm_projector."):
            index = key.split(".")[2]
            layer = {"0": "linear_1", "2": "linear_2"}.get(index)
            if layer is None:
                raise ConfigError(f"unexpected projector weight {key!r}. Fix: only "
                                  "mlp2x_gelu projectors convert")
            out[f"model.multi_modal_projector.{layer}.{key.split('.', 3)[3]}"] = value
        elif key.startswith("model."):
            out[f"model.language_model.{key[len('model.'):]}"] = value
        elif key == "lm_head.weight":
            out[key] = value
        else:
            raise ConfigError(f"unexpected weight {key!r} in the checkpoint. Fix: convert the "
                              "official LLaVA-Med v1.5 checkpoint")
    return out


def _grow_vocabulary(state: dict[str, Any], size: int) -> None:
    """Append rows (the mean row) to the embeddings and output head up to ``size``."""
    import torch

    for key in ("model.language_model.embed_tokens.weight", "lm_head.weight"):
        matrix = state[key]
        if matrix.shape[0] < size:
            mean = matrix.float().mean(0, keepdim=True).to(matrix.dtype)
            state[key] = torch.cat([matrix, mean.expand(size - matrix.shape[0], -1)], 0)


def convert(source: Path, out: Path, *, vision_tower: Path | None = None) -> Path:
    """Write the transformers llava version of the checkpoint in ``source`` to ``out``."""
    import torch

    transformers = _deps.require("transformers", extra="vlm", purpose="convert-llava-med")
    _deps.offline_hub()
    source, out = Path(source).expanduser(), Path(out).expanduser()
    config = _read_config(source)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: the output folder is not empty. Fix: choose a new folder")
    weights = _source_weights(source)
    vision_config, vision_state, image_processor = _vision(config, weights, vision_tower)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
    tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    text_config = _text_config(config)
    text_config.vocab_size = max(int(text_config.vocab_size), len(tokenizer))
    text_config.pad_token_id = tokenizer.pad_token_id
    llava_config = transformers.LlavaConfig(
        vision_config=vision_config, text_config=text_config,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_layer=int(config.get("mm_vision_select_layer", -2)),
        vision_feature_select_strategy="default" if config.get(
            "mm_vision_select_feature", "patch") == "patch" else "full",
        projector_hidden_act="gelu", multimodal_projector_bias=True,
        image_seq_length=(vision_config.image_size // vision_config.patch_size) ** 2)
    state = {**_language_weights(weights), **vision_state}
    _grow_vocabulary(state, text_config.vocab_size)
    with torch.device("meta"):
        model = transformers.LlavaForConditionalGeneration(llava_config)
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ConfigError(f"{source}: the checkpoint does not match a LLaVA-Med v1.5 layout "
                          f"(missing {missing[:4]}, unexpected {unexpected[:4]}). Fix: "
                          "convert the official checkpoint, with --vision-tower if needed")
    dtype = next(iter(state.values())).dtype
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True, assign=True)
    processor = transformers.LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
        patch_size=vision_config.patch_size, vision_feature_select_strategy=(
            llava_config.vision_feature_select_strategy), num_additional_image_tokens=1,
        image_token=IMAGE_TOKEN)
    partial = out.with_name(out.name + ".partial")  # complete or absent, never half written
    if partial.exists():
        shutil.rmtree(partial)
    model.save_pretrained(partial)
    processor.save_pretrained(partial)
    if out.exists():
        out.rmdir()
    partial.rename(out)
    return out
