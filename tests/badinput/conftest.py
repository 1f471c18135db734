"""One small generated data root and workspace for the whole bad-input corpus.

The workspace holds a good nodule index and a profile CSV written by ``profile``; every
case checks that these good outputs are byte-identical after its bad command.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lesiontrials.io import Volume, VolumeKind, write_volume
from lesiontrials.testing import box_thorax, sphere_mask, write_release_profiles


@dataclass(frozen=True)
class Corpus:
    """Paths of the shared, good fixture (never modified by a case)."""

    root: Path  # a data root with one dataset (LUNA25, 12 nodules)
    workspace: Path  # holds index/nodules.parquet built from ``root``
    labels: Path  # a host label map (.nii.gz)
    mask: Path  # a nodule mask on the same grid
    ct: Path  # a CT on the same grid (int16 HU)
    profile_out: Path  # the good ``profile`` output CSV


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    from lesiontrials.cli.main import main

    base = tmp_path_factory.mktemp("badinput")
    root = write_release_profiles(base / "root", {"LUNA25": 12})
    thorax = box_thorax()
    labels = write_volume(base / "vol" / "host_seg.nii.gz", thorax.volume, kind=VolumeKind.LABELS)
    nodule = sphere_mask(thorax.volume.shape, (70, 40, 60), 5.0, thorax.spacing_mm)
    mask = write_volume(base / "vol" / "n1.nii.gz",
                        Volume(nodule.to_full(thorax.volume.shape).astype(np.uint8),
                               thorax.volume.affine), kind=VolumeKind.MASK)
    hu = np.where(thorax.volume.array > 0, -850, -1000).astype(np.int16)
    ct = write_volume(base / "vol" / "ct.nii.gz", Volume(hu, thorax.volume.affine),
                      kind=VolumeKind.CT)
    workspace = base / "ws"
    out = base / "out" / "profiles.csv"
    for argv in (["index", "build", "-w", str(workspace), "-d", str(root)],
                 ["profile", str(labels), str(mask), "--out", str(out), "--ct", str(ct)]):
        old = sys.argv
        sys.argv = ["lesiontrials", *argv]
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, f"fixture command failed: {argv}"
        finally:
            sys.argv = old
    assert (workspace / "index" / "nodules.parquet").is_file() and out.is_file()
    return Corpus(root, workspace, labels, mask, ct, out)
