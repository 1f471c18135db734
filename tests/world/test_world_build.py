"""The embedded world: native placement, then a small real build (resume, determinism)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from lesiontrials import anatomy
from lesiontrials.index import build_index
from lesiontrials.io import read_csv_table, read_json, read_volume
from lesiontrials.measurements.schema import REINSERTION_COLUMNS
from lesiontrials.paths import DataRoot
from lesiontrials.settings import load_settings
from lesiontrials.testing import box_thorax, sphere_mask
from lesiontrials.world.natives import DonorShape, native_mask, place_native_nodules


def _sphere(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    n = tuple(int(2 * math.ceil(radius_mm / s) + 3) for s in spacing)
    return sphere_mask(n, tuple((k - 1) / 2 for k in n), radius_mm, spacing).mask


def test_native_keeps_volume_and_never_vanishes():
    fine = _sphere(6.0, (0.7, 0.7, 1.0))
    coarse = native_mask(DonorShape("d", fine, (0.7, 0.7, 1.0)), (2.0, 2.0, 2.5))
    assert coarse.sum() * 2.0 * 2.0 * 2.5 == pytest.approx(fine.sum() * 0.49, rel=0.1)
    tiny = np.ones((1, 1, 1), bool)
    assert native_mask(DonorShape("t", tiny, (0.5, 0.5, 0.5)), (3.0, 3.0, 4.0)).sum() == 1


@pytest.mark.parametrize("centre_z", [1.2, 1.0, 0.6])
def test_native_from_thick_slices_is_round_on_a_fine_grid(centre_z):
    """A 10 mm sphere stored on 0.7×0.7×5 mm slices (two or three slices, one of them a
    single pixel for ``centre_z`` 1.0) becomes, on a 0.7 mm grid, one piece whose
    cross-section rises to one peak and falls to each pole, closing with rounded caps
    (end slices under half the peak area; the linear resampling this replaces repeated
    each 5 mm slice, ends included, and left the single-pixel slices as specks), ≥ 6.3 mm
    tall; on a 3×3×4 mm grid it keeps its volume."""
    spacing = (0.7, 0.7, 5.0)
    donor = sphere_mask((19, 19, 4), (9.0, 9.0, centre_z), 5.0, spacing).mask
    native = native_mask(DonorShape("d", donor, spacing), (0.7, 0.7, 0.7))
    area = native.sum(axis=(0, 1))
    peak = int(np.argmax(area))
    assert np.all(area > 0), area  # one piece along z, no speck beyond a gap
    assert np.all(np.diff(area[:peak + 1]) >= 0) and np.all(np.diff(area[peak:]) <= 0), area
    assert area[0] < 0.5 * area.max() and area[-1] < 0.5 * area.max(), area
    assert len(area) >= 9, area
    again = native_mask(DonorShape("d", donor, spacing), (0.7, 0.7, 0.7))
    assert again.tobytes() == native.tobytes() and again.shape == native.shape  # deterministic
    volume = donor.sum() * 0.7 * 0.7 * 5.0
    coarse = native_mask(DonorShape("d", donor, spacing), (3.0, 3.0, 4.0))
    assert coarse.sum() * 36.0 == pytest.approx(volume, rel=0.35)  # 3×3×4 mm quantisation


def test_natives_land_whole_inside_a_lobe_and_keep_apart():
    thorax = box_thorax()
    spacing = thorax.spacing_mm
    donors = [DonorShape(f"d{i}", _sphere(r, spacing), spacing) for i, r in
              enumerate((4.0, 5.0, 3.0, 6.0))]
    placed = place_native_nodules(thorax.volume.array, spacing, donors,
                                  np.random.default_rng(3), min_gap_mm=5.0)
    assert len(placed) == 4
    for _, lobe, nodule in placed:
        under = thorax.volume.array[nodule.box][nodule.mask]
        assert np.all(under == anatomy.LOBE_LABEL_IDS[lobe])
    centres = [n.centroid_voxel() * np.asarray(spacing) for _, _, n in placed]
    for i in range(len(placed)):
        for j in range(i + 1, len(placed)):
            full_i = placed[i][2].to_full(thorax.volume.shape)
            full_j = placed[j][2].to_full(thorax.volume.shape)
            assert not (full_i & full_j).any()
            assert np.linalg.norm(centres[i] - centres[j]) > 5.0
    again = place_native_nodules(thorax.volume.array, spacing, donors, np.random.default_rng(3))
    assert [n.offset for _, _, n in again] == [n.offset for _, _, n in placed]


@pytest.fixture(scope="module")
def small_world(tiny_world):
    """The session's tiny world (demo size, seed 5, two hosts per source, built once for
    every test that needs it; read-only here) with its provenance record as written."""
    from lesiontrials.world.build import WorldResult

    return WorldResult(tiny_world, read_json(tiny_world / "world.json"))


def test_world_layout_and_index(small_world):
    root = DataRoot(small_world.root)
    assert set(root.datasets()) == {"LIDC", "SCREEN", "DIAG", "REALCT"}
    table = build_index(root).table
    hosted = table[table.dataset != "LIDC"]
    assert len(table[table.dataset == "LIDC"]) > 1000
    assert hosted[list(REINSERTION_COLUMNS)].notna().all(axis=None)
    assert (hosted.reinsertion_lobe != "").all()
    assert hosted.host_available.all() and table.mask_available.all()
    assert (hosted.percent_in_lobe == 100.0).sum() >= len(hosted) - 2  # real lesions may straddle
    info = read_json(small_world.root / "world.json")
    assert "CC BY 3.0" in info["attributions"][0]["license"]
    assert info["datasets"]["LIDC"]["diameter_agreement_equivalent_vs_database"]["n"] > 1000
    for relative, digest in list(info["files"].items())[:20]:
        assert len(digest) == 64 and (small_world.root / relative).is_file()
    assert (small_world.root / "qc" / "phantoms.png").stat().st_size > 10_000


def test_real_hosts_keep_their_lesion_in_the_lung(small_world):
    root = DataRoot(small_world.root)
    table = build_index(root).table.set_index("annotation_id")
    lung1 = table.loc["REALCT_lung1_n1"]
    lung2 = table.loc["REALCT_lung2_n1"]
    assert lung1.lobe_name == "right_lung_upper_lobe"
    assert lung2.lobe_name == "left_lung_lower_lobe"
    assert lung1.nodule_mean_hu > -300  # a solid lesion, read from the real CT
    ct = read_volume(root.raw_ct("REALCT", "REALCT_lung1"))
    seg = read_volume(root.refined_seg("REALCT", "REALCT_lung1"))
    np.testing.assert_allclose(ct.affine, seg.affine, atol=1e-4)
    assert anatomy.NODULE not in np.unique(seg.array)  # host maps are nodule-free
    hosts = read_csv_table(root.meta_csv("REALCT", "hosts")).set_index("ct_id")
    lungs = np.isin(seg.array, anatomy.LOBE_LABELS)  # the renderer's lung-density fact
    assert hosts.loc["REALCT_lung1", "lung_density_hu"] == pytest.approx(
        float(np.median(ct.array[lungs])), abs=0.5)
    assert -900.0 < hosts.loc["REALCT_lung2", "lung_density_hu"] < -780.0
    # the in-plane blur their vessels show (10–90 % edges ≈ 2 mm on these 5 mm scans)
    for ct_id in ("REALCT_lung1", "REALCT_lung2"):
        assert 0.6 < hosts.loc[ct_id, "psf_sigma_xy_mm"] < 1.0, ct_id


def test_a_real_lesion_donor_brings_its_own_texture(small_world):
    """The render's texture source finds a real lesion's CT through the built world
    (profiles ct_path → raw_ct) and returns its core HU distribution: lung2's tumour is
    strongly left-skewed (air and necrosis pockets), not a Gaussian."""
    from scipy import stats

    from lesiontrials.render.appearance.texture_source import donor_texture
    from lesiontrials.testing_records import inserted_nodule, planned_nodule

    root = DataRoot(small_world.root)
    rel = root.relative(root.nodule_seg("REALCT", "REALCT_lung2_n1"))
    crop = read_volume(root.root / rel)
    from lesiontrials.geometry import NoduleMask

    nodule = inserted_nodule(0, NoduleMask(crop.array > 0, (0, 0, 0)), crop.affine,
                             lobe=None, donor_uid="REALCT_lung2_n1",
                             planned=planned_nodule(diameter_mm=30.0, donor_mask_path=rel))
    texture = donor_texture(small_world.root, nodule)
    assert texture is not None and texture.ct_path == "REALCT/REALCT_lung2.nii.gz"
    assert stats.skew(np.asarray(texture.quantiles_hu)) < -1.0
    assert 5.0 < texture.noise_sd_hu < 20.0


def test_unannotated_real_chest_is_a_host_without_native_nodules(small_world):
    """chest1 (TotalSegmentator's test CT, 1.5 mm) hosts insertions but brings no nodule."""
    root = DataRoot(small_world.root)
    hosts = read_csv_table(root.meta_csv("REALCT", "hosts")).set_index("ct_id")
    assert hosts.loc["REALCT_chest1", "n_native_nodules"] == 0
    assert hosts.loc["REALCT_chest1", "spacing_mm"] == "1.5x1.5x1.5"
    acquisition = read_csv_table(root.meta_csv("REALCT", "acquisition")).set_index("ct_id")
    assert acquisition.loc["REALCT_chest1", "slice_thickness_mm"] == 1.5
    assert acquisition.loc["REALCT_lung1", "slice_thickness_mm"] == 5.0
    profiles = read_csv_table(root.profiles_csv("REALCT"))
    assert not profiles["AnnotationID"].astype(str).str.startswith("REALCT_chest1").any()
    seg = read_volume(root.refined_seg("REALCT", "REALCT_chest1")).array
    for lobe in anatomy.LOBE_LABELS:  # both lungs, all five (approximate) lobes
        assert (seg == lobe).sum() * 1.5**3 / 1000.0 > 200.0, lobe
    info = read_json(small_world.root / "world.json")
    assert info["datasets"]["REALCT"]["hosts"] == 3
    assert any("Apache-2.0" in a["license"] and "Wasserthal" in a["citation"]
               for a in info["attributions"])


def test_rebuild_resumes_and_is_byte_identical_across_workers(small_world, tmp_path):
    from lesiontrials.world.build import build_world

    cache = load_settings().cache_dir
    copy = tmp_path / "copy"
    shutil.copytree(small_world.root, copy)
    # Simulate an interruption: one host's record and files are gone.
    shutil.rmtree(copy / ".build" / "SCREEN")
    (copy / "masks" / "SCREEN" / "refined_seg" / "SCREEN_0001_seg.nii.gz").unlink()
    resumed = build_world(copy, size="demo", seed=5, workers=2, cache_dir=cache,
                          hosts_per_source=2, grid="coarse")
    assert resumed.info["files"] == small_world.info["files"]


def test_every_design_plans_on_the_world(small_world, tmp_path):
    """The world is an ordinary data root: index it, then plan all designs on it."""
    from lesiontrials.index import NoduleIndex, write_index
    from lesiontrials.paths import Workspace
    from lesiontrials.trials import DESIGNS, PlanContext, load_host_catalogue, plan_design

    root = DataRoot(small_world.root)
    workspace = Workspace(tmp_path / "ws")
    index = NoduleIndex.load(write_index(build_index(root), workspace))
    hosts = load_host_catalogue(root, index)
    assert len(hosts) == 2 + 2 + 3  # every host scan, nodule-free ones (REALCT_chest1) included
    assert hosts.host_ct_path[hosts.host_dataset == "REALCT"].str.startswith("raw_ct/").all()
    ctx = PlanContext(index, hosts)
    for number in DESIGNS:
        if number == 13:  # two patients with natives: too few for a donor x host block design
            from lesiontrials.errors import InputError

            with pytest.raises(InputError, match="patients have a native nodule"):
                plan_design(ctx, number, size="demo", seed=2)
            continue
        manifest = plan_design(ctx, number, size="demo", seed=2).manifest
        nodules = manifest[~manifest["nodule_free"]]
        for path in nodules["donor_mask_path"]:
            assert (small_world.root / path).is_file()
        for path in manifest["host_seg_path"]:
            assert (small_world.root / path).is_file()


def test_temp_files_of_a_killed_build_are_removed_and_never_recorded(small_world, tmp_path):
    from lesiontrials.world.build import build_world

    copy = tmp_path / "copy"
    shutil.copytree(small_world.root, copy)
    leftovers = [copy / "masks" / "SCREEN" / "refined_seg" / ".SCREEN_0001_seg.nii.gz.ab12.tmp",
                 copy / "profiles" / ".LIDC_nodule_profiles.csv.cd34.tmp"]
    for path in leftovers:
        path.write_bytes(b"half a file")
    (copy / "world.json").unlink()  # the world is rewritten from the resumed records
    resumed = build_world(copy, size="demo", seed=5, workers=1,
                          cache_dir=load_settings().cache_dir, hosts_per_source=2, grid="coarse")
    assert not any(path.exists() for path in leftovers)
    assert resumed.info["files"] == small_world.info["files"]
    assert not [name for name in resumed.info["files"] if name.endswith(".tmp")]


@pytest.mark.slow
def test_sigkill_during_the_build_then_resume_is_byte_identical(small_world, tmp_path):
    """kill -9 at three points of a build (donors written, real hosts, phantoms), then a
    resumed build: every file and world.json equal an uninterrupted build's."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    code = ("import sys; from pathlib import Path; from lesiontrials.settings import "
            "load_settings; from lesiontrials.world.build import build_world; "
            "build_world(Path(sys.argv[1]), size='demo', seed=5, workers=1, "
            "cache_dir=load_settings().cache_dir, hosts_per_source=2, grid='coarse')")
    marks = [out / ".build" / "LIDC.csv", out / ".build" / "REALCT",  # real hosts go first
             out / ".build" / "SCREEN"]
    for mark in marks:
        process = subprocess.Popen([sys.executable, "-c", code, str(out)])
        deadline = time.monotonic() + 300
        while not mark.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
    done = subprocess.run([sys.executable, "-c", code, str(out)], check=False)
    assert done.returncode == 0
    resumed = read_json(out / "world.json")
    assert resumed["files"] == small_world.info["files"]
    assert not list(out.rglob("*.tmp"))
    for relative in resumed["files"]:
        assert (out / relative).read_bytes() == (small_world.root / relative).read_bytes()


def test_full_grid_hosts_are_sampled_like_a_screening_ct():
    """Every phantom host on the full grid (the full world's, and a demo world's with
    ``--grid full``): ≤ 0.8 mm pixels, ≤ 1.25 mm slices, the whole 384 × 384 × 320 mm
    field of view (decided without drawing a host)."""
    from lesiontrials.world.phantom.params import DEFAULT_GRID_FOR_SIZE
    from lesiontrials.world.sources import PHANTOM_SOURCES, plan_hosts

    assert DEFAULT_GRID_FOR_SIZE == {"demo": "full", "full": "full"}

    uids = [f"D{k}" for k in range(10)]
    for index, source in enumerate(PHANTOM_SOURCES):
        plans = plan_hosts(source, source_index=index, n_hosts=3,
                           grid="full", seed=0, donor_uids=uids,
                           donor_diameters=np.linspace(4.0, 25.0, 10),
                           donor_labels=np.zeros(10, dtype=int))
        for plan in plans:
            sx, sy, sz = plan.spacing_mm
            assert sx <= 0.8 and sy <= 0.8 and sz <= 1.25, (source.name, plan.spacing_mm)
            extent = [n * s for n, s in zip(plan.shape, plan.spacing_mm, strict=True)]
            assert extent == pytest.approx([384.0, 384.0, 320.0])
            assert plan.shape == (512, 512, 256) and sz == 1.25  # the thinnest slice


def test_the_thinnest_slice_leaves_the_coarse_grid_alone():
    from lesiontrials.world.sources import PHANTOM_SOURCES, host_grid

    screen, diag = PHANTOM_SOURCES
    assert host_grid(screen, "coarse") == ((128, 128, 80), (3.0, 3.0, 4.0))
    assert host_grid(diag, "coarse") == ((128, 128, 64), (3.0, 3.0, 5.0))


def test_a_finished_host_on_another_grid_is_an_error(small_world, tmp_path):
    """A folder begun by an older version (e.g. 1 mm SCREEN slices) is never resumed as if
    its hosts were on this version's grid."""
    from lesiontrials.io import Volume, VolumeKind, write_volume
    from lesiontrials.world.build import WorldBuildError, build_world

    copy = tmp_path / "copy"
    shutil.copytree(small_world.root, copy)
    seg = DataRoot(copy).refined_seg("SCREEN", "SCREEN_0000")
    write_volume(seg, Volume(np.zeros((128, 128, 100), np.uint8), np.diag([3.0, 3.0, 3.2, 1.0])),
                 kind=VolumeKind.LABELS)
    with pytest.raises(WorldBuildError, match=r"finished host is \(128, 128, 100\)") as caught:
        build_world(copy, size="demo", seed=5, workers=1, cache_dir=load_settings().cache_dir,
                    hosts_per_source=2, grid="coarse")
    assert "SCREEN_0000" in str(caught.value)


def test_the_world_records_its_phantom_grid(small_world):
    info = read_json(small_world.root / "world.json")
    assert info["phantom_grid"] == {"name": "coarse", "shape": [128, 128, 80],
                                    "spacing_mm": [3.0, 3.0, 4.0]}
    hosts = read_csv_table(small_world.root / "meta" / "SCREEN_hosts.csv")
    assert set(hosts["spacing_mm"]) == {"3x3x4"}


def test_a_world_folder_is_resumed_only_on_its_own_grid(tmp_path):
    from lesiontrials.errors import InputError
    from lesiontrials.world.build import build_world

    cache = load_settings().cache_dir
    other = tmp_path / "other"
    (other / ".build").mkdir(parents=True)
    (other / ".build" / "phantom_grid.txt").write_text("coarse\n")
    with pytest.raises(InputError, match="built on the phantom grid 'coarse', not 'full'"):
        build_world(other, size="demo", cache_dir=cache, grid="full")
    old = tmp_path / "old"
    (old / ".build").mkdir(parents=True)
    (old / ".build" / "LIDC.csv").write_text("x\n")
    with pytest.raises(InputError, match="does not record its phantom grid"):
        build_world(old, size="demo", cache_dir=cache)
    with pytest.raises(ValueError, match="unknown phantom grid"):
        build_world(tmp_path / "new", size="demo", grid="huge", cache_dir=cache)


def test_a_fresh_folder_holding_only_the_build_lock_is_a_new_build(tmp_path):
    """`world build` takes its stage lock in ``.build/.locks`` before the grid check: that
    lock is not an older build (the check refused every fresh `world build --grid full`)."""
    from lesiontrials.world.build import _check_grid

    (tmp_path / ".build" / ".locks").mkdir(parents=True)
    _check_grid(tmp_path, "full")
    assert (tmp_path / ".build" / "phantom_grid.txt").read_text() == "full\n"
    (tmp_path / ".build" / "LIDC.csv").write_text("x\n")
    _check_grid(tmp_path, "full")  # resumed on its own grid
