"""Row records of the tables that pass between stages.

:class:`EvalItem` is one row of ``eval/{set}/{profile}/cases.parquet`` (written by
``lesiontrials slices``, read by ``score`` and ``analyze``); :class:`ResultRow` one row of a
result shard ``results/{model}/{set}/{condition}/{task}/part-*.parquet`` (written by
``score``, read by ``analyze`` and the web app). The column lists of those tables are these
models' field names, in this order, so the code that writes a table and the code that
reads it share one definition; :func:`lesiontrials.io.check_columns` refuses a table that
lacks a column, naming the file and the stage to re-run.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from lesiontrials.records.base import MaybeFloat, Strict


class TableRow(Strict):
    """A row of a stage's table; ``STAGE`` is the command that writes the table."""

    STAGE: ClassVar[str]


class EvalItem(TableRow):
    """One evaluation item: a 2-D slice shown under one condition and display profile."""

    STAGE: ClassVar[str] = "slices"

    slice_uid: str = Field(description="canonical id: same for every condition and profile "
                           "of a slice")
    set: str = Field(description="evaluation set name (a trial name, or 'real')")
    source: Literal["synthetic", "real"]
    kind: Literal["positive", "negative"] = Field(description="through a nodule, or a "
                                                   "nodule-free slice")
    profile: str = Field(description="display profile: 'lung' or 'medgemma_rgb'")
    condition: str = Field(description="how the slice is shown (guided negatives show a "
                           "decoy overlay)")
    image_path: str = Field(description="centre slice PNG, relative to the set/profile folder")
    context_paths: str = Field(description="JSON list of the [z-1, z, z+1] PNG paths")
    trial: str
    design: str
    case_uid: str
    nodule_index: int = Field(description="-1 for negatives")
    host_dataset: str
    host_ct_id: str
    donor_uid: str
    donor_dataset: str
    z_index: int = Field(description="axial slice index in the case volume")
    truth_presence: Literal["present", "absent"]
    truth_lobe: str = Field(description="canonical lobe name ('' for negatives or when the "
                            "slice's nodules disagree)")
    truth_size: str = Field(description="task size bin ('' for negatives)")
    diameter_mm: MaybeFloat = Field(description="realised equivalent diameter (mm; null for "
                                    "negatives)")
    label: int | None = Field(description="malignancy label of the donor (null: unknown)")
    appearance: str = Field(description="one-line lesion description ('' if none)")
    bbox_x0: int = Field(description="drawn box in image pixels (-1 if none; a negative's "
                         "box encloses its decoy)")
    bbox_y0: int
    bbox_x1: int
    bbox_y1: int
    pixel_spacing_mm: float = Field(description="in-plane pixel size (mm)")
    mask_area_px: int = Field(description="the nodule's pixels on the centre slice (0 for "
                              "negatives)")
    nodules_on_slice: str = Field(description="JSON list of every nodule on the centre slice")
    inputs_sha256: str = Field(description="digest of the case's inputs and slice parameters")
    overlay_decoy: bool = Field(description="audit only, never shown to a model: the overlay "
                                "marks a decoy")


class ResultRow(TableRow):
    """One answer of a model to one item under one task and prompt paraphrase."""

    STAGE: ClassVar[str] = "score"

    slice_uid: str
    model: str
    model_version: str
    prompt_hash: str
    run_key: str = Field(description="hash of model, version, prompt and profile")
    task: str = Field(description="presence, lobe or size")
    condition: str
    profile: str
    set: str
    kind: Literal["positive", "negative"]
    option: str = Field(description="the parsed answer ('' when unparsed)")
    raw_text: str = Field(description="the model's raw output")
    parse_status: str
    correct: bool
    truth: str
    scores_json: str = Field(description="JSON object of option scores ('' when none)")
    paraphrase: str = Field(description="prompt paraphrase id ('p0' canonical)")
