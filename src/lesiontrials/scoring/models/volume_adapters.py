"""Bring your own 3-D model: a Python callable or a TorchScript file named in a models YAML.

A user's in-house CAD runs on the volume track without an adapter class::

    volume_models:
      - name: my_cad                 # results key (letters, digits, _ - .)
        kind: detector               # or: malignancy
        callable: my_pkg.cad:detect  # or: torchscript: /models/cad.pt
                                     # or: monai_bundle: /models/lung_nodule_ct_detection
                                     # or (kind: vlm): merlin: /models/merlin
                                     #              or colipri: /models/colipri
        coordinates: world_lps       # what it returns: world_ras (default), world_lps, voxel
        version: "2024-05"

Call conventions (the array is the CT in HU, RAS+ ``(x, y, z)`` order; the affine maps
voxel indices to RAS world mm):

- detector callable ``f(array, affine) -> (n, 4)`` array-like or frame of
  ``x, y, z, probability``; a TorchScript detector's ``forward(volume, affine)`` gets a
  float32 tensor ``(1, 1, X, Y, Z)`` and a float64 ``(4, 4)`` tensor and returns ``(n, 4)``;
- malignancy callable ``f(array, affine, centres) -> (n,)`` with centres ``(n, 3)`` in the
  model's ``coordinates``; TorchScript ``forward(volume, affine, centres)`` likewise.

``coordinates`` converts to and from the RAS world mm the scorer uses (``world_lps``:
x and y negated, as in LUNA16 csv files; ``voxel``: indices into the array given).
A missing file, an import that fails or output of the wrong shape is an error naming the
model, the file expected and the fix.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lesiontrials.errors import InputError
from lesiontrials.io.volumes import Volume
from lesiontrials.paths import check_name
from lesiontrials.scoring.volume_contract import MalignancyModel, VolumeDetector

if TYPE_CHECKING:
    from lesiontrials.scoring.models.volume_vlm import VolumeVLM

COORDINATES = ("world_ras", "world_lps", "voxel")
KINDS = ("detector", "malignancy", "vlm")
SOURCES = ("callable", "torchscript", "monai_bundle", "merlin", "colipri")
VLM_SOURCES = ("merlin", "colipri")


def to_ras(points: np.ndarray, *, coordinates: str, volume: Volume) -> np.ndarray:
    """Model coordinates ``(n, 3)`` → RAS world mm."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    if coordinates == "world_lps":
        return points * np.array([-1.0, -1.0, 1.0])
    if coordinates == "voxel":
        return volume.voxel_to_world(points)
    return points


