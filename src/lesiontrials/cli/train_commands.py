"""``lesiontrials train NAME --set TRIAL ...``: train a slice CNN on trials' evaluation sets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from lesiontrials.cli.options import DataRootOption, WorkspaceOption

console = Console(stderr=True)


def train(
    name: Annotated[str, typer.Argument(help="Model name (models/NAME/checkpoint.pt).")],
    sets: Annotated[list[str], typer.Option(
        "--set", "-s", help="Synthetic evaluation set(s) to train on (repeatable); volume "
                            "set(s) with --kind patch3d.")],
    kind: Annotated[str, typer.Option(
        help="slice: 2-D slice CNN on evaluation sets; patch3d: 3-D patch CNN on volume "
             "sets (nodule present in a patch).")] = "slice",
    seed: Annotated[int, typer.Option(help="Recipe seed (split, init, shuffle, augment).")] = 0,
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 32,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate.")] = 2e-3,
    patience: Annotated[int, typer.Option(
        help="Stop after this many epochs without a lower validation loss.")] = 4,
    val_fraction: Annotated[float, typer.Option(
        help="Share of cases held out for validation.")] = 0.2,
    image_size: Annotated[int, typer.Option(help="Square input size (pixels).")] = 64,
    patch_size: Annotated[int, typer.Option(help="patch3d: patch edge (voxels).")] = 32,
    spacing_mm: Annotated[float, typer.Option(
        help="patch3d: isotropic patch spacing (mm); field of view = patch size × spacing.")]
    = 1.5,
    condition: Annotated[list[str] | None, typer.Option(
        "--condition", "-c", help="Conditions to train on (default: plain).")] = None,
    restart: Annotated[bool, typer.Option(
        help="Discard an existing checkpoint of another recipe or data.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Train (or resume) a 2-D slice CNN for presence, size bin and lobe, or (``--kind
    patch3d``) a 3-D patch CNN for nodule presence.

    Cases are split into train/validation by case uid; the best validation epoch is kept.
    Score a slice CNN like any model: `lesiontrials score --model trained --model-path
    models/NAME/checkpoint.pt --set OTHER_TRIAL`; a patch CNN on the volume track:
    `lesiontrials volumes score --trained models/NAME/checkpoint.pt --set OTHER_TRIAL`
    (training cases are refused either way).
    """
    from pydantic import ValidationError
    from rich.progress import BarColumn, Progress, TextColumn

    from lesiontrials.errors import ConfigError
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings
    from lesiontrials.training.loop import EpochRecord
    from lesiontrials.training.loop import train as run_train
    from lesiontrials.training.patch_loop import train_patch_model
    from lesiontrials.training.recipe import PatchRecipe, TrainRecipe

    if kind not in ("slice", "patch3d"):
        raise typer.BadParameter(f"--kind {kind!r}: use slice or patch3d")
    other_kind = ({"--image-size": image_size != 64, "--condition": bool(condition)}
                  if kind == "patch3d" else
                  {"--patch-size": patch_size != 32, "--spacing-mm": spacing_mm != 1.5})
    ignored = [name for name, given in other_kind.items() if given]
    if ignored:
        raise typer.BadParameter(f"{', '.join(ignored)} does not apply to --kind {kind}: "
                                 "drop it or choose the other --kind")
    common = {"seed": seed, "epochs": epochs, "batch_size": batch_size,
              "learning_rate": learning_rate, "patience": patience,
              "val_fraction": val_fraction}
    try:
        recipe: TrainRecipe | PatchRecipe = (
            PatchRecipe(**common, patch_size=patch_size, spacing_mm=spacing_mm)
            if kind == "patch3d" else
            TrainRecipe(**common, image_size=image_size,
                        conditions=tuple(condition or ("plain",))))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid training recipe ({problems}). Fix: correct the "
                          "option") from exc
    space = Workspace(load_settings(workspace=workspace).workspace)
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} epochs"), console=console) as bar:
        task = bar.add_task(f"train {name}", total=recipe.epochs)

        def show(record: EpochRecord) -> None:
            bar.update(task, completed=record.epoch + 1,
                       description=f"train {name}: val loss {record.val_loss:.3f}, "
                                   f"val presence acc {record.val_accuracy:.3f}")

        if isinstance(recipe, PatchRecipe):
            outcome = train_patch_model(workspace=space, name=name, sets=sets,
                                        recipe=recipe, restart=restart, on_epoch=show)
        else:
            outcome = run_train(workspace=space, name=name, sets=sets, recipe=recipe,
                                restart=restart, on_epoch=show)
    best = min(outcome.history, key=lambda r: r.val_loss) if outcome.history else None
    state = ("already complete" if outcome.already_complete else
             f"resumed at epoch {outcome.resumed_from_epoch}" if outcome.resumed_from_epoch
             else "trained")
    ident = outcome.identity
    unit = "patches" if kind == "patch3d" else "images"
    console.print(f"[green]{name}[/] {state}: {ident['n_examples']} {unit} of "
                  f"{ident['n_cases']} cases from {', '.join(ident['sets'])}; "
                  + (f"best epoch {best.epoch} (val loss {best.val_loss:.3f}, presence acc "
                     f"{best.val_accuracy:.3f}) " if best else "")
                  + f"→ {outcome.path}")


