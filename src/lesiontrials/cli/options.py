"""Options shared by every command (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

WorkspaceOption = Annotated[Path | None, typer.Option(
    "--workspace", "-w", help="Output directory (LESIONTRIALS_WORKSPACE).")]
DataRootOption = Annotated[Path | None, typer.Option(
    "--data-root", "-d", help="Data root in the release layout (LESIONTRIALS_DATA_ROOT).")]
