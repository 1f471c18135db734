"""convert-llava-med on a tiny llava_mistral-shaped checkpoint built here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import INSTALL_VLM, char_tokenizer, import_or_skip, make_items

from lesiontrials.errors import ConfigError

TOWER = "openai/clip-vit-large-patch14-336"


def _tiny_vision():
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                            num_attention_heads=2, image_size=28, patch_size=14)


def build_llava_mistral(directory: Path, tower_dir: Path, *, with_tower: bool) -> Path:
    """The official training format in miniature: Mistral + mm_projector (+ vision tower)."""
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPImageProcessor, CLIPVisionModel, MistralConfig, MistralForCausalLM

    tokenizer = char_tokenizer(["<s>", "</s>", "<unk>"], bos_token="<s>", eos_token="</s>")
    tokenizer.save_pretrained(directory)
    text = MistralConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=512, bos_token_id=0, eos_token_id=1,
                         sliding_window=None)
    torch.manual_seed(0)
    language = MistralForCausalLM(text)
    tower = CLIPVisionModel(_tiny_vision())
    tower.save_pretrained(tower_dir)
    CLIPImageProcessor(size={"shortest_edge": 28},
                       crop_size={"height": 28, "width": 28}).save_pretrained(tower_dir)
    weights = {k: v.contiguous() for k, v in language.state_dict().items()}
    weights.update({"model.mm_projector.0.weight": torch.randn(32, 16) * 0.1,
                    "model.mm_projector.0.bias": torch.randn(32) * 0.1,
                    "model.mm_projector.2.weight": torch.randn(32, 32) * 0.1,
                    "model.mm_projector.2.bias": torch.randn(32) * 0.1})
    if with_tower:  # saved the way the training code names it (transformers 4 CLIP keys)
        weights.update({f"model.vision_tower.vision_tower.vision_model.{k}": v.contiguous()
                        for k, v in tower.state_dict().items()})
    save_file(weights, str(directory / "model-00001-of-00001.safetensors"))
    config = {**{k: v for k, v in text.to_dict().items() if k != "model_type"},
              "model_type": "llava_mistral", "architectures": ["LlavaMistralForCausalLM"],
              "mm_vision_tower": TOWER, "mm_hidden_size": 16,
              "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2,
              "mm_vision_select_feature": "patch", "image_aspect_ratio": "pad",
              "mm_use_im_start_end": False}
    (directory / "config.json").write_text(json.dumps(config))
    return directory


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import_or_skip("torch", INSTALL_VLM)
    import_or_skip("transformers", INSTALL_VLM)
    tower = tmp_path_factory.mktemp("clip-tower")
    return build_llava_mistral(tmp_path_factory.mktemp("llava-med-v1.5"), tower,
                               with_tower=True), tower


def test_unconverted_checkpoint_points_to_the_command(official: tuple[Path, Path]) -> None:
    from lesiontrials.scoring.models.external import make_chat

    with pytest.raises(ConfigError, match="convert-llava-med"):
        make_chat(adapter="llava-med", model_path=str(official[0]))


def test_converted_model_matches_the_original_weights(official: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import LlavaForConditionalGeneration, MistralConfig, MistralForCausalLM

    from lesiontrials.scoring.models.chat import ChatVLM
    from lesiontrials.scoring.models.llava_med import convert

    source, tower = official
    out = convert(source, tmp_path / "llava-med-hf", vision_tower=tower)
    model = LlavaForConditionalGeneration.from_pretrained(out).eval()
    original = load_file(str(next(source.glob("*.safetensors"))))
    config = json.loads((source / "config.json").read_text())
    text = MistralForCausalLM(MistralConfig(**{k: v for k, v in config.items()
                                               if k in MistralConfig().to_dict()}))
    text.load_state_dict({k: v for k, v in original.items()
                          if not k.startswith(("model.mm_projector", "model.vision_tower"))})
    ids = torch.tensor([[0, 10, 20, 30, 40, 50]])
    with torch.inference_mode():
        expected = text.eval()(input_ids=ids).logits
        got = model(input_ids=ids).logits[..., :expected.shape[-1]]
        assert torch.allclose(got, expected, atol=1e-5)
        x = torch.randn(3, 16)
        hidden = torch.nn.functional.gelu(x @ original["model.mm_projector.0.weight"].T
                                          + original["model.mm_projector.0.bias"])
        projected = hidden @ original["model.mm_projector.2.weight"].T + original[
            "model.mm_projector.2.bias"]
        assert torch.allclose(model.model.multi_modal_projector(x), projected, atol=1e-5)
    vision = original["model.vision_tower.vision_tower.vision_model.embeddings.patch_embedding"
                      ".weight"]
    assert torch.equal(model.model.vision_tower.state_dict()["embeddings.patch_embedding.weight"],
                       vision)
    assert model.config.vision_feature_layer == -2
    assert model.config.vision_feature_select_strategy == "default"
    vlm = ChatVLM(model_path=out, adapter="llava-med", device="cpu", max_new_tokens=3)
    answers = vlm.answer(make_items(3))
    assert len(answers) == 3 and all(a.scores for a in answers)
    turns, _ = vlm.messages(make_items(1)[0])
    from transformers import AutoProcessor

    prompt = AutoProcessor.from_pretrained(out).apply_chat_template(
        turns, add_generation_prompt=True)
    assert prompt.startswith("[INST] <image>\nQuestion 0") and prompt.endswith(" [/INST]")


def test_conversion_refuses_what_it_cannot_do(official: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    from lesiontrials.scoring.models.llava_med import convert

    source, tower = official
    for folder in ("bare", "tower2"):
        (tmp_path / folder).mkdir()
    bare = build_llava_mistral(tmp_path / "bare", tmp_path / "tower2", with_tower=False)
    with pytest.raises(ConfigError, match="--vision-tower"):
        convert(bare, tmp_path / "out1")
    from typer.testing import CliRunner

    from lesiontrials.cli.main import app

    result = CliRunner().invoke(app, ["convert-llava-med", str(bare), str(tmp_path / "out2"),
                                      "--vision-tower", str(tower)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out2" / "config.json").is_file()
    assert not (tmp_path / "out2.partial").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ConfigError, match="not empty"):
        convert(source, tmp_path / "full", vision_tower=tower)
    with pytest.raises(ConfigError, match="llava_mistral"):
        convert(tmp_path / "out2", tmp_path / "out3")
