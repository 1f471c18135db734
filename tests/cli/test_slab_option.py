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
