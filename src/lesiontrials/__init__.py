"""lesiontrials: programmable virtual lesion trials in lung CT.

The public API: one call per pipeline stage, thin wrappers over :mod:`lesiontrials.pipeline`
(which the command line calls too). Each takes the run's :class:`~lesiontrials.settings.
Settings` (``lt.load_settings(workspace=..., data_root=..., workers=...)``), prints nothing
unless given a ``reporter`` and raises :class:`~lesiontrials.errors.StageFailedError` when
cases of a per-case stage failed (their summaries are written; re-running resumes).

    import lesiontrials as lt
    s = lt.load_settings(workspace="ws", data_root="world", workers=2)
    lt.load_index(s); lt.plan(s, design=2); lt.insert_nodules(s); lt.render_ct(s)
    lt.build_slices(s); lt.score(s); report = lt.analyze(s)

Importing the package is cheap: the stages are imported on first use. Inserting and
rendering are ``insert_nodules`` and ``render_ct`` (and settings come from
``load_settings``): ``insert``, ``render`` and ``settings`` are the modules
:mod:`lesiontrials.insert`, :mod:`lesiontrials.render` and :mod:`lesiontrials.settings`,
and importing a submodule rebinds the package attribute of its name, so a function of
that name would be replaced by the module on the first ``import lesiontrials.render.…``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lesiontrials.execution import Executor, ProgressReporter
    from lesiontrials.index import NoduleIndex
    from lesiontrials.pipeline import PlanRecord, RunRecord, StageRecord
    from lesiontrials.scoring.models.config import ModelConfig
    from lesiontrials.scoring.runner import ScoreSummary
    from lesiontrials.settings import Settings

__version__ = "0.1.0"
__all__ = ["analyze", "build_slices", "insert_nodules", "load_index", "load_settings", "plan",
           "render_ct", "run", "score"]


def load_settings(**values: Any) -> Settings:
    """The run's settings: ``values`` (``workspace``, ``data_root``, ``seed``, ``workers``,
    …) over ``LESIONTRIALS_*`` variables and ``.env``; a bad value is an error naming it.

    >>> lt.load_settings(workspace=str(workspace), seed=3, workers=1).seed
    3
    """
    from lesiontrials.settings import load_settings as load

    return load(**values)


def load_index(settings: Settings) -> NoduleIndex:
    """The harmonised nodule index of ``settings.data_root``: built into the workspace
    (``index/nodules.parquet``) when absent, then loaded. One row per donor nodule; sizes
    in mm, volumes in mm³.

    >>> index = lt.load_index(s)
    >>> len(index.table) > 0 and float(index.table["nodule_mean_diam_mm"].min()) > 0
    True
    """
    from lesiontrials.index import NoduleIndex
    from lesiontrials.paths import Workspace
    from lesiontrials.pipeline import build_index

    path = Workspace(settings.workspace).index_table
    if not path.is_file():
        build_index(settings)
    return NoduleIndex.load(path)


def plan(settings: Settings, *, spec: Any = None, design: str | int | None = None,
         size: str = "demo") -> PlanRecord:
    """Plan a trial from ``spec`` (a TrialSpec, a dict of its fields, or a YAML/JSON path)
    or ``design`` (1-14 or its name; ``size``: ``demo`` or ``paper`` case counts), or with
    neither every feasible design. Writes ``trials/NAME/manifest.parquet`` and ``plan.json``.

    >>> record = lt.plan(s, spec={"name": "doc", "n_cases": 4, "nodule_free_fraction": 0.5})
    >>> [(p.name, p.info["audit"]["cases"]) for p in record.plans]
    [('doc', 4)]
    """
    from lesiontrials import pipeline

    if isinstance(spec, dict):
        from lesiontrials.trials import TrialSpec

        spec = TrialSpec.model_validate(spec)
    return pipeline.plan(settings, spec=spec, design=design, size=size)


def insert_nodules(settings: Settings, executor: Executor | None = None, *,
           trials: Sequence[str] | None = None, reporter: ProgressReporter | None = None,
           check: bool = True) -> StageRecord:
    """Transplant donor nodules into host label maps (``cases/TRIAL/CASE/labels.nii.gz``,
    ``insert.json``) for ``trials`` (default: every planned trial). ``check``: raise when
    cases failed.

    >>> lt.insert_nodules(s, trials=["doc"]).summaries[0]["status"]["done"]
    4
    """
    from lesiontrials import pipeline

    record = pipeline.insert(settings, executor, trials=trials, reporter=reporter)
    return _checked(record, check)


def render_ct(settings: Settings, executor: Executor | None = None, *,
           trials: Sequence[str] | None = None, backend: str = "auto",
           reporter: ProgressReporter | None = None, check: bool = True) -> StageRecord:
    """Render inserted cases to CT in HU (``ct.nii.gz``, ``render.json``, ``qc.png`` per
    case; same grid as the host) with ``backend`` (``auto``: real hosts keep their CT,
    phantoms are rendered analytically).

    >>> lt.render_ct(s, trials=["doc"]).summaries[0]["rendered"]
    4
    """
    from lesiontrials import pipeline

    record = pipeline.render(settings, executor, trials=trials, backend=backend,
                             reporter=reporter)
    return _checked(record, check)


def build_slices(settings: Settings, executor: Executor | None = None, *,
                 trials: Sequence[str] | None = None, real: bool = False,
                 reporter: ProgressReporter | None = None, check: bool = True
                 ) -> StageRecord:
    """Build 2-D evaluation sets (``eval/TRIAL/``): the centre slice of each nodule and a
    nodule-free slice per negative case, ± 1 context slice, 4 guidance conditions, 2
    window profiles, as 8-bit PNGs; ``real``: the data root's real scans instead.

    >>> record = lt.build_slices(s, trials=["doc"])
    >>> record.summaries[0].positives > 0
    True
    """
    from lesiontrials import pipeline

    record = pipeline.build_slices(settings, executor, trials=trials, real=real,
                                   reporter=reporter)
    return _checked(record, check)


def score(settings: Settings, executor: Executor | None = None, *,
          models: Sequence[str | ModelConfig] | None = None,
          sets: Sequence[str] | None = None,
          reporter: ProgressReporter | None = None) -> list[ScoreSummary]:
    """Score ``models`` (registry names or configs; default: the weight-free baselines) on
    evaluation ``sets`` (default: every set); results are Parquet shards under
    ``results/MODEL/SET/CONDITION/TASK/``. Resumes; re-scores a changed prompt or version.

    >>> [summary.model for summary in lt.score(s, models=["majority"])]
    ['majority']
    """
    from lesiontrials import pipeline

    configs = _model_configs(models)
    return pipeline.score(settings, executor, models=configs, sets=sets, reporter=reporter)


def analyze(settings: Settings, *, name: str = "main", replicates: int = 2000) -> Path:
    """Freeze the reporting split over every scored set and model, then write the report
    (``reports/NAME/report.html``, ``.md``, tables, figures): accuracies with intervals
    that resample cases, donors and hosts, the donor/host diagnostic and the council.

    >>> report = lt.analyze(s, name="doc", replicates=20)
    >>> report.name, report.is_file()
    ('report.html', True)
    """
    from lesiontrials import pipeline

    pipeline.freeze_split(settings)
    return pipeline.analyze(settings, name=name, replicates=replicates)


def run(settings: Settings, executor: Executor | None = None, *, size: str = "demo",
        models: Sequence[str | ModelConfig] | None = None, keep_going: bool = False,
        reporter: ProgressReporter | None = None) -> RunRecord:
    """The whole job, as ``lesiontrials run``: world → index → plan (all 14 designs) →
    insert → render → slices → score → split → volumes → analyze; returns every stage's
    record and the report's path. Minutes on the demo world (``size="demo"``).

    >>> record = lt.run(lt.load_settings(workspace="ws"))  # doctest: +SKIP
    >>> record.report  # doctest: +SKIP
    PosixPath('ws/reports/demo/report.html')
    """
    from lesiontrials import pipeline

    return pipeline.run(settings, executor, size=size, models=_model_configs(models),
                        keep_going=keep_going, reporter=reporter)


def _model_configs(models: Sequence[str | ModelConfig] | None) -> list[ModelConfig] | None:
    """Registry names as configs (validated), configs as they are."""
    if models is None:
        return None
    from lesiontrials.scoring.models.config import from_cli

    return [from_cli([m], model_path=None, options={})[0] if isinstance(m, str) else m
            for m in models]


def _checked(record: StageRecord, check: bool) -> StageRecord:
    if check:
        record.check()
    return record
