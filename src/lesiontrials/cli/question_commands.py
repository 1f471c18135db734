"""``lesiontrials questions``: the CT question bank of a trial (docs/vqa.md)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from rich.console import Console

from lesiontrials.cli.options import WorkspaceOption

console = Console()


def questions(
    trial: Annotated[str, typer.Argument(help="Trial whose inserted cases to ask about.")],
    workspace: WorkspaceOption = None,
    dev_fraction: Annotated[float, typer.Option(help="Share of cases in the dev split.",
                                                min=0.0, max=1.0)] = 0.2,
) -> None:
    """Question bank from realised truth → questions/{trial}.json."""
    from lesiontrials.evaluate.questions.workspace import write_question_bank
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings

    settings = load_settings(workspace=workspace)
    path, items = write_question_bank(Workspace(settings.workspace), trial,
                                      seed=settings.seed, dev_fraction=dev_fraction)
    for category, n in sorted(Counter(i.category for i in items).items()):
        console.print(f"  {category}: {n} items")
    console.print(f"[green]questions[/] {len(items)} → {path}")
