"""Chat-model throughput on CPU: items/s for tiny models, batched vs one item per call,
with and without teacher-forced option scores.

Tiny random models (built in code, as in the tests) measure the adapter's own overhead:
prompt rendering, image processing, padding, generation and option scoring. Real models
are dominated by the forward passes; see docs/models.md for GPU settings.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "evaluate" / "models"))


def _rate(model, items, repeats: int = 2) -> float:
    model.answer(items[:2])  # load and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.answer(items)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> None:
    import tiny_models
    import torch

    from lesiontrials.scoring.models.chat import ChatVLM

    torch.set_num_threads(1)
    items = tiny_models.make_items(32)
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("llava", "gemma3"):
            directory = getattr(tiny_models, f"build_{family}")(Path(tmp) / family)
            rates = {}
            for batch in (1, 8):
                for scores in (False, True):
                    model = ChatVLM(model_path=directory, device="cpu", batch_size=batch,
                                    max_new_tokens=8, option_scores=scores)
                    key = f"batch{batch}_{'scores' if scores else 'reply_only'}"
                    rates[key] = round(_rate(model, items), 1)
            rates["speedup_batch8_scores"] = round(rates["batch8_scores"] /
                                                   rates["batch1_scores"], 2)
            out[family] = rates
    print(json.dumps({"items": len(items), "threads": 1, "max_new_tokens": 8,
                      "items_per_s": out}, indent=2))


if __name__ == "__main__":
    main()
