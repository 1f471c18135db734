"""3-D vision-language encoders at their published sizes: seconds per CT volume.

Random weights of the real architectures (no checkpoint is available offline; speed does
not depend on the weights): Merlin's I3-ResNet-152 + a Longformer-base text tower, and
COLIPRI's Primus-EVA image encoder + a BERT-base text tower, each behind its own
preprocessing. Input: one 512 × 512 × 300 CT at 0.7 × 0.7 × 1.0 mm (a screening scan).
Reports, per model: preprocessing s, image encoding s (incl. preprocessing; best of
``--repeats``), text encoding s for the 13 prompt sentences, peak GPU memory on CUDA.

    python benchmarks/bench_volume_vlm.py [--device cuda] [--models merlin colipri]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "evaluate" / "models"))

SHAPE = (512, 512, 300)
SPACING = (0.7, 0.7, 1.0)


def _volume() -> Any:
    from lesiontrials.io.volumes import Volume

    rng = np.random.default_rng(0)
    array = np.full(SHAPE, -1000, dtype=np.int16)
    array[40:472, 60:452, :] = 40
    array[80:240, 100:400, 20:280] = -850
    array[272:432, 100:400, 20:280] = -850
    array = (array + rng.normal(0, 20, SHAPE)).astype(np.int16)
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = [-180.0, -180.0, -150.0]
    return Volume(array, affine)


def _merlin(folder: Path, device: str) -> Any:
    from tiny_merlin import _tokenizer_folder
    from transformers import LongformerConfig

    from lesiontrials.scoring.models.merlin_network import MerlinNetwork, MerlinShape
    from lesiontrials.scoring.models.volume_vlm import MerlinEncoder, Preprocess

    text = folder / "merlin_text"
    text.mkdir()
    _tokenizer_folder(text)
    LongformerConfig(vocab_size=300).save_pretrained(str(text))  # base size otherwise
    network = MerlinNetwork(MerlinShape(), text_dir=text)
    return MerlinEncoder(network.to(device).eval(), Preprocess(), device)


def _colipri(folder: Path, device: str) -> Any:
    from colipri import get_model, get_processor
    from colipri.checkpoint import load_model_config, load_processor_config
    from transformers import BertConfig, BertModel, BertTokenizer

    from lesiontrials.scoring.models.colipri_encoder import ColipriEncoder, _overrides
    from lesiontrials.scoring.models.volume_vlm import VOLUME_PROMPTS

    text = folder / "text_encoder"
    text.mkdir()
    words = sorted({w for p in VOLUME_PROMPTS.values() for t in p.values()
                    for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    (text / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                               *words]) + "\n")
    BertTokenizer(str(text / "vocab.txt")).save_pretrained(str(text))
    BertModel(BertConfig(vocab_size=5 + len(words))).save_pretrained(str(text))
    overrides = _overrides(folder)
    model = get_model(config=load_model_config(overrides=overrides), pretrained=False)
    processor = get_processor(config=load_processor_config(overrides=overrides))
    return ColipriEncoder(model.to(device).eval(), processor, {}, device)


def _measure(encoder: Any, volume: Any, *, repeats: int, device: str) -> dict[str, float]:
    import torch

    from lesiontrials.scoring.models.volume_vlm import VOLUME_PROMPTS

    texts = [t for p in VOLUME_PROMPTS.values() for t in p.values()]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    encoder.encode_volume(volume)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.encode_volume(volume)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    start = time.perf_counter()
    encoder.encode_texts(texts)
    text_s = time.perf_counter() - start
    out = {"image_s_per_volume": round(best, 3), "text_s_13_prompts": round(text_s, 3)}
    if hasattr(encoder, "preprocess"):
        start = time.perf_counter()
        encoder.preprocess.apply(volume)
        out["preprocess_s"] = round(time.perf_counter() - start, 3)
    if device == "cuda":
        out["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", default=["merlin", "colipri"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    volume = _volume()
    result: dict[str, Any] = {"device": args.device, "volume_shape": list(SHAPE),
                              "spacing_mm": list(SPACING), "threads": torch.get_num_threads()}
    if args.device == "cuda":
        result["gpu"] = torch.cuda.get_device_name(0)
    builders = {"merlin": _merlin, "colipri": _colipri}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            folder = Path(tmp) / name
            folder.mkdir()
            encoder = builders[name](folder, args.device)
            result[name] = _measure(encoder, volume, repeats=args.repeats, device=args.device)
            del encoder
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
