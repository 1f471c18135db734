"""Deep-feature distance between real and synthetic CT volumes (the 3-D chest-CT encoder).

* Input (:func:`preprocess_volume`): a RAS+ ``(x, y, z)`` HU volume is low-pass filtered and
  resampled to 1.5 × 1.5 × 3 mm, clipped to −1000…200 HU and scaled to 0…1, then cropped or
  padded (with 0, i.e. air) to 224 × 224 × 160 voxels around the body's in-plane centre and
  the scan's z centre; the network sees ``(3, z, x, y)`` (the CT repeated on 3 channels).
* Embeddings (:func:`embed_files`): 2048-d, computed under ``torch.no_grad()`` and cached
  per file SHA-256 (+ input spec and weights) under ``<cache_dir>/encoder/embeddings``.
* Distances (:func:`feature_distance`): the Fréchet distance between Gaussians fitted to the
  two embedding sets, each covariance shrunk towards a scaled identity with the OAS weight
  (:func:`shrunk_covariance`; sample covariances of a few 2048-d points are singular), and
  the plain distances between the mean embeddings (L2 and cosine).

With 2 real volumes the "real distribution" is two points: its mean is their midpoint and
its covariance is one direction (their difference) blended, about 2:1, with an isotropic
covariance of the same total variance (half their squared distance). The Fréchet distance
then mostly measures the squared distance of the synthetic mean from that midpoint plus a
mismatch of spreads; it is a descriptive number for comparing renderers or settings on the
same real set, not an estimate of a population distance (no CI). Read it against
``real_pairwise_l2``, the distance between the real volumes themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from lesiontrials.errors import ConfigError
from lesiontrials.io import Volume, read_volume, sha256_file, write_json
from lesiontrials.io.atomic import atomic_path

EXTRA_HINT = "pip install 'lesiontrials[encoder]'"
RESULT_FILE = "feature_distance.json"


@dataclass(frozen=True)
class EncoderInput:
    """The encoder's input grid: voxel size (mm), shape (voxels, x-y-z), HU window."""

    spacing_mm: tuple[float, float, float] = (1.5, 1.5, 3.0)
    shape: tuple[int, int, int] = (224, 224, 160)
    hu_range: tuple[float, float] = (-1000.0, 200.0)

    def key(self) -> str:
        return hashlib.sha256(repr(asdict(self)).encode()).hexdigest()[:12]


