"""Volume reading and writing: NIfTI and NRRD in, RAS+ canonical arrays out.

Contract: a :class:`Volume` holds an array in axis order ``(x, y, z)`` in RAS+
orientation and the 4×4 affine mapping voxel indices to RAS world millimetres. Every
reader returns that, whatever the file's own orientation (LPS NRRD included), and every
writer keeps the affine it is given, so a label map written on a host grid carries the
host's affine exactly.

Writes are atomic and deterministic: gzip streams carry no timestamp, so the same
array and affine always give the same bytes. Label maps and masks are deflated by zlib
(level 1): ISA-L, which is 6× faster on them, was seen twice to give a different stream
for the same input in another process (the pixels and voxels equal, the compressed bytes
not; ``benchmarks/RESULTS.md``, session 9), and a label map costs zlib ≈ 0.07 s. CTs,
where ISA-L's speed matters (≈ 5× zlib's for the same size, 0.25 against 1.3 CPU-s per
100 MB), stay on ISA-L level 3 (``isal``, a required dependency, so the bytes never depend
on what else is installed); no CT has been seen to differ. The files are ordinary gzip,
read back with ISA-L's inflate (~2× zlib's).

Reads are strict: a ``.gz`` file is decompressed to its end so the gzip CRC and length
are checked (a partial read of the voxel data would not reach the trailer, and a bit
flip would pass as data), and NaN/inf voxels or affine entries are refused, since a NaN
would otherwise become 0 HU or an empty column downstream.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import nibabel as nib
import numpy as np
from isal import igzip, isal_zlib
from nibabel.arrayproxy import ArrayProxy
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

from lesiontrials.errors import InputError, MissingPathError
from lesiontrials.io.atomic import write_bytes_atomic

NIFTI_SUFFIXES = (".nii", ".nii.gz")
ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_ISAL_ERROR = cast(type[Exception], isal_zlib.IsalError)  # the stubs type it as an instance


class VolumeKind(StrEnum):
    """What a volume holds; decides dtype and gzip level on write."""

    LABELS = "labels"  # uint8 label map: compresses ~40× even at ISA-L's fastest level
    MASK = "mask"  # uint8 binary mask
    CT = "ct"  # int16 HU: noise compresses poorly whatever the level


#: (library, level) per kind; measured on a 512×512×300 host (RESULTS.md, issues 24 and
#: the session-9 determinism note): zlib where its cost is small, ISA-L for CTs
#: Bumped when a kind's gzip library or level changes: stages put it in their resume keys,
#: so a resumed run rewrites what a fresh one would (2: label maps and masks by zlib)
VOLUME_CODEC_VERSION = 2
_GZIP_CODEC = {VolumeKind.LABELS: ("zlib", 1), VolumeKind.MASK: ("zlib", 1),
               VolumeKind.CT: ("isal", 3)}
_DTYPE = {VolumeKind.LABELS: np.uint8, VolumeKind.MASK: np.uint8, VolumeKind.CT: np.int16}


@dataclass(frozen=True)
class Volume:
    """A 3-D array in RAS+ ``(x, y, z)`` order with its voxel→world (RAS mm) affine."""

    array: np.ndarray
    affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.array.shape[:3])  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return spacing_from_affine(self.affine)

    def voxel_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """Map voxel coordinates ``(..., 3)`` to RAS world mm."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_voxel(self, xyz: np.ndarray) -> np.ndarray:
        """Map RAS world mm ``(..., 3)`` to (fractional) voxel coordinates."""
        inv = np.linalg.inv(self.affine)
        return np.asarray(xyz, dtype=float) @ inv[:3, :3].T + inv[:3, 3]


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size in mm along each array axis (column norms of the affine)."""
    norms = np.sqrt((np.asarray(affine, dtype=float)[:3, :3] ** 2).sum(axis=0))
    return (float(norms[0]), float(norms[1]), float(norms[2]))


def canonical_view(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``array`` as a RAS+ (closest canonical) view — axes transposed and flipped by
    strides, no voxel copied — and its affine. For work that needs only part of a volume
    (a mask's nonzero crop): copying a whole 512×512×300 volume costs more than the part."""
    ornt = io_orientation(affine)
    if np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
        return array, np.asarray(affine, dtype=float)
    new_affine = np.asarray(affine, dtype=float) @ inv_ornt_aff(ornt, array.shape[:3])
    return apply_orientation(array, ornt), new_affine


