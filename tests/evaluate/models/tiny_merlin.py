"""A tiny Merlin-shaped network saved in the folder layout :func:`load_merlin` reads, and
small test volumes (RAS and the same scan stored LPS). Nothing is downloaded: the
tokenizer is a byte-level BPE trained here on the prompts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from lesiontrials.io.volumes import Volume
from lesiontrials.scoring.models.merlin_network import (
    MerlinNetwork,
    MerlinShape,
    normalise_report_text,
)
from lesiontrials.scoring.models.volume_vlm import MERLIN_CHECKPOINT, VOLUME_PROMPTS

TINY = MerlinShape(layers=(1, 1, 1, 1), widths=(4, 8, 8, 16), n_phenotypes=7, embed_dim=12)
SMALL_INPUT = {"spacing_mm": [4.0, 4.0, 6.0], "roi_size": [24, 24, 12]}


def _tokenizer_folder(folder: Path) -> None:
    """A byte-level BPE vocabulary trained here on the prompts, saved as Clinical-Longformer
    ships its tokenizer (``vocab.json`` + ``merges.txt``, no tokenizer config)."""
    from tokenizers import ByteLevelBPETokenizer

    texts = [normalise_report_text(t) for p in VOLUME_PROMPTS.values() for t in p.values()]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))


def write_tiny_merlin(folder: Path, *, seed: int = 0) -> MerlinNetwork:
    """A Merlin folder: checkpoint + text_encoder/{config, tokenizer} + network.json."""
    from transformers import LongformerConfig

    text = folder / "text_encoder"
    text.mkdir(parents=True)
    _tokenizer_folder(text)
    LongformerConfig(vocab_size=300, hidden_size=16, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=32, attention_window=[8],
                     max_position_embeddings=130, pad_token_id=1, bos_token_id=0,
                     eos_token_id=2).save_pretrained(str(text))
    (folder / "network.json").write_text(json.dumps(
        {"layers": list(TINY.layers), "widths": list(TINY.widths),
         "n_phenotypes": TINY.n_phenotypes, "embed_dim": TINY.embed_dim}))
    torch.manual_seed(seed)
    network = MerlinNetwork(TINY, text_dir=text)
    torch.save(network.state_dict(), folder / MERLIN_CHECKPOINT)
    return network


def scan(seed: int = 0) -> Volume:
    """A 60 × 50 × 20 chest-like volume (air outside, body, lungs, one nodule), RAS."""
    rng = np.random.default_rng(seed)
    array = np.full((60, 50, 20), -1000, dtype=np.int16)
    array[5:55, 5:45, :] = 40
    array[10:28, 10:40, 2:18] = -850
    array[32:50, 10:40, 2:18] = -850
    array[15:19, 20:24, 8:11] = 30
    array = (array + rng.normal(0, 10, array.shape)).astype(np.int16)
    affine = np.array([[1.5, 0, 0, -45.0], [0, 1.5, 0, -37.0], [0, 0, 2.5, -25.0],
                       [0, 0, 0, 1]])
    return Volume(array, affine)


def as_lps(volume: Volume) -> Volume:
    """The same scan stored with x and y reversed (an LPS-ordered array), same world."""
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3], flip[1, 3] = volume.shape[0] - 1, volume.shape[1] - 1
    return Volume(np.ascontiguousarray(volume.array[::-1, ::-1, :]), volume.affine @ flip)


#: a COLIPRI network of the package's own classes, small enough for a test
COLIPRI_TINY = {"input_size": 16, "spacing": 8, "image_embed_dim": 24, "projection_dim": 24,
                "model.image_encoder.backbone.eva_depth": 1,
                "model.image_encoder.backbone.eva_numheads": 2,
                "model.image_encoder.pooler.num_heads": 2,
                "model.text_encoder.pooler.num_heads": 2}


def write_tiny_colipri(folder: Path, *, seed: int = 0) -> None:
    """A COLIPRI folder: model.safetensors + text_encoder/ (a tiny BERT and its word-piece
    vocabulary, written here) + overrides.json sizing the network down."""
    import re

    from colipri import get_model
    from colipri.checkpoint import load_model_config
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel, BertTokenizer

    from lesiontrials.scoring.models.colipri_encoder import _overrides

    text = folder / "text_encoder"
    text.mkdir(parents=True)
    words = sorted({w for p in VOLUME_PROMPTS.values() for t in p.values()
                    for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    (text / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizer(str(text / "vocab.txt")).save_pretrained(str(text))
    torch.manual_seed(seed)
    BertModel(BertConfig(vocab_size=5 + len(words), hidden_size=24, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=48,
                         max_position_embeddings=512)).save_pretrained(str(text))
    (folder / "overrides.json").write_text(json.dumps(COLIPRI_TINY))
    model = get_model(config=load_model_config(overrides=_overrides(folder)), pretrained=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "model.safetensors"))
