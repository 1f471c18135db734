"""``render.json``: how one case was rendered (written by ``lesiontrials render``).

HU values in Hounsfield units, lengths in mm. The nested acquisition, host facts,
fidelity and backend QC blocks are the render stage's own measurement reports (each is
defined by the module that measures it), kept as JSON objects here.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from lesiontrials.records.base import MaybeFloat, StageRecord, Strict

RENDER_SCHEMA_VERSION = 4  # 4: ct_z_range_mm (a case's CT may be an axial slab)
"""Version of the record's layout (bump when a field is added, renamed or changes meaning).
It starts at 3 because ``render.json`` files before the typed record stored the renderer
version (then 3) here; the renderer version now lives only in the resume key."""


class OutputFile(Strict):
    """An output file's size (bytes) and SHA-256, to tell an intact file from a stale one."""

    bytes: int
    sha256: str


class RenderedLesion(Strict):
    """One rendered lesion: its look (descriptors, the sentence), where its shape came
    from (``donor_mask``, ``host_mask``, or ``source_shape``: a phantom native's library
    source, render/appearance/shape_source.py) and its measured fidelity."""

    nodule_index: int
    donor_uid: str | None
    descriptors: dict[str, Any]
    description: str
    appearance_text: str
    shape_source: Literal["donor_mask", "host_mask", "source_shape"]
    fidelity: dict[str, Any]


class RenderRecord(StageRecord):
    """``cases/{trial}/{case}/render.json``: backend, seeds, acquisition, lesions, outputs."""

    SCHEMA_VERSION: ClassVar[int] = RENDER_SCHEMA_VERSION
    READS: ClassVar[tuple[int, ...]] = (RENDER_SCHEMA_VERSION,)
    STAGE: ClassVar[str] = "render"

    case_uid: str
    trial: str | None
    status: Literal["done"]
    inputs_sha256: str
    backend: str
    seed: int
    global_seed: int
    appearance_override: str
    appearance_override_size_ignored_mm: MaybeFloat
    host_facts: dict[str, Any]
    acquisition: dict[str, Any]
    ct_file: str
    qc_file: str
    #: World z (mm) of the CT's first and last slice centres, and whether the CT is an
    #: axial slab of the host rather than its whole volume (see ``insert.json`` host).
    ct_z_range_mm: tuple[float, float]
    ct_is_slab: bool
    lesions: list[RenderedLesion]
    backend_qc: dict[str, Any]
    fidelity: dict[str, Any]
    brief: dict[str, Any]
    outputs: dict[str, OutputFile]

    @property
    def on_host_ct(self) -> bool:
        """Whether the image is the host's real CT (its native nodules are in it)."""
        return self.backend == "host-ct"
