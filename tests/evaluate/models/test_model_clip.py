"""CLIP zero-shot adapter on a tiny BiomedCLIP-shaped open_clip model built here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_models import INSTALL_CLIP, build_open_clip, import_or_skip, make_items

from lesiontrials.errors import ConfigError, MissingPathError
from lesiontrials.scoring.models.clip import ClipZeroShot, option_prompts


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import_or_skip("torch", INSTALL_CLIP)
    import_or_skip("open_clip", INSTALL_CLIP)
    return build_open_clip(tmp_path_factory.mktemp("clip"))


def test_missing_weights_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LESIONTRIALS_BIOMEDCLIP_PATH") as info:
        ClipZeroShot(model_path=None)
    assert "--model-path" in str(info.value) and "never downloaded" in str(info.value)
    with pytest.raises(MissingPathError, match="not found"):
        ClipZeroShot(model_path=tmp_path / "absent")
    with pytest.raises(MissingPathError, match="open_clip_config.json"):
        ClipZeroShot(model_path=tmp_path)
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": {}}))
    with pytest.raises(ConfigError, match="no weights"):
        ClipZeroShot(model_path=tmp_path)


def test_overlay_prompts_name_the_overlay_for_every_option() -> None:
    from lesiontrials.slicing.contract import CONDITIONS, TASK_OPTIONS

    plain = option_prompts("present", condition="plain", overlay_prompts=True)
    contour = option_prompts("present", condition="contour", overlay_prompts=True)
    assert all("outlined in red" in p for p in contour)
    assert not any("red" in p for p in plain)
    assert option_prompts("present", condition="contour", overlay_prompts=False) == plain
    for condition in CONDITIONS:  # symmetric: what the overlay adds is the same for all
        for options in TASK_OPTIONS.values():
            added = set()
            for option in options:
                bare = option_prompts(option, condition="plain", overlay_prompts=True)
                guided = option_prompts(option, condition=condition, overlay_prompts=True)
                added |= {g[len(b):] for g, b in zip(guided, bare, strict=True)}
                assert all(g.startswith(b) for g, b in zip(guided, bare, strict=True))
            assert len(added) == 1, (condition, added)


def test_scores_are_a_distribution_over_options(tiny_clip: tuple[Path, Path]) -> None:
    model_dir, text_dir = tiny_clip
    model = ClipZeroShot(model_path=model_dir, text_config=text_dir, batch_size=4)
    items = make_items(7)
    answers = model.answer(items)
    assert len(answers) == len(items)
    for item, answer in zip(items, answers, strict=True):
        assert answer.parse_status == "ok" and answer.scores is not None
        assert tuple(answer.scores) == item.options
        assert np.isclose(sum(answer.scores.values()), 1.0)
        assert answer.option == max(answer.scores, key=answer.scores.__getitem__)
    assert model.answer([]) == []


def test_deterministic_and_loaded_once(tiny_clip: tuple[Path, Path]) -> None:
    from lesiontrials.scoring.models import clip

    model_dir, text_dir = tiny_clip
    items = make_items(5, rgb=True)
    first = ClipZeroShot(model_path=model_dir, text_config=text_dir, batch_size=2)
    second = ClipZeroShot(model_path=model_dir, text_config=text_dir, batch_size=5)
    answers = first.answer(items)
    assert first.answer(items) == answers  # same input, same answer, bit for bit
    for a, b in zip(answers, second.answer(items), strict=True):  # other batching: float noise
        assert a.option == b.option and a.scores is not None and b.scores is not None
        assert np.allclose(list(a.scores.values()), list(b.scores.values()), atol=1e-5)
    assert first._loaded() is second._loaded()
    assert first.version == second.version
    context = ClipZeroShot(model_path=model_dir, text_config=text_dir, use_context=True)
    assert context.version != first.version
    assert [a.option for a in context.answer(items)]  # the context path runs
    assert len({k[0] for k in clip._CACHE}) == 1


def test_text_tower_must_be_local(tiny_clip: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, _ = tiny_clip
    with pytest.raises(ConfigError, match="--text-config"):
        ClipZeroShot(model_path=model_dir, text_config=None).answer(make_items(1))
    with pytest.raises(ConfigError, match="no config.json"):
        ClipZeroShot(model_path=model_dir, text_config=tmp_path).answer(make_items(1))
