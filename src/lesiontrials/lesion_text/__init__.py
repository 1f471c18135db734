"""Text ↔ lesion descriptors: parse radiology phrases, write one-line descriptions."""

from lesiontrials.lesion_text.descriptors import (
    Calcification,
    DescriptorOverrides,
    Internal,
    LesionDescriptors,
    descriptors_from_lidc,
)
from lesiontrials.lesion_text.parse import (
    Match,
    ParsedText,
    SynonymResolver,
    parse_description,
    stated_diameter_mm,
)
from lesiontrials.lesion_text.sentence import lesion_sentence
from lesiontrials.lesion_text.synonyms import MiniLMResolver, default_resolver, encoder_available

__all__ = [
    "Calcification",
    "DescriptorOverrides",
    "Internal",
    "LesionDescriptors",
    "Match",
    "MiniLMResolver",
    "ParsedText",
    "SynonymResolver",
    "default_resolver",
    "descriptors_from_lidc",
    "encoder_available",
    "lesion_sentence",
    "parse_description",
    "stated_diameter_mm",
]