def to_canonical(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder/flip axes so the array is RAS+ (closest canonical); return new affine.

    The array returned is writable and owns its voxels unless it is ``array`` itself
    (already canonical and writable)."""
    view, new_affine = canonical_view(array, affine)
    if view is array and array.flags.writeable:
        return array, new_affine
    # copy in the source's own memory order: a C-order copy of a Fortran-ordered NIfTI
    # array transposes it in memory (~1 s for 512×512×300 uint8, against 0.03 s here)
    return view.copy(order="K"), new_affine


def _is_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)


def read_volume(path: str | Path, *, setting: str | None = None) -> Volume:
    """Read a NIfTI/NRRD/MHA volume into RAS+ canonical orientation.

    Raises :class:`InputError` naming the file when it is missing, corrupt, empty or not
    3-D (a trailing singleton 4th axis is dropped). ``setting`` names the configuration
    that points at the file, for the error message.
    """
    array, affine = read_stored_array(path, setting=setting)
    array, affine = to_canonical(array, affine)
    return Volume(array=array, affine=affine)


def read_stored_array(path: str | Path, *, setting: str | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The voxels of a volume file in its *stored* axis order (possibly a read-only view
    of the decompressed bytes) and its voxel → RAS affine, checked as :func:`read_volume`
    checks them; :func:`canonical_view` or :func:`to_canonical` bring it to RAS+."""
    path = Path(path)
    if not path.is_file():
        fix = f"check the path or the setting {setting}" if setting else "check the path"
        raise MissingPathError("volume file not found", path=path, fix=fix)
    if _is_suffix(path, NIFTI_SUFFIXES):
        array, affine = _read_nifti(path)
    elif _is_suffix(path, ITK_SUFFIXES):
        array, affine = _read_itk(path)
    else:
        raise InputError(
            "unsupported volume format", path=path,
            fix=f"use one of {NIFTI_SUFFIXES + ITK_SUFFIXES}",
        )
    array = _require_3d(array, path)
    _require_finite(array, path)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise InputError("the voxel-to-world affine is singular or not finite", path=path,
                         fix="repair the header (spacing/direction) of the file")
    return array, affine


def read_volume_header(path: str | Path) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and canonical affine of a NIfTI file without reading its voxels."""
    path = Path(path)
    try:
        img: Any = nib.load(str(path))
    except FileNotFoundError as exc:
        raise MissingPathError("volume file not found", path=path, fix="check the path") from exc
    except Exception as exc:
        raise InputError(f"cannot read the volume header ({exc})", path=path,
                         fix="re-export the file as NIfTI") from exc
    shape = img.shape[:3]
    ornt = io_orientation(img.affine)
    affine = img.affine @ inv_ornt_aff(ornt, shape)
    canonical_shape = tuple(int(shape[int(axis)]) for axis, _ in ornt)
    return canonical_shape, affine  # type: ignore[return-value]


def _read_checked_gzip(path: Path) -> bytes:
    """The whole decompressed stream of ``path``, its CRC-32 and length verified."""
    try:
        with igzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error, _ISAL_ERROR) as exc:  # BadGzipFile is an OSError
        raise InputError(
            f"cannot read the volume: the gzip stream is corrupt or truncated "
            f"({type(exc).__name__}: {exc})", path=path,
            fix="the file is damaged (checksum or length mismatch); re-export or re-download "
                "it, or delete it so the stage that made it writes it again",
        ) from exc


def _nifti_from_bytes(raw: bytes) -> Any:
    """A NIfTI-1 or NIfTI-2 single-file image from its uncompressed bytes."""
    header_size = int.from_bytes(raw[:4], "little") if len(raw) >= 4 else 0
    if header_size in (540, int.from_bytes((540).to_bytes(4, "little"), "big")):
        return nib.Nifti2Image.from_bytes(raw)
    return nib.Nifti1Image.from_bytes(raw)


def _unscaled_view(proxy: Any, raw: bytes) -> np.ndarray | None:
    """The voxels of an unscaled NIfTI image as a read-only view of its decompressed
    bytes ``raw`` — the values, dtype and memory order nibabel's reader gives, without
    its copy of the whole volume — or ``None`` when nibabel must read them (scaled data,
    another proxy type, or a stream too short, which nibabel reports)."""
    if type(proxy) is not ArrayProxy or not (proxy.slope == 1 and proxy.inter == 0):
        return None
    dtype, shape = np.dtype(proxy.dtype), tuple(int(n) for n in proxy.shape)
    offset = int(proxy.offset)
    if not shape or offset + int(np.prod(shape)) * dtype.itemsize > len(raw):
        return None
    return np.ndarray(shape, dtype=dtype, buffer=raw, offset=offset, order=proxy.order)


def _read_nifti(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        if path.name.lower().endswith(".gz"):
            raw = _read_checked_gzip(path)
            img: Any = _nifti_from_bytes(raw)
            array = _unscaled_view(img.dataobj, raw)
        else:
            img = nib.load(str(path))
            array = None
        if array is None:
            array = np.asanyarray(img.dataobj)
    except InputError:
        raise
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise InputError(
            f"cannot read NIfTI file ({type(exc).__name__}: {exc})", path=path,
            fix="the file is corrupt or truncated; re-export or re-download it",
        ) from exc
    affine = img.affine
    if affine is None:
        raise InputError("NIfTI file has no affine", path=path, fix="set its qform/sform")
    return array, np.asarray(affine, dtype=float)


def _read_itk(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import SimpleITK as sitk

    try:
        image = sitk.ReadImage(str(path))
    except Exception as exc:
        raise InputError(
            f"cannot read image file ({exc.__class__.__name__})", path=path,
            fix="the file is corrupt or truncated; re-export it",
        ) from exc
    if image.GetDimension() != 3:
        raise InputError(f"expected a 3-D image, got {image.GetDimension()}-D", path=path,
                         fix="provide a 3-D volume")
    array = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0))  # (z,y,x) -> (x,y,z)
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction @ np.diag(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    return array, _LPS_TO_RAS @ lps


def _require_3d(array: np.ndarray, path: Path) -> np.ndarray:
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise InputError(f"expected a 3-D volume, got shape {array.shape}", path=path,
                         fix="provide one 3-D volume per file")
    if array.size == 0 or min(array.shape) == 0:
        raise InputError(f"the volume is empty (shape {array.shape})", path=path,
                         fix="re-export the file with its voxels")
    return array


def _require_finite(array: np.ndarray, path: Path) -> None:
    """Refuse NaN/inf voxels (after scaling): they have no HU or label meaning."""
    if array.dtype.kind not in "fc":
        return
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise InputError(
            f"{bad} of {finite.size} voxels are NaN or infinite", path=path,
            fix="repair the file (e.g. set missing voxels to -1024 HU outside the body) "
                "and re-export it; lesiontrials does not guess a value for them",
        )


TILE = 16  # voxels per side of the in-plane tiles of :func:`fortran_order`


def fortran_order(array: np.ndarray) -> np.ndarray:
    """``array`` (3-D) as a Fortran-ordered copy, the layout NIfTI stores.

    nibabel writes a C-ordered array one transposed slice at a time; a whole-volume
    transpose is slow for cache reasons (0.56 s for a 512×512×256 uint8 label map), so
    this copies 16×16-voxel in-plane tiles (≈ 0.09 s); the bytes written are the same.
    """
    if array.ndim != 3 or array.flags.f_contiguous:
        return array
    nx, ny, _ = array.shape
    out = np.empty(array.shape[::-1], dtype=array.dtype)  # (z, y, x), C order
    for x0 in range(0, nx, TILE):
        for y0 in range(0, ny, TILE):
            tile = array[x0:x0 + TILE, y0:y0 + TILE]
            out[:, y0:y0 + TILE, x0:x0 + TILE] = tile.transpose(2, 1, 0)
    return out.T


def volume_bytes(volume: Volume, *, kind: VolumeKind | str) -> bytes:
    """The gzipped NIfTI-1 bytes for ``volume`` (deterministic: no gzip timestamp)."""
    kind = VolumeKind(kind)
    dtype = _DTYPE[kind]
    array = volume.array
    if kind is not VolumeKind.CT and array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"{kind.value} volumes must fit in 0..255 (uint8)")
    if kind is VolumeKind.CT:
        array = np.clip(np.rint(array), -32768, 32767) if array.dtype.kind == "f" else array
    img = nib.Nifti1Image(fortran_order(np.asarray(array, dtype=dtype)), volume.affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(volume.affine, code=1)
    img.set_sform(volume.affine, code=1)
    raw = img.to_bytes()
    library, level = _GZIP_CODEC[kind]
    module: Any = zlib if library == "zlib" else isal_zlib
    compressor = module.compressobj(level, module.DEFLATED, 31)  # 31: gzip, mtime 0
    return compressor.compress(raw) + compressor.flush()


def write_volume(path: str | Path, volume: Volume, *, kind: VolumeKind | str) -> Path:
    """Write ``volume`` as ``.nii.gz`` atomically, with dtype and gzip level by ``kind``."""
    path = Path(path)
    if not path.name.endswith(".nii.gz"):
        raise ValueError(f"{path}: volumes are written as .nii.gz")
    write_bytes_atomic(path, volume_bytes(volume, kind=kind))
    return path


def check_same_grid(
    a: Volume, b: Volume, *, path_a: str | Path, path_b: str | Path, atol_mm: float = 1e-3
) -> None:
    """Raise :class:`InputError` when two volumes do not share one voxel grid."""
    if a.shape != b.shape:
        raise InputError(
            f"grid disagrees with {path_a}: shape {b.shape} vs {a.shape}", path=path_b,
            fix="resample the file onto the CT grid (same shape and affine)",
        )
    if not np.allclose(a.affine, b.affine, atol=atol_mm):
        raise InputError(
            f"grid disagrees with {path_a}: affines differ "
            f"(origin {b.affine[:3, 3].round(3).tolist()} vs {a.affine[:3, 3].round(3).tolist()})",
            path=path_b, fix="resample the file onto the CT grid (same shape and affine)",
        )

