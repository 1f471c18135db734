"""Text ↔ lesion descriptors: parse radiology phrases, write one-line descriptions."""

from lesiontrials.describe.descriptors import (
    Calcification,
    DescriptorOverrides,
    Internal,
    LesionDescriptors,
    descriptors_from_lidc,
)
from lesiontrials.describe.parse import (
    Match,
    ParsedText,
    SynonymResolver,
    parse_description,
    stated_diameter_mm,
)
from lesiontrials.describe.sentence import describe
from lesiontrials.describe.synonyms import MiniLMResolver, default_resolver, encoder_available

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
    "describe",
    "descriptors_from_lidc",
    "encoder_available",
    "parse_description",
    "stated_diameter_mm",
]
