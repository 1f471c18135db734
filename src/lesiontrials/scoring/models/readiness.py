"""Whether each model adapter can run here: its packages import and its model location
(environment variable) points at a folder with the expected files."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lesiontrials.scoring.models.options import ADAPTERS, AdapterInfo

#: packages each extra must provide
EXTRA_MODULES: Final[dict[str, tuple[str, ...]]] = {
    "": (), "clip": ("torch", "open_clip"), "vlm": ("torch", "transformers", "PIL"),
    "serve": ("httpx",), "vllm": ("vllm",), "torch": ("torch",)}
#: the file a model folder must hold, per adapter kind
REQUIRED_FILE: Final[dict[str, str]] = {"clip": "open_clip_config.json",
                                        "chat_vlm": "config.json",
                                        "trained": "checkpoint.pt"}


@dataclass(frozen=True)
class AdapterStatus:
    info: AdapterInfo
    missing_modules: tuple[str, ...]
    location: str  # '' when not set
    location_ok: bool

    @property
    def ready(self) -> bool:
        return not self.missing_modules and self.location_ok

    @property
    def summary(self) -> str:
        if self.ready:
            return "yes" + (f" ({self.location})" if self.location else "")
        problems = []
        if self.missing_modules:
            problems.append(f"pip install 'lesiontrials[{self.info.extra}]' "
                            f"(missing {', '.join(self.missing_modules)})")
        if not self.location_ok and self.info.kind == "openai_endpoint":
            problems.append(f"set {self.info.env} and LESIONTRIALS_OPENAI_MODEL, or pass "
                            "-o base_url=URL -o model=ID")
        elif not self.location_ok:
            problems.append(f"set {self.info.env} or pass --model-path" if not self.location
                            else f"{self.location}: not a model folder")
        return "no: " + "; ".join(problems)


def _location_ok(info: AdapterInfo, location: str) -> bool:
    if info.kind == "baseline":
        return True
    if not location:
        return False
    if info.kind == "openai_endpoint":
        return bool(os.environ.get("LESIONTRIALS_OPENAI_MODEL"))
    path = Path(location).expanduser()
    return (path / REQUIRED_FILE[info.kind]).is_file() or (
        info.kind == "trained" and path.is_file())


def adapter_status() -> list[AdapterStatus]:
    """The status of every adapter of :data:`~.options.ADAPTERS`, in catalogue order."""
    out = []
    for info in ADAPTERS.values():
        missing = tuple(m for m in EXTRA_MODULES.get(info.extra, ())
                        if importlib.util.find_spec(m) is None)
        location = os.environ.get(info.env, "") if info.env else ""
        out.append(AdapterStatus(info, missing, location, _location_ok(info, location)))
    return out
