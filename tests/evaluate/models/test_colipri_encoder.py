"""COLIPRI through the ``colipri`` package: a tiny network of the package's own classes saved
as model.safetensors and loaded through the real loading code (local text model and
tokenizer, every key checked); answers, embeddings, LPS = RAS, missing files named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lesiontrials.errors import InputError, MissingPathError

torch = pytest.importorskip("torch")
pytest.importorskip("colipri")

from tiny_merlin import as_lps, scan, write_tiny_colipri  # noqa: E402

from lesiontrials.scoring.models.colipri_encoder import load_colipri  # noqa: E402
from lesiontrials.scoring.models.volume_adapters import build_volume_model  # noqa: E402
from lesiontrials.scoring.models.volume_vlm import (  # noqa: E402
    VOLUME_PROMPTS,
    VOLUME_TASKS,
    VolumeVLM,
)


@pytest.fixture(scope="module")
def colipri_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("colipri")
    write_tiny_colipri(folder)
    return folder


def test_tiny_colipri_answers_and_embeds(colipri_folder: Path) -> None:
    model = build_volume_model({"name": "colipri-tiny", "colipri": str(colipri_folder),
                                "options": {"device": "cpu"}})
    assert isinstance(model, VolumeVLM) and model.version.startswith("colipri+")
    volume = scan()
    answers = model.zero_shot_all(volume)
    for task in VOLUME_TASKS:
        option, scores = answers[task]
        assert option in VOLUME_PROMPTS[task] and sum(scores.values()) == pytest.approx(1.0)
    vector = model.embed(volume)
    assert vector.shape == (24,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    again = load_colipri(colipri_folder, name="colipri-tiny")
    np.testing.assert_array_equal(again.embed(volume), vector)
    np.testing.assert_allclose(model.embed(as_lps(volume)), vector, atol=1e-5)
    assert not np.allclose(model.embed(scan(seed=3)), vector, atol=1e-5)


def test_weights_come_from_the_file(colipri_folder: Path, tmp_path: Path) -> None:
    """Another seed's file gives other embeddings; a file missing a key is refused."""
    from safetensors.torch import load_file, save_file
    from tiny_merlin import write_tiny_colipri as write

    other = tmp_path / "other"
    write(other, seed=1)
    volume = scan()
    first = load_colipri(colipri_folder, name="a").embed(volume)
    assert not np.allclose(load_colipri(other, name="b").embed(volume), first, atol=1e-4)
    state = load_file(str(other / "model.safetensors"))
    state.pop(sorted(state)[0])
    save_file(state, str(other / "model.safetensors"))
    with pytest.raises(InputError, match="keys do not match"):
        load_colipri(other, name="b")
    (other / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot read the checkpoint"):
        load_colipri(other, name="b")


def test_missing_colipri_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(MissingPathError) as caught:
        load_colipri(tmp_path, name="colipri")
    for expected in ("model.safetensors", "text_encoder/config.json", "text_encoder/vocab.txt",
                     "text_encoder/tokenizer_config.json"):
        assert expected in str(caught.value)
    with pytest.raises(InputError, match="unknown option"):
        load_colipri(tmp_path, name="c", options={"spacing_mm": [1, 1, 1]})
