"""``lesiontrials questions``: the CT question bank of a trial (docs/vqa.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from lesiontrials.cli.model_commands import (
    ModelNamesOption,
    ModelOptionsOption,
    ModelPathOption,
    ModelsFileOption,
    model_configs,
)
from lesiontrials.cli.options import WorkersOption, WorkspaceOption
from lesiontrials.scoring.questions.track import QUESTION_BASELINES

if TYPE_CHECKING:
    pass

console = Console()


def questions(
    trial: Annotated[str, typer.Argument(help="Trial whose inserted cases to ask about.")],
    workspace: WorkspaceOption = None,
    dev_fraction: Annotated[float, typer.Option(help="Share of cases in the dev split.",
                                                min=0.0, max=1.0)] = 0.2,
) -> None:
    """Question bank from realised truth → questions/{trial}.json."""
    from lesiontrials.paths import Workspace
    from lesiontrials.scoring.questions.workspace import write_question_bank
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace)
    path, items = write_question_bank(Workspace(settings.workspace), trial,
                                      seed=settings.seed, dev_fraction=dev_fraction)
    for category, n in sorted(Counter(i.category for i in items).items()):
        console.print(f"  {category}: {n} items")
    console.print(f"[green]questions[/] {len(items)} → {path}")


def ask(
    trial: Annotated[str, typer.Argument(help="Trial whose question bank to ask.")],
    model: ModelNamesOption = None,
    model_path: ModelPathOption = None,
    option: ModelOptionsOption = None,
    models_file: ModelsFileOption = None,
    reader: Annotated[bool, typer.Option(
        help="Also run the rules-based reader baseline (3-D detector + host lobe map).")]
    = True,
    volume_models: Annotated[Path | None, typer.Option(
        "--volume-models", help="Volume models YAML (`lesiontrials volumes`): each 3-D "
        "detector answers the recognition items through the reader's rules; each 3-D "
        "vision-language encoder (merlin/colipri) answers presence, lobe and side.")] = None,
    workspace: WorkspaceOption = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Items per model call.")] = 16,
    workers: WorkersOption = None,
) -> None:
    """Ask models a trial's question bank (test split) and the report task →
    questions/results/{model}/{trial}.parquet (docs/vqa.md). The rules reader reads its
    cases on ``--workers`` processes (readers of --volume-models: one, in this process)."""
    from lesiontrials.paths import DataRoot, Workspace
    from lesiontrials.scoring.models.config import model_factory
    from lesiontrials.scoring.models.volume_baselines import LogBlobDetector
    from lesiontrials.scoring.questions.ask import ask_reader, ask_slice_model
    from lesiontrials.scoring.questions.reader import RulesReader
    from lesiontrials.scoring.runner import ModelSpec
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace, workers=workers)
    space = Workspace(settings.workspace)
    configs = model_configs(model, model_path=model_path, options=option,
                            models_file=models_file, default=QUESTION_BASELINES)
    for config in configs:
        built = ModelSpec(config.name, model_factory(config)).build()
        path = ask_slice_model(built, workspace=space, trial=trial, batch_size=batch_size)
        _print_result(path, config.name)
    readers = [RulesReader()] if reader else []
    if volume_models is not None:
        from lesiontrials.scoring.models.volume_adapters import load_volume_models
        from lesiontrials.scoring.models.volume_vlm import VolumeVLM
        from lesiontrials.scoring.questions.vlm_answers import ask_volume_vlm
        from lesiontrials.scoring.volume_contract import VolumeDetector

        loaded = load_volume_models(volume_models)
        readers += [RulesReader(detector=m) for m in loaded if isinstance(m, VolumeDetector)]
        for encoder in (m for m in loaded if isinstance(m, VolumeVLM)):
            _print_result(ask_volume_vlm(encoder, workspace=space, trial=trial), encoder.name)
    for rules in readers:  # a user's detector may hold a model: not sent to a pool
        default = isinstance(rules.detector, LogBlobDetector)
        path = ask_reader(rules, workspace=space,
                          data_root=DataRoot(settings.resolved_data_root), trial=trial,
                          workers=settings.workers if default else 1)
        _print_result(path, rules.name)


def _print_result(path: Path, name: str) -> None:
    import pandas as pd

    rows = pd.read_parquet(path)
    answered = rows[rows["status"] == "answered"]
    accuracy = answered["correct"].mean() if len(answered) else float("nan")
    console.print(f"  [green]{name}[/] answered {len(answered)}/{len(rows)} items, "
                  f"accuracy {accuracy:.2f} → {path}")
