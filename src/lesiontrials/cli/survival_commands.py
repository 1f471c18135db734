"""``lesiontrials survival``: penalised Cox survival head, clinical vs clinical + CT."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from lesiontrials.cli.options import WorkspaceOption

console = Console()


def survival(
    workspace: WorkspaceOption = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.", min=2)] = 5,
    replicates: Annotated[int, typer.Option(help="Bootstrap replicates (patients).",
                                            min=50)] = 200,
    penalizer: Annotated[float, typer.Option(help="Ridge penalty of the Cox model.",
                                             min=0.0)] = 0.1,
    embeddings: Annotated[bool | None, typer.Option(
        "--embeddings/--no-embeddings",
        help="Add the CT encoder's embeddings (default: when index/embeddings.parquet "
             "exists).")] = None,
    dataset: Annotated[list[str] | None, typer.Option(
        "--dataset", help="Cohort datasets (repeat; default: host-profiled datasets with "
                          "clinical data).")] = None,
) -> None:
    """C-index (Harrell, Uno), time-dependent AUC and IBS with patient-bootstrap CIs →
    survival/survival.json. Outcomes are simulated (and labelled so) when the data has
    none; docs/survival.md gives the generating model."""
    from lesiontrials.paths import Workspace
    from lesiontrials.settings import load_settings
    from lesiontrials.survival.run import run_survival, survival_json

    settings = load_settings(workspace=workspace)
    ws = Workspace(settings.workspace)
    record = run_survival(ws, seed=settings.seed, folds=folds, n_boot=replicates,
                          penalizer=penalizer, embeddings=embeddings,
                          datasets=tuple(dataset) if dataset else None)
    label = "SIMULATED outcomes" if record["outcomes"] == "simulated" else "observed outcomes"
    console.print(f"{label}: {record['n_patients']} patients ({', '.join(record['datasets'])}), "
                  f"{record['n_events']} deaths")
    for name, why in record["excluded_datasets"].items():
        console.print(f"  excluded {name}: {why}")
    for model, scores in record["scores"].items():
        c = scores["harrell_c"]
        console.print(f"  {model}: Harrell C {c['estimate']:.3f} "
                      f"[{c['low']:.3f}, {c['high']:.3f}]")
    d = record["delta"]["harrell_c"]
    console.print(f"  ΔC (clinical+ct − clinical) {d['estimate']:+.3f} "
                  f"[{d['low']:+.3f}, {d['high']:+.3f}]")
    console.print(f"[green]survival[/] → {survival_json(ws)}")
