"""Image embeddings: CT crops around nodules, the embeddings table, cosine k-NN, the
``index embed`` command and ``similar?space=image`` (tiny random encoders; the loading
code of the packaged one is exercised by tests/render/test_encoder.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from imaging_world import CT_SCAN, NODULES, ImagingWorld, build_imaging_world

from lesiontrials.embeddings import (
    EmbeddingTable,
    ImageModel,
    cosine_neighbours,
    embed_nodules,
    embeddings_path,
    read_embeddings,
    write_embeddings,
)
from lesiontrials.index.crops import SKIP_NO_CT, CropSpec, crop_source, resample_crop
from lesiontrials.io import Volume, sha256_file

SMALL_CROP = CropSpec(spacing_mm=(2.0, 2.0, 4.0), shape=(32, 32, 16))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ImagingWorld:
    return build_imaging_world(tmp_path_factory.mktemp("imaging"))


def _tiny_model() -> ImageModel:
    torch = pytest.importorskip("torch")
    encoder = pytest.importorskip("lesiontrials.render.fidelity.encoder")
    torch.manual_seed(0)
    network = encoder.build_encoder(config=encoder.EncoderConfig(blocks=(1, 1, 2, 1), width=8))
    return ImageModel(network, "tiny random encoder", "test-1")


def _client(world: ImagingWorld):
    from fastapi.testclient import TestClient

    from lesiontrials.apps import create_app

    return TestClient(create_app(world.workspace.root, world.root.root),
                      raise_server_exceptions=False,
                      base_url="http://localhost")


def test_crop_is_centred_on_the_nodule_and_air_outside() -> None:
    hu = np.full((60, 60, 30), -1000, np.int16)
    hu[28:33, 28:33, 13:18] = 200  # a bright cube around voxel (30, 30, 15)
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    affine[:3, 3] = (-30.0, 10.0, 5.0)
    volume = Volume(hu, affine)
    centre = volume.voxel_to_world(np.array([30.0, 30.0, 15.0]))
    spec = CropSpec(spacing_mm=(1.0, 1.0, 2.0), shape=(16, 16, 8))
    crop = resample_crop(volume, centre, spec)
    assert crop.shape == (16, 16, 8) and crop.dtype == np.float32
    assert crop[7:9, 7:9, 3:5].min() > 0.9  # HU 200 → 1 at the centre
    assert crop[0, 0, 0] == 0.0 and crop.min() >= 0.0
    far = resample_crop(volume, centre + 500.0, spec)
    assert not far.any()  # outside the scan: air


def test_crop_sources_real_rendered_and_donor_only(world: ImagingWorld) -> None:
    from lesiontrials.index import NoduleIndex

    table = NoduleIndex.load(world.workspace.index_table).table
    kinds = {}
    for record in table.to_dict(orient="records"):
        source, reason = crop_source(record, world.root)
        kinds[record["nodule_uid"]] = source.kind if source else reason
    ct_rows = table.loc[table["ct_id"] == CT_SCAN, "nodule_uid"]
    assert {kinds[u] for u in ct_rows} == {"raw_ct"}
    assert [kinds[u] for u in world.ph_uids].count("rendered") == len(NODULES["PH_00001"])
    assert {kinds[u] for u in world.donor_uids} == {SKIP_NO_CT}


def test_cosine_neighbours_on_a_constructed_case() -> None:
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [-1, 0, 0], [0.7, 0.7, 0],
                        [2.0, 0, 0]], dtype=np.float32)
    table = EmbeddingTable(np.array([f"D/n{i}" for i in range(6)], dtype=object), vectors,
                           np.array(["raw_ct"] * 6, dtype=object))
    rows, similarity = table.neighbours("D/n0", k=4)
    assert rows.tolist() == [5, 1, 4, 2]  # n5 is n0 scaled: cosine 1; ties in row order
    assert similarity[0] == pytest.approx(1.0) and similarity[-1] == pytest.approx(0.0)
    assert np.all(np.diff(similarity) <= 0)
    rows, _ = cosine_neighbours(table.unit, 3, k=10)
    assert rows.tolist()[-1] in (0, 5) and 3 not in rows.tolist() and len(rows) == 5
    assert rows.tolist() == [2, 4, 1, 0, 5]  # k clamped to the others; n0/n5 tie in row order


def test_embed_nodules_embeds_ct_rows_and_reports_donor_only(world: ImagingWorld) -> None:
    from lesiontrials.index import NoduleIndex

    table = NoduleIndex.load(world.workspace.index_table).table
    model = _tiny_model()
    result = embed_nodules(table, world.root, model=model, spec=SMALL_CROP)
    embedded = result.table
    assert sorted(embedded.uids) == sorted(world.ph_uids)
    assert embedded.vectors.shape == (4, 8 * 8 * 4) and np.isfinite(embedded.vectors).all()
    assert embedded.metadata["sources"] == {"raw_ct": 2, "rendered": 2}
    assert result.skipped == {SKIP_NO_CT: world.donor_uids}
    assert embedded.metadata["skipped"] == {SKIP_NO_CT: 3}
    again = embed_nodules(table, world.root, model=model, spec=SMALL_CROP).table
    np.testing.assert_array_equal(again.vectors, embedded.vectors)  # rendered crops seeded
    path = write_embeddings(embedded, world.workspace.root / "e.parquet", index_sha256="abc")
    back = read_embeddings(path)
    np.testing.assert_array_equal(back.vectors, embedded.vectors)
    assert back.uids.tolist() == embedded.uids.tolist()
    assert back.metadata["model"] == "tiny random encoder"
    assert back.metadata["model_version"] == "test-1" and back.metadata["index_sha256"] == "abc"


def test_similar_by_image_endpoint(world: ImagingWorld) -> None:
    client = _client(world)
    uid = world.ph_uids[0]
    missing = client.get(f"/api/nodules/{uid}/similar", params={"space": "image"})
    assert missing.status_code == 409 and "lesiontrials index embed" in missing.json()["error"]
    vectors = np.array([[1, 0, 0], [0.2, 1, 0], [0.9, 0.3, 0], [0.5, 0.5, 0.5]], np.float32)
    constructed = EmbeddingTable(np.array(world.ph_uids, dtype=object), vectors,
                                 np.array(["raw_ct"] * 4, dtype=object),
                                 {"model": "constructed", "model_version": "0"})
    path = embeddings_path(world.workspace)
    write_embeddings(constructed, path, index_sha256=sha256_file(world.workspace.index_table))
    try:
        body = client.get(f"/api/nodules/{uid}/similar", params={"space": "image", "k": 2}).json()
        assert body["space"] == "image" and body["model"] == "constructed"
        assert [r["nodule_uid"] for r in body["items"]] == [world.ph_uids[2], world.ph_uids[3]]
        cosine = 0.9 / np.linalg.norm([0.9, 0.3])
        assert body["items"][0]["cosine_similarity"] == pytest.approx(cosine, abs=1e-6)
        assert body["items"][0]["distance"] == pytest.approx(1 - cosine, abs=1e-6)
        assert body["total"] == 2 and body["embedded"] == 4 and body["stale"] is False
        donor = client.get(f"/api/nodules/{world.donor_uids[0]}/similar",
                           params={"space": "image"})
        assert donor.status_code == 404 and "no image embedding" in donor.json()["error"]
        features = client.get(f"/api/nodules/{uid}/similar", params={"k": 3}).json()
        assert features["space"] == "features" and len(features["items"]) == 3
        assert all(r["distance"] == r["match_distance"] for r in features["items"])
        bad = client.get(f"/api/nodules/{uid}/similar", params={"space": "pixels"})
        assert bad.status_code == 422 and "space" in bad.json()["error"]
    finally:
        path.unlink()


def test_index_embed_command(world: ImagingWorld, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from lesiontrials import embeddings
    from lesiontrials.cli.main import app

    model = _tiny_model()
    monkeypatch.setattr(embeddings, "packaged_model", lambda **_: model)
    monkeypatch.setattr(embeddings, "packaged_model_version", lambda: model.version)
    monkeypatch.setenv("LESIONTRIALS_CACHE_DIR", str(tmp_path / "cache"))
    args = ["index", "embed", "-w", str(world.workspace.root), "-d", str(world.root.root)]
    path = embeddings_path(world.workspace)
    try:
        first = CliRunner().invoke(app, args)
        assert first.exit_code == 0, first.output
        assert "4 nodules embedded" in first.output and "donor-only" in first.output
        table = read_embeddings(path)
        assert sorted(table.uids) == sorted(world.ph_uids)
        assert table.metadata["index_sha256"] == sha256_file(world.workspace.index_table)
        again = CliRunner().invoke(app, args)
        assert again.exit_code == 0 and "up to date" in again.output
    finally:
        path.unlink(missing_ok=True)
