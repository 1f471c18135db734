"""Tiny randomly initialised models built in code and saved in the real on-disk layouts.

Nothing is downloaded: tokenizers come from a character vocabulary built with the
``tokenizers`` library, models from small configs. Each builder writes a folder that the
adapters load back exactly as they would load a user's local copy of a real model.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lesiontrials.slicing.contract import TASK_OPTIONS, Item

_CHARS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
              " .,:;?!<>=-_()|'\"\n/%+*[]")


INSTALL_VLM = "pip install torch==2.13.0 && pip install -e '.[vlm]'"
INSTALL_CLIP = ("pip install torch==2.14.1 torchvision==0.29.1 && "
                "pip install -e '.[clip,vlm]'")


def import_or_skip(module: str, install: str) -> Any:
    """Import ``module`` or skip: missing, or failing to import (torchvision vs torch builds)."""
    try:
        return importlib.import_module(module)
    except Exception as exc:
        pytest.skip(f"{module} unavailable ({type(exc).__name__}: {str(exc)[:80]}); "
                    f"to run: {install}")


def make_items(n: int = 6, *, size: int = 48, rgb: bool = False) -> list[Item]:
    """Deterministic items over every task and a few conditions, with z±1 context."""
    rng = np.random.default_rng(7)
    items = []
    tasks = list(TASK_OPTIONS)
    conditions = ("plain", "bbox", "contour", "bbox_contour")
    for i in range(n):
        shape = (size, size, 3) if rgb else (size, size)
        slices = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(3)]
        task = tasks[i % len(tasks)]
        items.append(Item(
            slice_uid=f"case{i:03d}", task=task, condition=conditions[i % len(conditions)],
            profile="medgemma_rgb" if rgb else "lung",
            question=f"Question {i} about the {task} of the nodule?",
            options=TASK_OPTIONS[task], image=slices[1], context=(slices[0], slices[2])))
    return items


def _phantom_hu(size: int, nodule_radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    """An axial chest phantom in HU (display orientation) and its nodule mask."""
    rows, cols = np.mgrid[:size, :size].astype(float) / size
    hu = np.full((size, size), -1000.0)
    hu[((rows - 0.5) / 0.42) ** 2 + ((cols - 0.5) / 0.48) ** 2 <= 1] = 40.0  # body
    for centre in (0.3, 0.7):  # lungs; the patient's right is on the image's left
        hu[((rows - 0.5) / 0.3) ** 2 + ((cols - centre) / 0.16) ** 2 <= 1] = -850.0
    mask = (rows - 0.35) ** 2 + (cols - 0.3) ** 2 <= (nodule_radius_px / size) ** 2
    hu[mask] = 20.0
    return hu, mask


def phantom_items(*, size: int = 96) -> list[Item]:
    """Items over every task, condition and profile from a phantom with one nodule."""
    from lesiontrials.slicing.overlays import draw_overlay
    from lesiontrials.slicing.windowing import encode

    items = []
    for profile in ("lung", "medgemma_rgb"):
        slices = [_phantom_hu(size, r) for r in (4.0, 6.0, 4.5)]
        for condition in ("plain", "bbox", "contour", "bbox_contour"):
            drawn = [draw_overlay(encode(hu, profile=profile), mask, condition=condition)[0]
                     for hu, mask in slices]
            for task, options in TASK_OPTIONS.items():
                items.append(Item(
                    slice_uid="phantom", task=task, condition=condition, profile=profile,
                    question=f"What about the {task}?", options=options, image=drawn[1],
                    context=(drawn[0], drawn[2]), pixel_spacing_mm=0.7))
    return items


def char_tokenizer(specials: list[str], **kwargs: Any):
    """A fast tokenizer over single characters plus ``specials`` (no file, no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in [*specials, "[UNK]", *_CHARS]:
        vocab.setdefault(token, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    core.add_special_tokens(specials)
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", **kwargs)


def build_llava(directory: Path) -> Path:
    """A LLaVA-1.5-style model (CLIP vision tower + Llama) with its processor."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = char_tokenizer(["<s>", "</s>", "<pad>", "<image>"], bos_token="<s>",
                               eos_token="</s>", pad_token="<pad>")
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                              num_attention_heads=2, image_size=32, patch_size=8)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                       num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                       max_position_embeddings=512, bos_token_id=0, eos_token_id=1,
                       pad_token_id=2)
    config = LlavaConfig(vision_config=vision, text_config=text, vision_feature_layer=-1,
                         image_token_id=tokenizer.convert_tokens_to_ids("<image>"))
    template = ("{% for m in messages %}{{ m['role'].upper() }}: {% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}"
                "{% endfor %}\n{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}")
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32},
                                              crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer, chat_template=template, patch_size=8,
        vision_feature_select_strategy="default", num_additional_image_tokens=1)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_gemma3(directory: Path) -> Path:
    """A Gemma-3 / MedGemma-style model (SigLIP vision tower) with its processor."""
    import torch
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3Processor,
        SiglipVisionConfig,
    )
    from transformers.models.gemma3.configuration_gemma3 import Gemma3TextConfig
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    specials = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>",
                "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
    tokenizer = char_tokenizer(
        specials, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        extra_special_tokens={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                              "image_token": "<image_soft_token>"})
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in specials}
    text = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                            head_dim=16, max_position_embeddings=1024, sliding_window=64,
                            pad_token_id=0, bos_token_id=2,
                            eos_token_id=[1, ids["<end_of_turn>"]])
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                num_attention_heads=2, image_size=32, patch_size=8)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4,
                          boi_token_index=ids["<start_of_image>"],
                          eoi_token_index=ids["<end_of_image>"],
                          image_token_index=ids["<image_soft_token>"])
    template = ("{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n"
                "{% for c in m['content'] %}{% if c['type'] == 'image' %}<start_of_image>"
                "{% else %}{{ c['text'] }}{% endif %}{% endfor %}<end_of_turn>\n{% endfor %}"
                "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
    processor = Gemma3Processor(image_processor=Gemma3ImageProcessorPil(
        size={"height": 32, "width": 32}), tokenizer=tokenizer, chat_template=template,
        image_seq_length=4)
    torch.manual_seed(0)
    Gemma3ForConditionalGeneration(config).save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_qwen2_5_vl(directory: Path) -> Path:
    """A Qwen2.5-VL-style model with its processor (transformers needs torchvision here)."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tokenizer = char_tokenizer(specials, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in specials}
    config = Qwen2_5_VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 2, "max_position_embeddings": 1024,
                     "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
                     "eos_token_id": ids["<|im_end|>"], "pad_token_id": 0, "bos_token_id": 0},
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2,
                       "out_hidden_size": 32, "patch_size": 14, "spatial_merge_size": 2,
                       "temporal_patch_size": 2, "window_size": 56,
                       "fullatt_block_indexes": [1]},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
                "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
                "{% else %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    pixels = {"min_pixels": 56 * 56, "max_pixels": 56 * 56 * 4}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessorPil(**pixels),
        video_processor=Qwen2VLVideoProcessor(**pixels), tokenizer=tokenizer,
        chat_template=template)
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_open_clip(directory: Path) -> tuple[Path, Path]:
    """A BiomedCLIP-shaped open_clip model: ViT image tower, HF BERT text tower.

    Like BiomedCLIP, ``open_clip_config.json`` names a hub id for the text tower; the
    tower's config and tokenizer live in a separate local folder (returned second) that the
    adapter receives as ``text_config``.
    """
    import open_clip
    import torch
    from transformers import BertConfig

    text_dir = directory / "text_tower"
    text_dir.mkdir(parents=True)
    tokenizer = char_tokenizer(["[PAD]", "[CLS]", "[SEP]"], pad_token="[PAD]",
                               cls_token="[CLS]", sep_token="[SEP]")
    tokenizer.save_pretrained(text_dir)
    BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
               num_attention_heads=2, intermediate_size=32,
               max_position_embeddings=128).save_pretrained(text_dir)
    text_cfg = {"hf_model_name": "tiny-org/tiny-pubmedbert", "hf_tokenizer_name":
                "tiny-org/tiny-pubmedbert", "hf_proj_type": "mlp",
                "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 96}
    model_cfg = {"embed_dim": 16, "text_cfg": text_cfg,
                 "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8,
                                "head_width": 16}}
    model_dir = directory / "clip"
    model_dir.mkdir()
    (model_dir / "open_clip_config.json").write_text(json.dumps({
        "model_cfg": model_cfg,
        "preprocess_cfg": {"mean": [0.48, 0.46, 0.41], "std": [0.27, 0.26, 0.28]}}))
    torch.manual_seed(0)
    build_cfg = {**model_cfg, "text_cfg": {**text_cfg, "hf_model_name": str(text_dir),
                                           "hf_model_pretrained": False}}
    model = open_clip.CustomTextCLIP(**build_cfg)
    torch.save(model.state_dict(), model_dir / "open_clip_pytorch_model.bin")
    return model_dir, text_dir