def preprocess_volume(volume: Volume, *, spec: EncoderInput | None = None) -> np.ndarray:
    """Encoder input ``(x, y, z)`` float32 in 0…1 on ``spec``'s grid (see module doc)."""
    spec = spec or EncoderInput()
    hu = np.asarray(volume.array, dtype=np.float32)
    ratio = np.array(spec.spacing_mm) / np.array(volume.spacing_mm)
    sigma = np.maximum(0.0, (ratio - 1.0) / 2.0)  # anti-aliasing before downsampling
    if sigma.any():
        hu = ndimage.gaussian_filter(hu, sigma, mode="nearest")
    hu = ndimage.zoom(hu, 1.0 / ratio, order=1, mode="nearest", grid_mode=True)
    low, high = spec.hu_range
    scaled = (np.clip(hu, low, high) - low) / (high - low)
    body = hu > -500.0
    centre = [n // 2 for n in scaled.shape]
    if body.any():
        xy = np.argwhere(body.any(axis=2))
        centre[:2] = [(int(c.min()) + int(c.max())) // 2 for c in xy.T]
    return _crop_or_pad(scaled.astype(np.float32), centre, spec.shape)


def _crop_or_pad(array: np.ndarray, centre: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """A ``shape`` window of ``array`` centred at ``centre``; outside the array is 0."""
    out = np.zeros(tuple(shape), dtype=array.dtype)
    src, dst = [], []
    for c, n_in, n_out in zip(centre, array.shape, shape, strict=True):
        start = int(c) - n_out // 2
        lo, hi = max(start, 0), min(start + n_out, n_in)
        src.append(slice(lo, max(lo, hi)))
        dst.append(slice(lo - start, lo - start + max(0, hi - lo)))
    out[tuple(dst)] = array[tuple(src)]
    return out


def to_network_input(array: np.ndarray, *, channels: int = 3) -> Any:
    """``(x, y, z)`` array → float32 tensor ``(channels, z, x, y)``."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(np.transpose(array, (2, 0, 1))))
    return tensor.unsqueeze(0).expand(channels, -1, -1, -1).contiguous()


def embed_volume(volume: Volume, *, model: Any, spec: EncoderInput | None = None) -> np.ndarray:
    """The embedding (float64, ``embedding_dim``) of one volume, under ``torch.no_grad()``."""
    import torch

    x = to_network_input(preprocess_volume(volume, spec=spec),
                         channels=model.config.in_channels)
    with torch.no_grad():
        return model(x.unsqueeze(0))[0].double().numpy()


def embed_files(paths: Sequence[Path], *, cache_dir: Path | None = None, model: Any = None,
                model_tag: str | None = None, spec: EncoderInput | None = None) -> np.ndarray:
    """Embeddings ``(N, D)`` of CT files, cached per file SHA-256, input spec and model.

    ``model`` defaults to the packaged encoder (``encoder`` extra); pass ``model_tag`` with
    any other model so its embeddings are cached apart.
    """
    spec = spec or EncoderInput()
    if cache_dir is None:
        from lesiontrials.settings import load_settings

        cache_dir = load_settings().cache_dir
    if model is None:
        tag = _weights_tag()
    elif model_tag:
        tag = model_tag
    else:
        raise ValueError("pass model_tag with a custom model (it names its embedding cache)")
    folder = Path(cache_dir) / "encoder" / "embeddings"
    rows = []
    for path in paths:
        target = folder / f"{sha256_file(path)}-{spec.key()}-{tag}.npy"
        if target.is_file():
            rows.append(np.load(target))
            continue
        if model is None:  # built on the first cache miss only
            model = _pretrained(Path(cache_dir))
        row = embed_volume(read_volume(path), model=model, spec=spec)
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            np.save(handle, row)
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, 0))


def _weights_tag() -> str:
    try:
        from lesiontrials.render.fidelity.encoder import WEIGHTS_SHA256
    except ImportError as exc:
        raise ConfigError(f"the feature distance needs torch: {EXTRA_HINT}") from exc
    return WEIGHTS_SHA256[:16]


def _pretrained(cache_dir: Path) -> Any:
    try:
        from lesiontrials.render.fidelity.encoder import pretrained_encoder
    except ImportError as exc:
        raise ConfigError(f"the feature distance needs torch and the encoder weights: "
                          f"{EXTRA_HINT}") from exc
    return pretrained_encoder(cache_dir)


# ---------------------------------------------------------------------------
# Distances between two embedding sets
# ---------------------------------------------------------------------------
def shrunk_covariance(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Covariance of rows ``x`` shrunk towards ``(tr S / d)·I``: ``(1-ρ)·S + ρ·(tr S/d)·I``
    with ``S`` the 1/n sample covariance and ``ρ`` the oracle-approximating weight (OAS;
    Chen, Wiesel, Eldar & Hero, IEEE TSP 2010), which stays large when n ≪ d (about 2/3
    for two samples, where Ledoit–Wolf gives 0). Returns ``(covariance, ρ)``; computed
    from the n × n Gram matrix; one sample gives a zero covariance."""
    n, d = x.shape
    centred = x - x.mean(axis=0)
    cov = centred.T @ centred / n
    gram = centred @ centred.T
    trace = float(np.trace(gram)) / n  # tr S
    trace_sq = float((gram**2).sum()) / n**2  # tr S²
    denominator = (n + 1.0 - 2.0 / d) * (trace_sq - trace**2 / d)
    numerator = (1.0 - 2.0 / d) * trace_sq + trace**2
    rho = 1.0 if denominator <= 0 else float(min(1.0, numerator / denominator))
    shrunk = (1.0 - rho) * cov
    shrunk[np.diag_indices(d)] += rho * trace / d
    return shrunk, rho


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(a)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(real: np.ndarray, synthetic: np.ndarray, *, shrink: bool = True
                     ) -> float:
    """``|μr-μs|² + tr(Σr + Σs - 2(Σr^½ Σs Σr^½)^½)`` between embedding sets ``(n, d)``
    (``shrink``: OAS covariances, else the 1/n sample covariances)."""
    if shrink:
        cov_r, cov_s = shrunk_covariance(real)[0], shrunk_covariance(synthetic)[0]
    else:
        cov_r = np.atleast_2d(np.cov(real, rowvar=False, bias=True))
        cov_s = np.atleast_2d(np.cov(synthetic, rowvar=False, bias=True))
    return _frechet(real.mean(axis=0), cov_r, synthetic.mean(axis=0), cov_s)


def _frechet(mu_r: np.ndarray, cov_r: np.ndarray, mu_s: np.ndarray, cov_s: np.ndarray
             ) -> float:
    root = _sqrt_psd(cov_r)
    cross = np.linalg.eigvalsh(root @ cov_s @ root)
    trace = float(np.trace(cov_r) + np.trace(cov_s) - 2.0 * np.sqrt(np.clip(cross, 0, None)).sum())
    return max(0.0, float(((mu_r - mu_s) ** 2).sum()) + trace)


@dataclass(frozen=True)
class FeatureDistance:
    """Distances between real and synthetic embedding sets (embedding units)."""

    n_real: int
    n_synthetic: int
    frechet: float  # with OAS shrinkage of both covariances
    shrinkage_real: float
    shrinkage_synthetic: float
    mean_l2: float
    mean_cosine: float  # 1 - cos(mean real, mean synthetic)
    real_pairwise_l2: float | None  # mean L2 between real embeddings (a yardstick)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def feature_distance(real: np.ndarray, synthetic: np.ndarray) -> FeatureDistance:
    """All distances between embedding sets ``(n_real, d)`` and ``(n_synthetic, d)``."""
    if len(real) == 0 or len(synthetic) == 0:
        raise ValueError("feature distance needs at least one real and one synthetic volume")
    mu_r, mu_s = real.mean(axis=0), synthetic.mean(axis=0)
    cosine = 1.0 - float(mu_r @ mu_s) / max(float(np.linalg.norm(mu_r) * np.linalg.norm(mu_s)),
                                            1e-12)
    pairs = [float(np.linalg.norm(a - b)) for i, a in enumerate(real) for b in real[i + 1:]]
    (cov_r, rho_r), (cov_s, rho_s) = shrunk_covariance(real), shrunk_covariance(synthetic)
    return FeatureDistance(
        n_real=len(real), n_synthetic=len(synthetic),
        frechet=_frechet(mu_r, cov_r, mu_s, cov_s),
        shrinkage_real=rho_r, shrinkage_synthetic=rho_s,
        mean_l2=float(np.linalg.norm(mu_r - mu_s)), mean_cosine=cosine,
        real_pairwise_l2=float(np.mean(pairs)) if pairs else None)


# ---------------------------------------------------------------------------
# Trial step: a trial's rendered CTs against the data root's real CTs
# ---------------------------------------------------------------------------
def real_ct_files(data_root: Path) -> list[Path]:
    """Every real CT of a data root (``raw_ct/{DS}/*.nii.gz``), sorted."""
    return sorted(Path(data_root).glob("raw_ct/*/*.nii*"))


def pick_evenly(items: Sequence[Path], limit: int) -> list[Path]:
    """At most ``limit`` items, evenly spaced over the sorted list (deterministic)."""
    if len(items) <= limit:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, limit).round()]


def trial_feature_distance(trial: str, *, cases_dir: Path, data_root: Path,
                           cache_dir: Path | None = None, max_synthetic: int = 16,
                           model: Any = None, model_tag: str | None = None,
                           spec: EncoderInput | None = None) -> dict[str, Any]:
    """Distance of a trial's rendered CTs (``{case}/ct.nii.gz``, at most ``max_synthetic``,
    evenly picked) from the data root's real CTs; writes ``cases_dir/feature_distance.json``
    and returns its content. ``model``/``model_tag``/``spec``: see :func:`embed_files`."""
    spec = spec or EncoderInput()
    real = real_ct_files(data_root)
    synthetic = pick_evenly(sorted(Path(cases_dir).glob("*/ct.nii.gz")), max_synthetic)
    if not real or not synthetic:
        raise ConfigError(f"feature distance for {trial!r} needs real CTs under "
                          f"{data_root}/raw_ct and rendered cases (found {len(real)} real, "
                          f"{len(synthetic)} rendered)")
    options: dict[str, Any] = {"cache_dir": cache_dir, "model": model, "model_tag": model_tag,
                               "spec": spec}
    e_real = embed_files(real, **options)
    e_syn = embed_files(synthetic, **options)
    distance = feature_distance(e_real, e_syn)
    nearest = [float(np.linalg.norm(e_real - row, axis=1).min()) for row in e_syn]
    result = {
        "trial": trial, **distance.to_dict(),
        "real_files": [str(p.relative_to(data_root)) for p in real],
        "synthetic_cases": [p.parent.name for p in synthetic],
        "nearest_real_l2": [round(v, 6) for v in nearest],
        "encoder": {"model": model_tag or _weights_tag(), **asdict(spec)},
        "note": ("Fréchet distance with OAS shrinkage of both covariances; with few "
                 "real volumes it compares the synthetic set with those scans only (see "
                 "real_pairwise_l2 for their own spread), not with a population."),
    }
    write_json(result, Path(cases_dir) / RESULT_FILE)
    return result