def compare(
    model_a: Annotated[str, typer.Argument(help="Model whose gain is measured (e.g. retrained).")],
    model_b: Annotated[str, typer.Argument(help="Reference model (original or untargeted).")],
    sets: Annotated[list[str], typer.Option(
        "--set", "-s", help="Held-out set(s) both models were scored on (repeatable).")],
    task: Annotated[str, typer.Option("--task", "-t", help="presence, size or lobe.")] = (
        "presence"),
    condition: Annotated[str, typer.Option("--condition", "-c")] = "plain",
    by: Annotated[str, typer.Option(
        help="Stratum column: truth_size, truth_lobe, appearance, attenuation, host_dataset, "
             "set, kind.")
    ] = "truth_size",
    out: Annotated[str | None, typer.Option(help="Write the table as JSON here.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Per-stratum accuracy gain of MODEL_A over MODEL_B on the same slices, with paired
    intervals that resample the design's units (cases; donors and hosts when crossed)."""
    from rich.table import Table

    from lesiontrials.io import write_json
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings
    from lesiontrials.training.compare import paired_items, per_stratum_gain

    space = Workspace(load_settings(workspace=workspace).workspace)
    paired = paired_items(space, model_a=model_a, model_b=model_b, sets=sets, task=task,
                          condition=condition)
    gains = per_stratum_gain(paired, by=by)
    table = Table(title=f"{model_a} − {model_b}: {task} accuracy, {condition}, by {by}")
    for column in ("value", "items", "cases", model_a, model_b, "gain", "95 % CI"):
        table.add_column(column)
    for row in gains.itertuples(index=False):
        table.add_row(str(row.value), str(row.n_items), str(row.n_cases),
                      f"{row.accuracy_a:.3f}", f"{row.accuracy_b:.3f}", f"{row.gain:+.3f}",
                      f"[{row.gain_ci_low:+.3f}, {row.gain_ci_high:+.3f}]")
    Console().print(table)
    if out is not None:
        write_json({"model_a": model_a, "model_b": model_b, "sets": sorted(sets),
                    "task": task, "condition": condition, "by": by,
                    "rows": gains.to_dict("records")}, out)
        console.print(f"→ {out}")


def improve(
    name: Annotated[str, typer.Argument(help="Run name: models NAME-original, NAME-targeted, "
                                             "NAME-untargeted; improve/NAME/improve.json.")],
    train_sets: Annotated[list[str], typer.Option(
        "--train-set", help="Synthetic set(s) the original model learns from.")],
    probe_sets: Annotated[list[str], typer.Option(
        "--probe-set", help="Held-out synthetic set(s) where failures are found.")],
    eval_sets: Annotated[list[str], typer.Option(
        "--eval-set", help="Held-out synthetic set(s) where the gain is judged.")],
    real_sets: Annotated[list[str] | None, typer.Option(
        "--real-set", help="Real set(s) where the gain is also judged (e.g. real).")] = None,
    task: Annotated[str, typer.Option("--task", "-t", help="presence, size or lobe.")] = (
        "presence"),
    condition: Annotated[str, typer.Option("--condition", "-c")] = "plain",
    n_cases: Annotated[int, typer.Option(
        min=1, help="Extra cases of each extra trial (targeted and untargeted).")] = 20,
    max_targets: Annotated[int, typer.Option(
        min=1, help="Failed nodules the targeted trial aims at.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the recipe and of the extra trials.")] = 0,
    epochs: Annotated[int, typer.Option(help="Maximum epochs per model.")] = 20,
    image_size: Annotated[int, typer.Option(help="Square input size (pixels).")] = 64,
    workers: Annotated[int, typer.Option(min=1, help="Processes for insert/render/slices.")]
    = 1,
    workspace: WorkspaceOption = None,
    data_root: DataRootOption = None,
) -> None:
    """The targeted loop: train → failures on probe sets → a targeted and an untargeted
    trial of equal size (new hosts) → retrain on each union → per-stratum gains with paired
    intervals on held-out synthetic and real sets. Every stage resumes."""
    from rich.table import Table

    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings
    from lesiontrials.training.improve import (
        ImproveOptions,
        ImproveSets,
        gains_frame,
        improve_file,
    )
    from lesiontrials.training.improve import improve as run_improve
    from lesiontrials.training.recipe import TrainRecipe

    settings = load_settings(workspace=workspace, data_root=data_root)
    space = Workspace(settings.workspace)
    record = run_improve(
        workspace=space, data_root=settings.resolved_data_root,
        sets=ImproveSets(tuple(train_sets), tuple(probe_sets), tuple(eval_sets),
                         tuple(real_sets or ())),
        recipe=TrainRecipe(seed=seed, epochs=epochs, image_size=image_size),
        options=ImproveOptions(name=name, task=task, condition=condition, n_cases=n_cases,
                               max_targets=max_targets, seed=seed, workers=workers),
        on_step=lambda message: console.print(f"· {message}", markup=False))
    for source in record["gains"]:
        frame = gains_frame(record, source)
        table = Table(title=f"{name}: {task} accuracy gain on {source} held-out sets")
        for column in ("comparison", "stratum", "value", "items", "cases", "gain", "95 % CI"):
            table.add_column(column)
        for row in frame.itertuples(index=False):
            table.add_row(row.comparison, row.stratum, str(row.value), str(row.n_items),
                          str(row.n_cases), f"{row.gain:+.3f}",
                          f"[{row.gain_ci_low:+.3f}, {row.gain_ci_high:+.3f}]")
        Console().print(table)
    console.print(f"wall time {record['wall_s']} → {improve_file(space, name)}",
                  markup=False)
