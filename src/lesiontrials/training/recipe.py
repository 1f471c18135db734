"""The training recipe: every choice that changes the weights, typed and hashed.

The recipe hash and the data hash (:func:`lesiontrials.training.data.data_hash`) together
name a training run: a checkpoint is resumed only under the same pair.
"""

from __future__ import annotations

import hashlib
import json
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lesiontrials.slicing.contract import CONDITIONS

RECIPE_VERSION = "slice-cnn-1"
PATCH_RECIPE_VERSION = "patch-cnn-3d-1"


class _Recipe(BaseModel):
    """What every training recipe shares: the seed, the optimiser and the early-stopping
    rule; ``record``/``digest`` name the recipe with its ``version``. ``val_fraction`` is a
    share of cases or scans (never slices or patches); ``patience``: epochs without a lower
    validation loss before training stops, keeping the best epoch's weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: ClassVar[str]

    seed: int = Field(default=0, ge=0)
    epochs: int = Field(default=20, ge=1, le=1000)
    batch_size: int = Field(default=32, ge=2, le=4096)  # batch norm: a batch of one is skipped
    learning_rate: float = Field(default=2e-3, gt=0, le=1.0)
    weight_decay: float = Field(default=1e-4, ge=0, le=1.0)
    val_fraction: float = Field(default=0.2, gt=0, lt=1)
    patience: int = Field(default=4, ge=1)

    def record(self) -> dict[str, object]:
        """The recipe as plain JSON-able values (with its version)."""
        return {"recipe_version": self.version, **self.model_dump(mode="json")}

    def digest(self) -> str:
        """SHA-256 (16 hex) of the recipe record."""
        text = json.dumps(self.record(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class TrainRecipe(_Recipe):
    """A seeded, deterministic recipe for the slice CNN.

    ``image_size``: images are area-resampled to this square size (pixels) before the
    network sees them. ``val_fraction``: share of *cases* (never slices) held out for
    validation and early stopping. ``patience``: epochs without a lower validation loss
    before training stops; the weights of the best epoch are kept.
    Augmentation (``flip``, ``shift_px``, ``intensity_jitter``) is drawn per epoch from
    the seed, so it is identical on every run.
    """

    version: ClassVar[str] = RECIPE_VERSION
    image_size: int = Field(default=64, ge=16, le=512)
    width: int = Field(default=16, ge=4, le=256)
    profile: Literal["lung"] = "lung"
    conditions: tuple[str, ...] = ("plain",)
    flip: bool = True
    shift_px: int = Field(default=2, ge=0, le=32)
    intensity_jitter: float = Field(default=0.05, ge=0, le=0.5)
    size_weight: float = Field(default=0.5, ge=0)
    lobe_weight: float = Field(default=0.5, ge=0)

    @field_validator("conditions")
    @classmethod
    def _known_conditions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(CONDITIONS))
        if unknown or not value:
            raise ValueError(f"conditions {list(value)}: use some of {list(CONDITIONS)}")
        return value




class PatchRecipe(_Recipe):
    """A seeded, deterministic recipe for the 3-D patch CNN (nodule present in a patch).

    Patches are cubes of ``patch_size``³ voxels resampled (trilinear, in RAS world mm) to an
    isotropic ``spacing_mm`` around a centre, so the field of view is ``patch_size ·
    spacing_mm`` mm whatever the CT's voxels (default 32 × 1.5 mm = 48 mm). HU are clipped
    to [−1000, 400] and scaled to [0, 1]. Positives are centred on realised nodule centres
    (jittered by up to ``jitter_mm`` per axis); negatives are ``random_negatives`` random
    lung locations and up to ``hard_negatives`` blob-detector candidates per scan, each at
    least ``min_distance_mm`` plus the nodule's radius from every nodule of the scan.
    ``val_fraction``: share of *scans* held out for validation and early stopping.
    """

    version: ClassVar[str] = PATCH_RECIPE_VERSION
    patch_size: int = Field(default=32, ge=8, le=96)
    spacing_mm: float = Field(default=1.5, gt=0.1, le=10.0)
    width: int = Field(default=8, ge=2, le=128)
    random_negatives: int = Field(default=4, ge=0, le=256)
    hard_negatives: int = Field(default=4, ge=0, le=256)
    min_distance_mm: float = Field(default=15.0, ge=0)
    jitter_mm: float = Field(default=2.0, ge=0)
    flip: bool = True
    intensity_jitter: float = Field(default=0.05, ge=0, le=0.5)

