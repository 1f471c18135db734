"""The renderer contract: label map (+ lesions, acquisition, seed) → HU volume + QC numbers.

Every backend implements :class:`Renderer`::

    result = backend.render(labels=labels, spacing_mm=spacing, lesions=lesions,
                            acquisition=acquisition, seed=seed)

``labels`` is a uint8 MAISI label map in RAS+ ``(x, y, z)`` order on the host grid,
``spacing_mm`` its voxel size, ``lesions`` the nodules to draw (host-grid crops with their
descriptors), ``seed`` a non-negative int (derive it with
``lesiontrials.seeding.int_seed(seed, case_uid, "render")``). The result's ``hu`` has the
label map's shape, dtype int16; the caller keeps the host's affine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from lesiontrials.geometry import NoduleMask
from lesiontrials.lesion_text.descriptors import LesionDescriptors
from lesiontrials.shape_field import ShapeField

HU_MIN, HU_MAX = -1024, 3071


@dataclass(frozen=True)
class Acquisition:
    """Scanner settings: slice thickness (mm), tube voltage (kVp), tube current-time (mAs),
    reconstruction kernel (free text; classed as soft, standard or sharp)."""

    slice_thickness_mm: float = 1.25
    kvp: float = 120.0
    mas: float = 100.0
    kernel: str = "standard"
    scanner: str = ""

    def __post_init__(self) -> None:
        if not (self.slice_thickness_mm > 0 and self.kvp > 0 and self.mas > 0):
            raise ValueError(f"acquisition values must be positive: {self}")

    @property
    def kernel_class(self) -> str:
        """``soft``, ``standard`` or ``sharp`` from the kernel name (Siemens Bxxf numbers too)."""
        return kernel_class(self.kernel)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kernel_class": self.kernel_class}

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None, *,
                    default: Acquisition | None = None) -> Acquisition:
        """From a ``meta/{DS}_acquisition.csv`` row; missing or NaN values keep defaults."""
        base = default or cls()
        values: dict[str, Any] = {}
        for name in ("slice_thickness_mm", "kvp", "mas"):
            value = _number((record or {}).get(name))
            if value is not None and value > 0:
                values[name] = value
        for name in ("kernel", "scanner"):
            text = (record or {}).get(name)
            if isinstance(text, str) and text and text.lower() not in {"unknown", "nan"}:
                values[name] = text
        return cls(**{**asdict(base), **values})


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def kernel_class(kernel: str) -> str:
    """Class a reconstruction kernel name: ``soft`` / ``standard`` / ``sharp``.

    >>> kernel_class("sharp (B60f-like)"), kernel_class("B30f"), kernel_class("LUNG")
    ('sharp', 'soft', 'sharp')
    """
    text = kernel.lower()
    for word, cls in (("sharp", "sharp"), ("lung", "sharp"), ("bone", "sharp"),
                      ("soft", "soft"), ("smooth", "soft"), ("standard", "standard")):
        if word in text:
            return cls
    number = re.search(r"[bi](\d{2})", text)
    if number:
        value = int(number.group(1))
        return "soft" if value <= 35 else ("standard" if value <= 50 else "sharp")
    return "standard"


@dataclass(frozen=True)
class HostFacts:
    """Anatomy facts about a host measured once, by the world build, from its real CT
    (``meta/{DS}_hosts.csv`` columns of the same names); ``None`` where unknown (phantom
    hosts): a renderer then draws a population value per case.

    ``lung_density_hu``: median HU of the host's lung voxels (all lobes) in its own CT —
    the standard "median lung density"; the analytic renderer sets its parenchyma level so
    that the painted lungs have this median.
    ``psf_sigma_xy_mm``: the in-plane blur (Gaussian SD, mm) the host's own vessel edges
    show (:func:`lesiontrials.vessel_edges.vessel_edge_sigma_mm`); the host-CT renderer
    blurs a lesion by it, so a sharp margin is as sharp as the host's vessels.
    """

    lung_density_hu: float | None = None
    psf_sigma_xy_mm: float | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> HostFacts:
        """From a ``meta/{DS}_hosts.csv`` row; missing or NaN values stay unknown."""
        row = record or {}
        return cls(lung_density_hu=_number(row.get("lung_density_hu")),
                   psf_sigma_xy_mm=_number(row.get("psf_sigma_xy_mm")))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ZSpread:
    """A real host's blur along z as its own anatomy shows it, measured once by the world
    build (:func:`lesiontrials.z_edge.z_spread_record`) and stored in its acquisition row
    (``meta/{DS}_acquisition.csv``, columns ``z_spread_*``).

    ``sigma_mm``: the total edge SD along z (slice profile and any further blur; ``None``:
    not measured); ``trusted``: whether the world build judged the reading to stand for the
    host's blur, ``note`` why not; ``version``: the measurement's version. The host-CT
    renderer uses only a trusted reading of the current version and otherwise the
    slice-thickness model, saying which in its QC (:meth:`unusable_because`).
    """

    sigma_mm: float | None = None
    trusted: bool = False
    note: str = ""
    version: int | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> ZSpread:
        """From a ``meta/{DS}_acquisition.csv`` row; missing columns: not measured."""
        row = record or {}
        version = _number(row.get("z_spread_version"))
        note = row.get("z_spread_note")
        return cls(sigma_mm=_number(row.get("z_spread_sigma_mm")),
                   trusted=_number(row.get("z_spread_trusted")) == 1,
                   note=note if isinstance(note, str) else "",
                   version=None if version is None else int(version))

    def unusable_because(self) -> str | None:
        """Why the renderer may not draw with this reading (``None``: it may)."""
        from lesiontrials.z_edge import Z_SPREAD_VERSION

        if self.version is None:
            return "no z spread stored with the host (world built before it was measured)"
        if self.version != Z_SPREAD_VERSION:
            return (f"stored z spread is version {self.version}, not {Z_SPREAD_VERSION}: "
                    "rebuild the world")
        if not self.trusted or self.sigma_mm is None:
            return f"host reading not trusted: {self.note or 'no reading'}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LesionSpec:
    """One lesion to draw: its host-grid crop mask (the truth label), appearance, index in
    the case and, where its donor mask is at hand, its continuous shape (built from the
    donor at the donor's resolution; without it the renderer builds one from ``mask``)."""

    mask: NoduleMask
    descriptors: LesionDescriptors = field(default_factory=LesionDescriptors)
    index: int = 0
    shape_field: ShapeField | None = None
    # ``shape_field`` comes from the donor's source (a phantom native's fine library mask)
    shape_from_source: bool = False
    # the donor's own texture (quantiles of its core HU about the mean, less its scan's
    # noise: render/appearance/texture_source.py); empty: textured from the descriptors
    texture_quantiles_hu: tuple[float, ...] = ()


@dataclass(frozen=True)
class RenderResult:
    """``hu``: int16 volume on the label grid; ``qc``: JSON-ready numbers about the render."""

    hu: np.ndarray
    qc: dict[str, Any] = field(default_factory=dict)


class Renderer(Protocol):
    """A rendering backend (see the module docstring for the contract)."""

    name: str

    def render(self, *, labels: np.ndarray, spacing_mm: tuple[float, float, float],
               lesions: Sequence[LesionSpec], acquisition: Acquisition,
               seed: int) -> RenderResult: ...


def to_hu_int16(volume: np.ndarray) -> np.ndarray:
    """Round and clip a HU volume to int16 in the CT range [-1024, 3071]."""
    if volume.dtype.kind == "f":
        rounded = np.clip(volume, HU_MIN, HU_MAX)
        np.rint(rounded, out=rounded)
        return rounded.astype(np.int16)
    return np.clip(volume, HU_MIN, HU_MAX).astype(np.int16)
