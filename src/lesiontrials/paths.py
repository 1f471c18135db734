"""Every path the pipeline reads or writes is built here and nowhere else.

``DataRoot`` is the read-only input in the release layout::

    raw_ct/{DS}/{ct_id}.nii.gz
    masks/{DS}/refined_seg/{ct_id}_seg.nii.gz
    masks/{DS}/nodule_seg/{annotation_id}.nii.gz
    profiles/{DS}_nodule_profiles.csv
    meta/

``Workspace`` holds everything lesiontrials writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lesiontrials.errors import BadNameError, MissingPathError

PROFILES_SUFFIX = "_nodule_profiles.csv"

# The files of one case folder ``cases/{trial}/{case}/`` (see :class:`CaseFiles`).
INSERT_JSON = "insert.json"
INSERT_TIMING_JSON = "insert_timing.json"  # wall-clock seconds: differs per run
LABELS_FILE = "labels.nii.gz"
RENDER_JSON = "render.json"
RENDER_TIMING_JSON = "render_timing.json"  # wall-clock seconds: differs per run
CT_FILE = "ct.nii.gz"
QC_FILE = "qc.png"
PLAN_JSON = "plan.json"
EVAL_ITEMS_FILE = "cases.parquet"  # eval/{set}/{profile}/: one EvalItem per row
RESULTS_CURRENT_JSON = "current.json"  # results/{model}/{set}/{condition}/{task}/: latest run
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
MAX_NAME_CHARS = 200  # a file name component; file systems stop at 255 bytes


def strip_volume_suffix(name: str) -> str:
    """``DLCS_0001.nii.gz`` → ``DLCS_0001`` (the ct_id convention)."""
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def check_name(value: str, *, what: str) -> str:
    """Refuse names that could escape a directory (``..``, slashes, empty)."""
    if (not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value
            or len(value) > MAX_NAME_CHARS):
        raise BadNameError(
            f"invalid {what} {str(value)[:80]!r}: it must not contain '/', '..', start with "
            f"'.' or exceed {MAX_NAME_CHARS} characters",
            fix="use a plain name of letters, digits, '_', '-' and '.'")
    return value


@dataclass(frozen=True)
class DataRoot:
    """A data root in the iTrialSpace_Lung release layout (read-only)."""

    root: Path
    setting: str = "LESIONTRIALS_DATA_ROOT"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def require(self) -> DataRoot:
        """Raise a helpful error when the root or its profiles directory is missing."""
        if not self.root.is_dir():
            raise MissingPathError(
                "data root directory not found", path=self.root,
                fix=f"set {self.setting} to a directory in the release layout, "
                "or build the embedded world with `lesiontrials world build`",
            )
        if not self.profiles_dir.is_dir():
            raise MissingPathError(
                "data root has no profiles/ directory", path=self.profiles_dir,
                fix=f"point {self.setting} at the release root (it holds profiles/ and masks/)",
            )
        return self

    @property
    def profiles_dir(self) -> Path:
        return self.root / "profiles"

    @property
    def meta_dir(self) -> Path:
        return self.root / "meta"

    def profiles_csv(self, dataset: str) -> Path:
        return self.profiles_dir / f"{check_name(dataset, what='dataset')}{PROFILES_SUFFIX}"

    def datasets(self) -> list[str]:
        """Dataset names with a profiles CSV, sorted."""
        if not self.profiles_dir.is_dir():
            return []
        return sorted(
            p.name[: -len(PROFILES_SUFFIX)] for p in self.profiles_dir.glob(f"*{PROFILES_SUFFIX}")
        )

    def raw_ct(self, dataset: str, ct_id: str) -> Path:
        return self.root / "raw_ct" / check_name(dataset, what="dataset") / f"{ct_id}.nii.gz"

    def raw_ct_from_profile(self, ct_path: str) -> Path:
        """``ct_path`` in profiles is relative to ``raw_ct/``."""
        relative = Path(ct_path)
        if relative.is_absolute() or ".." in relative.parts:
            raise BadNameError(f"ct_path must be relative to raw_ct/, got {ct_path!r}",
                               column="ct_path",
                               fix="write ct_path as DATASET/CT_ID.nii.gz without '..'")
        return self.root / "raw_ct" / relative

    def refined_seg(self, dataset: str, ct_id: str) -> Path:
        return (self.root / "masks" / check_name(dataset, what="dataset") / "refined_seg"
                / f"{ct_id}_seg.nii.gz")

    def nodule_seg_dir(self, dataset: str) -> Path:
        return self.root / "masks" / check_name(dataset, what="dataset") / "nodule_seg"

    def nodule_seg(self, dataset: str, annotation_id: str) -> Path:
        return self.nodule_seg_dir(dataset) / f"{annotation_id}.nii.gz"

    def meta_csv(self, dataset: str, table: str) -> Path:
        return self.meta_dir / f"{check_name(dataset, what='dataset')}_{table}.csv"

    def relative(self, path: Path) -> str:
        return str(Path(path).relative_to(self.root))


def nodule_mask_file(nodule_index: int) -> str:
    """``nodule_{k}.nii.gz``: the crop mask of a case's ``k``-th inserted nodule."""
    return f"nodule_{int(nodule_index)}.nii.gz"


