"""Optional heavy dependencies, imported lazily with an error that names the extra."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from lesiontrials.errors import ConfigError, MissingPathError


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise a :class:`ConfigError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{purpose} needs the optional package '{module}' ({exc}). "
            f"Fix: pip install 'lesiontrials[{extra}]'"
        ) from exc
    except Exception as exc:  # e.g. a torchvision build that does not match torch
        raise ConfigError(
            f"{purpose}: importing '{module}' failed ({type(exc).__name__}: {exc}). "
            f"Fix: install matching builds, e.g. pip install 'lesiontrials[{extra}]' "
            "with a torchvision built for the installed torch"
        ) from exc


def offline_hub() -> None:
    """Keep Hugging Face libraries from reaching the network (set before they are imported)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def local_model_dir(path: str | Path | None, *, setting: str, option: str,
                    required_file: str, what: str) -> Path:
    """Check that the user's local model directory exists and holds ``required_file``.

    ``setting`` (an environment variable) and ``option`` (a CLI flag) are named in the error:
    weights are the user's and are never downloaded.
    """
    if path is None or str(path) == "":
        raise ConfigError(
            f"no local {what} given. Weights are never downloaded. Fix: pass {option} DIR "
            f"or set {setting}=DIR (a local copy of the model's files)"
        )
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise MissingPathError(f"{what} directory not found", path=directory,
                               fix=f"point {option} / {setting} at a local copy of the model")
    if not (directory / required_file).is_file():
        raise MissingPathError(f"not a {what} directory: {required_file} is missing",
                               path=directory,
                               fix=f"point {option} / {setting} at the folder holding "
                                   f"{required_file} and the weights")
    return directory


def fingerprint(directory: Path, *, config_files: tuple[str, ...], extra: Any) -> str:
    """Short hash of config file contents, weight file names/sizes and adapter settings."""
    digest = hashlib.sha256()
    for name in config_files:
        path = directory / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    for path in sorted(directory.iterdir()):
        if path.suffix in (".safetensors", ".bin", ".pt", ".pth"):
            digest.update(f"{path.name}:{path.stat().st_size}".encode())
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def resolve_device(device: str) -> str:
    """``'auto'`` → ``'cuda'`` when a GPU is visible, else ``'cpu'``; anything else as given."""
    if device != "auto":
        return device
    torch = require("torch", extra="vlm", purpose="choosing the device (device=auto)")
    return "cuda" if torch.cuda.is_available() else "cpu"
