"""``lesiontrials volumes build|score``: the 3-D track (whole volumes, FROC/CPM, AUROC)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lesiontrials.cli.console import make_console
from lesiontrials.cli.options import DataRootOption, WorkspaceOption

if TYPE_CHECKING:
    pass

console = make_console()
app = typer.Typer(no_args_is_help=True,
                  help="Volume sets and 3-D models (detection FROC/CPM, malignancy AUROC).")


@app.command("build")
def build(
    trial: Annotated[list[str] | None, typer.Argument(help="Trial(s) whose rendered cases "
                                                           "form the set.")] = None,
    real: Annotated[bool, typer.Option("--real", help="The data root's scans instead.")]
    = False,
    workspace: WorkspaceOption = None,
    data_root: DataRootOption = None,
) -> None:
    """Build volume sets: CT + realised truth per nodule + frozen scan list."""
    from lesiontrials.paths import DataRoot, Workspace
    from lesiontrials.settings import load_settings
    from lesiontrials.slicing.volumes import build_real_volume_set, build_volume_set

    if bool(trial) == real:
        raise typer.BadParameter("give trial name(s) or --real (one of them)")
    settings = load_settings(workspace=workspace, data_root=data_root)
    space = Workspace(settings.workspace)
    built = ([build_real_volume_set(data_root=DataRoot(settings.resolved_data_root),
                                    workspace=space)] if real else
             [build_volume_set(trial=t, workspace=space) for t in trial or []])
    for s in built:
        console.print(f"[green]{s.name}[/]: {len(s.scans)} scans, {len(s.truth)} nodules, "
                      f"{len(s.left_out)} left out → {space.volume_set_dir(s.name)}")


@app.command("score")
def score(
    sets: Annotated[list[str] | None, typer.Option(
        "--set", "-s", help="Volume set(s) (default: every volume set).")] = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Baseline(s): log_blob_3d, brock_like (default: both).")] = None,
    models_yaml: Annotated[Path | None, typer.Option(
        "--models", help="Models YAML with a volume_models: list (callable, TorchScript, "
        "MONAI bundle; merlin/colipri vision-language encoders).")]
    = None,
    trained: Annotated[list[Path] | None, typer.Option(
        "--trained", help="Checkpoint of a 3-D patch CNN (`lesiontrials train --kind "
                          "patch3d`), scored as a detector; repeatable.")] = None,
    force: Annotated[bool, typer.Option(help="Re-run even when results are current.")]
    = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Run 3-D models over volume sets (detectors → candidates, malignancy → probabilities,
    vision-language encoders → zero-shot answers and embeddings)."""
    from lesiontrials.paths import Workspace
    from lesiontrials.scoring.volume_runner import score_volume_sets
    from lesiontrials.settings import load_settings
    from lesiontrials.training.patch_detector import TrainedPatchDetector

    space = Workspace(load_settings(workspace=workspace).workspace)
    extra = [TrainedPatchDetector(model_path=path) for path in trained or []]
    for line in score_volume_sets(space, sets=sets, names=model, models_yaml=models_yaml,
                                  extra=extra, force=force):
        console.print(line)