@dataclass(frozen=True)
class CaseFiles:
    """The files of one case folder: insertion writes ``insert.json``, ``labels.nii.gz``
    and the nodule masks; rendering writes ``ct.nii.gz``, ``qc.png`` and ``render.json``."""

    folder: Path

    @property
    def insert_json(self) -> Path:
        return self.folder / INSERT_JSON

    @property
    def insert_timing(self) -> Path:
        return self.folder / INSERT_TIMING_JSON

    @property
    def labels(self) -> Path:
        return self.folder / LABELS_FILE

    def nodule_mask(self, nodule_index: int) -> Path:
        return self.folder / nodule_mask_file(nodule_index)

    @property
    def render_json(self) -> Path:
        return self.folder / RENDER_JSON

    @property
    def render_timing(self) -> Path:
        return self.folder / RENDER_TIMING_JSON

    @property
    def ct(self) -> Path:
        return self.folder / CT_FILE

    @property
    def qc(self) -> Path:
        return self.folder / QC_FILE


@dataclass(frozen=True)
class ResultCell:
    """One scored cell: a model's answers on one set, condition and task."""

    model: str
    eval_set: str
    condition: str
    task: str


@dataclass(frozen=True)
class Workspace:
    """Everything lesiontrials writes lives under one workspace directory."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def index_table(self) -> Path:
        return self.index_dir / "nodules.parquet"

    def questions_file(self, trial: str) -> Path:
        """``questions/{trial}.json``: the question bank of a trial's cases."""
        return self.root / "questions" / f"{check_name(trial, what='trial name')}.json"

    def question_results_dir(self, model: str) -> Path:
        """``questions/results/{model}/``: a model's answers to question banks
        (``{trial}.parquet``) and its generated reports (``{trial}.reports.json``)."""
        return self.root / "questions" / "results" / check_name(model, what="model name")

    @property
    def survival_dir(self) -> Path:
        """``survival/``: the survival head's record (``lesiontrials survival``)."""
        return self.root / "survival"

    @property
    def index_info(self) -> Path:
        return self.index_dir / "index.json"

    def trial_dir(self, trial: str) -> Path:
        return self.root / "trials" / check_name(trial, what="trial name")

    def case_dir(self, trial: str, case: str) -> Path:
        return (self.root / "cases" / check_name(trial, what="trial name")
                / check_name(case, what="case id"))

    def case_files(self, trial: str, case: str) -> CaseFiles:
        """The files of ``cases/{trial}/{case}/`` (names checked like :meth:`case_dir`)."""
        return CaseFiles(self.case_dir(trial, case))

    def plan_json(self, trial: str) -> Path:
        """``trials/{trial}/plan.json``: the trial's plan record."""
        return self.trial_dir(trial) / PLAN_JSON

    def cases_dir(self, trial: str) -> Path:
        """``cases/{trial}``: every case of a trial, plus its per-stage summaries."""
        return self.root / "cases" / check_name(trial, what="trial name")

    def eval_dir(self, eval_set: str, profile: str) -> Path:
        return self.root / "eval" / check_name(eval_set, what="set") / check_name(
            profile, what="profile")

    def eval_set_dir(self, eval_set: str) -> Path:
        """``eval/{set}``: the set's profiles, per-case parts and ``set.json``."""
        return self.root / "eval" / check_name(eval_set, what="set")

    def eval_items_file(self, eval_set: str, profile: str) -> Path:
        """``eval/{set}/{profile}/cases.parquet``: the set's items for one profile."""
        return self.eval_dir(eval_set, profile) / EVAL_ITEMS_FILE

    def eval_items_files(self) -> list[Path]:
        """Every set's items file, sorted (set, then profile)."""
        return sorted((self.root / "eval").glob(f"*/*/{EVAL_ITEMS_FILE}"))

    def result_cells(self) -> list[ResultCell]:
        """Every result cell that has a finished run (its ``current.json``), sorted."""
        markers = sorted(self.results_root.glob(f"*/*/*/*/{RESULTS_CURRENT_JSON}"))
        return [ResultCell(*m.parent.relative_to(self.results_root).parts) for m in markers]

    @property
    def results_root(self) -> Path:
        return self.root / "results"

    def split_file(self, name: str) -> Path:
        """``splits/{name}.json``: a frozen evaluation split."""
        return self.root / "splits" / f"{check_name(name, what='split name')}.json"

    def results_dir(self, model: str, eval_set: str, condition: str, task: str) -> Path:
        parts = [check_name(p, what="results key") for p in (model, eval_set, condition, task)]
        return self.root.joinpath("results", *parts)

    def volume_set_dir(self, name: str) -> Path:
        """``volumes/{set}``: a volume evaluation set (scans, truth, frozen uid list)."""
        return self.root / "volumes" / check_name(name, what="volume set")

    def volume_results_dir(self, model: str, volume_set: str) -> Path:
        """``volume_results/{model}/{set}``: a 3-D model's candidates or probabilities."""
        return (self.root / "volume_results" / check_name(model, what="model")
                / check_name(volume_set, what="volume set"))

    def report_dir(self, name: str) -> Path:
        return self.root / "reports" / check_name(name, what="report name")

    def trained_model_dir(self, name: str) -> Path:
        """``models/{name}``: a model trained on this workspace's trials (checkpoint)."""
        return self.root / "models" / check_name(name, what="model name")

    def improve_dir(self, name: str) -> Path:
        """``improve/{name}``: one run of the targeted loop (``improve.json``)."""
        return self.root / "improve" / check_name(name, what="improve run name")