def from_ras(points: np.ndarray, *, coordinates: str, volume: Volume) -> np.ndarray:
    """RAS world mm ``(n, 3)`` → model coordinates."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    if coordinates == "world_lps":
        return points * np.array([-1.0, -1.0, 1.0])
    if coordinates == "voxel":
        return volume.world_to_voxel(points)
    return points


def _candidates(raw: Any, *, name: str, coordinates: str, volume: Volume) -> pd.DataFrame:
    values = raw.to_numpy(dtype=float) if isinstance(raw, pd.DataFrame) else np.asarray(
        raw.detach().cpu().numpy() if hasattr(raw, "detach") else raw, dtype=float)
    if values.size == 0:
        values = values.reshape(0, 4)
    if values.ndim != 2 or values.shape[1] != 4:
        raise InputError(f"volume model {name!r} returned shape {values.shape}",
                         fix="return an (n, 4) array of x, y, z, probability")
    xyz = to_ras(values[:, :3], coordinates=coordinates, volume=volume)
    return pd.DataFrame({"x_mm": xyz[:, 0], "y_mm": xyz[:, 1], "z_mm": xyz[:, 2],
                         "probability": values[:, 3]})


@dataclass(frozen=True)
class CallableDetector:
    """A detector from ``f(array, affine) -> (n, 4)``."""

    name: str
    function: Callable[..., Any]
    coordinates: str = "world_ras"
    version: str = "user"

    def detect(self, volume: Volume) -> pd.DataFrame:
        raw = self.function(volume.array, volume.affine)
        return _candidates(raw, name=self.name, coordinates=self.coordinates, volume=volume)


@dataclass(frozen=True)
class CallableMalignancy:
    """A malignancy model from ``f(array, affine, centres) -> (n,)``."""

    name: str
    function: Callable[..., Any]
    coordinates: str = "world_ras"
    version: str = "user"

    def malignancy(self, volume: Volume, centres_mm: np.ndarray) -> np.ndarray:
        centres = from_ras(centres_mm, coordinates=self.coordinates, volume=volume)
        raw = self.function(volume.array, volume.affine, centres)
        if hasattr(raw, "detach"):
            raw = raw.detach().cpu().numpy()
        return np.asarray(raw, dtype=float).reshape(-1)


def _torchscript(path: Path, *, name: str) -> Callable[..., Any]:
    """Load a TorchScript module (CPU unless CUDA is there) and wrap it as a function of
    NumPy arrays."""
    if not path.is_file():
        raise InputError(f"volume model {name!r}: TorchScript file not found", path=path,
                         fix="export the model with torch.jit.script/trace and save it there")
    try:
        import torch
    except ImportError as exc:
        raise InputError(f"volume model {name!r} needs torch",
                         fix="pip install 'lesiontrials[torch]'") from exc
    device = "cuda" if torch.cuda.is_available() else "cpu"
    module = torch.jit.load(str(path), map_location=device).eval()

    def run(array: np.ndarray, affine: np.ndarray, *rest: np.ndarray) -> np.ndarray:
        volume = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
        args = [volume.to(device), torch.from_numpy(np.array(affine, dtype=np.float64))
                .to(device)]
        args += [torch.from_numpy(np.array(r, dtype=np.float64)).to(device) for r in rest]
        with torch.inference_mode():
            out = module(*args)
        return np.asarray(out.detach().cpu().numpy(), dtype=float)

    return run


def _import_callable(spec: str, *, name: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise InputError(f"volume model {name!r}: callable {spec!r} is not module:function",
                         fix="write e.g. `callable: my_pkg.cad:detect`")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"volume model {name!r}: cannot import {spec!r} ({exc})",
                         fix="install the package or put it on PYTHONPATH") from exc
    if not callable(function):
        raise InputError(f"volume model {name!r}: {spec!r} is not callable")
    return function


def _path(entry: dict[str, Any], key: str, base_dir: Path | None) -> Path:
    path = Path(str(entry[key])).expanduser()
    return base_dir / path if not path.is_absolute() and base_dir is not None else path


def build_volume_model(entry: dict[str, Any], *, base_dir: Path | None = None,
                       monai_config: Any = None) -> VolumeDetector | MalignancyModel | VolumeVLM:
    """One models-YAML entry → a detector, malignancy model or 3-D vision-language encoder
    (``kind: vlm`` with ``merlin: FOLDER`` and optional ``options:``; docs/models.md)."""
    name = check_name(str(entry.get("name", "")), what="volume model name")
    kind = str(entry.get("kind", "vlm" if set(VLM_SOURCES) & set(entry) else "detector"))
    coordinates = str(entry.get("coordinates", "world_ras"))
    if kind not in KINDS or coordinates not in COORDINATES:
        raise InputError(f"volume model {name!r}: kind {kind!r} / coordinates "
                         f"{coordinates!r} not understood",
                         fix=f"kind one of {KINDS}, coordinates one of {COORDINATES}")
    sources = [k for k in SOURCES if k in entry]
    if len(sources) != 1:
        raise InputError(f"volume model {name!r}: give exactly one of {', '.join(SOURCES)}")
    if (kind == "vlm") != (sources[0] in VLM_SOURCES):
        raise InputError(f"volume model {name!r}: kind vlm goes with merlin: FOLDER or "
                         "colipri: FOLDER (and those with kind vlm)",
                         fix="write `kind: vlm` and `merlin: /path/to/merlin`")
    options = entry.get("options") or {}
    if not isinstance(options, dict) or (options and sources[0] not in VLM_SOURCES):
        raise InputError(f"volume model {name!r}: options must be a mapping, and only a "
                         "merlin or colipri entry takes options",
                         fix="remove `options:` or fix it")
    if sources[0] == "merlin":
        from lesiontrials.scoring.models.volume_vlm import load_merlin

        return load_merlin(_path(entry, "merlin", base_dir), name=name, options=options)
    if sources[0] == "colipri":
        from lesiontrials.scoring.models.colipri_encoder import load_colipri

        return load_colipri(_path(entry, "colipri", base_dir), name=name, options=options)
    if "monai_bundle" in entry:
        from lesiontrials.scoring.models.monai_detection import MonaiLungNoduleDetector

        bundle = Path(str(entry["monai_bundle"])).expanduser()
        if not bundle.is_absolute() and base_dir is not None:
            bundle = base_dir / bundle
        return MonaiLungNoduleDetector(bundle, config=monai_config, name=name,
                                       version=str(entry.get("version", "bundle")))
    if "callable" in entry:
        function = _import_callable(str(entry["callable"]), name=name)
    else:
        path = Path(str(entry["torchscript"])).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        function = _torchscript(path, name=name)
    version = str(entry.get("version", "user"))
    if kind == "detector":
        return CallableDetector(name, function, coordinates, version)
    return CallableMalignancy(name, function, coordinates, version)


def load_volume_models(path: Path) -> list[VolumeDetector | MalignancyModel | VolumeVLM]:
    """Every entry of ``volume_models:`` in a models YAML (paths relative to the file)."""
    import yaml

    if not path.is_file():
        raise InputError("models YAML not found", path=path, fix="give an existing file")
    document = yaml.safe_load(path.read_text()) or {}
    entries = document.get("volume_models") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError("no `volume_models:` list in the models YAML", path=path,
                         fix="add volume_models: [{name, kind, callable|torchscript}]")
    return [build_volume_model(dict(e), base_dir=path.parent) for e in entries]
