"""``--slab-mm``: the screening-grid slab option of ``run`` and ``insert``."""

from __future__ import annotations

import pytest

from lesiontrials.cli.main import main
from lesiontrials.pipeline import insert_config


@pytest.mark.parametrize("command", [["run", "--size", "demo"], ["insert", "--all"]])
def test_a_slab_too_short_for_a_random_offset_is_refused_before_any_stage(
        tmp_path, monkeypatch, capsys, command):
    ws = tmp_path / "ws"
    monkeypatch.setattr("sys.argv", ["lesiontrials", *command, "--workspace", str(ws),
                                     "--slab-mm", "32"])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--slab-mm" in err and "at least 40 mm" in err and "Fix:" in err
    assert not (ws / "world").exists() and not (ws / "cases").exists()


def test_the_slab_option_reaches_the_insertion_settings():
    assert insert_config(slab_mm=None).slab_length_mm is None
    assert insert_config(slab_mm=80.0).slab_length_mm == 80.0


def test_the_slab_default_follows_the_world_grid(tmp_path):
    """A world built on the screening grid keeps 40 mm slabs unless asked otherwise; the
    coarse grid and data roots that are not built worlds keep whole volumes; 0 is whole
    volumes explicitly."""
    from lesiontrials.io import write_json
    from lesiontrials.pipeline.build import default_slab_mm

    assert default_slab_mm(tmp_path) is None  # not a built world
    for grid, expected in (("full", 40.0), ("coarse", None)):
        root = tmp_path / grid
        root.mkdir()
        write_json({"phantom_grid": {"name": grid}}, root / "world.json")
        assert default_slab_mm(root) == expected
    assert insert_config(slab_mm=0.0).slab_length_mm is None