def build_internvl(directory: Path) -> Path:
    """An InternVL (``-hf`` format) model: InternViT-style tower + Qwen2, with its processor."""
    import torch
    from transformers import (
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        Qwen2Config,
    )
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import (
        GotOcr2ImageProcessorPil,
    )
    from transformers.models.internvl.configuration_internvl import InternVLVisionConfig
    from transformers.models.internvl.video_processing_internvl import InternVLVideoProcessor

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>",
                "<IMG_CONTEXT>", "<video>"]
    tokenizer = char_tokenizer(specials, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                               extra_special_tokens={
                                   "start_image_token": "<img>", "end_image_token": "</img>",
                                   "context_image_token": "<IMG_CONTEXT>",
                                   "video_token": "<video>"})
    vision = InternVLVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, image_size=[28, 28],
                                  patch_size=[14, 14])
    text = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                       num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                       max_position_embeddings=512)
    config = InternVLConfig(vision_config=vision, text_config=text, image_seq_length=1,
                            image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"))
    template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                "{% for c in m['content'] %}{% if c['type'] == 'image' %}<IMG_CONTEXT>\n"
                "{% else %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessorPil(size={"height": 28, "width": 28},
                                                 crop_to_patches=False),
        tokenizer=tokenizer, video_processor=InternVLVideoProcessor(), image_seq_length=1,
        chat_template=template)
    torch.manual_seed(0)
    InternVLForConditionalGeneration(config).save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
