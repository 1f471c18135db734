"""Merlin-shaped 3-D vision-language encoder: a tiny random network of the same classes,
saved as a Merlin folder and loaded through the real loading code; zero-shot volume
questions, embeddings, orientation, missing files, the prompts every scan is asked, and
the volume-set run reaching the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io.volumes import Volume

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from tiny_merlin import SMALL_INPUT, TINY, as_lps, scan, write_tiny_merlin  # noqa: E402

from lesiontrials.scoring.models.merlin_network import MerlinNetwork  # noqa: E402
from lesiontrials.scoring.models.volume_adapters import (  # noqa: E402
    build_volume_model,
    load_volume_models,
)
from lesiontrials.scoring.models.volume_vlm import (  # noqa: E402
    MERLIN_CHECKPOINT,
    VOLUME_PROMPTS,
    VOLUME_TASKS,
    VolumeVLM,
    load_merlin,
)


@pytest.fixture(scope="module")
def merlin_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("merlin")
    write_tiny_merlin(folder)
    return folder


def test_tiny_merlin_from_yaml_answers_and_embeds(merlin_folder: Path, tmp_path: Path) -> None:
    yaml_path = tmp_path / "models.yaml"
    yaml_path.write_text(json.dumps({"volume_models": [
        {"name": "merlin-tiny", "kind": "vlm", "merlin": str(merlin_folder),
         "options": {**SMALL_INPUT, "device": "cpu"}}]}))
    (model,) = load_volume_models(yaml_path)
    assert isinstance(model, VolumeVLM) and model.kind == "vlm"
    volume = scan()
    for task in VOLUME_TASKS:
        option, scores = model.zero_shot(volume, task)
        assert option in VOLUME_PROMPTS[task]
        assert list(scores) == list(VOLUME_PROMPTS[task])
        assert sum(scores.values()) == pytest.approx(1.0)
        assert option == max(scores, key=lambda o: scores[o])
    vector = model.embed(volume)
    assert vector.shape == (TINY.embed_dim,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    again = load_merlin(merlin_folder, name="merlin-tiny", options={**SMALL_INPUT})
    np.testing.assert_array_equal(again.embed(volume), vector)  # deterministic bytes
    assert again.version == model.version
    assert model.embed(scan(seed=1)).tobytes() != vector.tobytes()  # the image matters


def test_weights_are_the_checkpoint_s(merlin_folder: Path) -> None:
    """The loaded network computes what the saved one did (keys matched one to one)."""
    from lesiontrials.scoring.models.volume_vlm import Preprocess

    reference = MerlinNetwork(TINY, text_dir=merlin_folder / "text_encoder")
    reference.load_state_dict(torch.load(merlin_folder / MERLIN_CHECKPOINT))
    reference.eval()
    model = load_merlin(merlin_folder, name="m", options=SMALL_INPUT)
    tokenizer = model.encoder.network.encode_text.tokenizer  # type: ignore[attr-defined]
    assert tokenizer(["a nodule."])["input_ids"][0][0] == tokenizer.bos_token_id  # <s> first
    volume = scan()
    array = Preprocess(spacing_mm=(4.0, 4.0, 6.0), roi_size=(24, 24, 12)).apply(volume)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            reference.encode_image(torch.from_numpy(array)[None, None]), dim=-1)[0]
    np.testing.assert_allclose(model.embed(volume), expected.numpy(), rtol=1e-5, atol=1e-6)
    fresh = MerlinNetwork(TINY, text_dir=merlin_folder / "text_encoder")  # other weights
    with torch.no_grad():
        other = torch.nn.functional.normalize(
            fresh.eval().encode_image(torch.from_numpy(array)[None, None]), dim=-1)[0]
    assert not np.allclose(other.numpy(), expected.numpy())


def test_preprocessing_follows_the_config() -> None:
    from lesiontrials.scoring.models.volume_vlm import Preprocess

    volume = scan()
    array = Preprocess(spacing_mm=(3.0, 3.0, 5.0), roi_size=(40, 20, 12)).apply(volume)
    assert array.shape == (40, 20, 12) and array.dtype == np.float32
    assert array.min() >= 0.0 and array.max() <= 1.0
    # 90 mm of x at 3 mm is 30 voxels, padded to 40 with air (0 = −1000 HU)
    assert np.all(array[:3] == 0.0) and np.all(array[-3:] == 0.0)
    with pytest.raises(InputError, match="preprocessing"):
        Preprocess(spacing_mm=(0.0, 1.0, 1.0))


def test_lps_and_ras_arrays_give_the_same_answers(merlin_folder: Path) -> None:
    model = load_merlin(merlin_folder, name="m", options=SMALL_INPUT)
    ras, lps = scan(), as_lps(scan())
    np.testing.assert_allclose(lps.voxel_to_world(np.array([0, 0, 0])),
                               ras.voxel_to_world(np.array([59, 49, 0])))
    np.testing.assert_allclose(model.embed(lps), model.embed(ras), atol=1e-6)
    from_lps, from_ras = model.zero_shot_all(lps), model.zero_shot_all(ras)
    for task in VOLUME_TASKS:
        assert from_lps[task][0] == from_ras[task][0]
        assert from_lps[task][1] == pytest.approx(from_ras[task][1], abs=1e-6)
    # the orientation step is what makes them equal: without it the input differs
    flipped = Volume(lps.array, ras.affine)
    assert not np.allclose(model.embed(flipped), model.embed(ras), atol=1e-6)


def test_missing_checkpoint_names_every_expected_file(tmp_path: Path) -> None:
    with pytest.raises(MissingPathError) as caught:
        build_volume_model({"name": "merlin", "kind": "vlm", "merlin": str(tmp_path)})
    message = str(caught.value)
    for expected in (MERLIN_CHECKPOINT, "text_encoder/config.json",
                     "tokenizer.json", "vocab.json"):
        assert expected in message
    assert str(tmp_path) in message


def test_bad_entries_and_mismatched_checkpoints_are_errors(merlin_folder: Path,
                                                           tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown option"):
        build_volume_model({"name": "m", "merlin": str(merlin_folder),
                            "options": {"colour": 1}})
    with pytest.raises(InputError, match="kind vlm goes with merlin"):
        build_volume_model({"name": "m", "kind": "detector", "merlin": str(merlin_folder)})
    other = tmp_path / "other"
    write_tiny_merlin(other)
    shape = json.loads((other / "network.json").read_text())
    (other / "network.json").write_text(json.dumps({**shape, "embed_dim": 10}))
    with pytest.raises(InputError, match="shapes do not match"):
        load_merlin(other, name="m")
    state = torch.load(other / MERLIN_CHECKPOINT)
    state.pop("logit_scale")
    torch.save(state, other / MERLIN_CHECKPOINT)
    (other / "network.json").write_text(json.dumps(shape))
    with pytest.raises(InputError, match="keys do not match"):
        load_merlin(other, name="m")
    (other / MERLIN_CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read the checkpoint"):
        load_merlin(other, name="m")


def test_prompts_are_symmetric_and_fixed() -> None:
    """Options of a task differ only in the finding they name; no prompt names a case."""
    for task, prompts in VOLUME_PROMPTS.items():
        texts = list(prompts.values())
        assert len(set(texts)) == len(texts)
        prefix = texts[0][:min(len(t) for t in texts)]
        while not all(t.startswith(prefix) for t in texts):
            prefix = prefix[:-1]
        assert prefix.startswith("chest ct. lungs: "), task
        assert all(t.endswith(".") for t in texts)
    assert len(VOLUME_PROMPTS["lobe"]) == 5 and len(VOLUME_PROMPTS["size_bin"]) == 4
