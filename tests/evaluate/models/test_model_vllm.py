"""The vLLM backend gives the transformers path's answers (needs a CUDA GPU and vllm)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tiny_models
from tiny_models import INSTALL_VLM, import_or_skip, make_items

from lesiontrials.errors import ConfigError


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def test_vllm_backend_refuses_cpu(tmp_path: Path) -> None:
    import_or_skip("transformers", INSTALL_VLM)
    from lesiontrials.scoring.models.vllm_backend import VllmChatVLM

    directory = tiny_models.build_llava(tmp_path / "llava")
    with pytest.raises(ConfigError, match="CUDA GPU"):
        VllmChatVLM(model_path=directory, device="cpu")


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="the vLLM backend needs a CUDA GPU")
def test_vllm_matches_transformers_on_a_tiny_model(tmp_path: Path) -> None:
    pytest.importorskip("vllm", reason="pip install 'lesiontrials[vllm]'")
    from lesiontrials.scoring.models.chat import ChatVLM
    from lesiontrials.scoring.models.vllm_backend import VllmChatVLM

    directory = tiny_models.build_llava(tmp_path / "llava")
    items = make_items(6)
    reference = ChatVLM(model_path=directory, device="cuda", dtype="float32",
                        max_new_tokens=4, batch_size=6)
    engine = VllmChatVLM(model_path=directory, device="cuda", dtype="float32",
                         max_new_tokens=4)
    expected, got = reference.answer(items), engine.answer(items)
    assert [a.raw_text for a in got] == [a.raw_text for a in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-3)
