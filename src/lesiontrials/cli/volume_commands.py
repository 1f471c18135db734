"""``lesiontrials volumes build|score``: the 3-D track (whole volumes, FROC/CPM, AUROC)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lesiontrials.cli.console import make_console, model_label
from lesiontrials.cli.options import DataRootOption, WorkspaceOption

if TYPE_CHECKING:
    from lesiontrials.paths import DataRoot, Workspace

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
    from lesiontrials.evaluate.volumes import build_real_volume_set, build_volume_set
    from lesiontrials.paths import DataRoot, Workspace
    from lesiontrials.settings import load_settings

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
        "--models", help="Models YAML with a volume_models: list (callable/TorchScript).")]
    = None,
    force: Annotated[bool, typer.Option(help="Re-run even when results are current.")]
    = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Run 3-D models over volume sets (detectors → candidates, malignancy → probabilities)."""
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings

    space = Workspace(load_settings(workspace=workspace).workspace)
    for line in score_volume_sets(space, sets=sets, names=model, models_yaml=models_yaml,
                                  force=force):
        console.print(line)


def score_volume_sets(space: Workspace, *, sets: list[str] | None = None,
                      names: list[str] | None = None, models_yaml: Path | None = None,
                      force: bool = False) -> list[str]:
    """Run every chosen model on every chosen set; one summary line per run."""
    from lesiontrials.errors import InputError
    from lesiontrials.evaluate.models.volume_registry import volume_models
    from lesiontrials.evaluate.volume_contract import VolumeDetector
    from lesiontrials.evaluate.volume_runner import run_detector, run_malignancy
    from lesiontrials.evaluate.volumes import list_volume_sets, load_volume_set

    chosen = sets or list_volume_sets(space)
    if not chosen:
        raise InputError("no volume sets in the workspace",
                         fix="run `lesiontrials volumes build TRIAL` first")
    lines = []
    for set_name in chosen:
        volume_set = load_volume_set(space, set_name)
        for m in volume_models(names, models_yaml=models_yaml):
            if isinstance(m, VolumeDetector):
                path = run_detector(m, volume_set, workspace=space, force=force)
            else:
                path = run_malignancy(m, volume_set, workspace=space, force=force)
            lines.append(f"[green]{model_label(m.name, m.version)}[/] on {set_name} → {path}")
    return lines


#: the trials ``lesiontrials run`` evaluates on whole volumes (designs 2 and 3)
VOLUME_TRIALS = ("size_detection_curve", "location_sensitivity")


def build_and_score(space: Workspace, *, trials: tuple[str, ...],
                    data_root: DataRoot | None = None) -> list[str]:
    """Build the volume set of each trial that has cases (and the ``real`` set when the data
    root has raw CTs, for the synthetic-vs-real comparison) and score the baselines."""
    from lesiontrials.evaluate.volumes import build_real_volume_set, build_volume_set

    present = [t for t in trials if space.cases_dir(t).is_dir()]
    for trial in present:
        build_volume_set(trial=trial, workspace=space)
    if data_root is not None and (data_root.root / "raw_ct").is_dir():
        build_real_volume_set(data_root=data_root, workspace=space, name="real")
        present.append("real")
    return score_volume_sets(space, sets=present) if present else [
        f"no cases for {', '.join(trials)}: volume track skipped"]
