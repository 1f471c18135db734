"""``lesiontrials nodules …`` answers exactly what the web API answers (same routes,
in-process), on the apps' small world."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lesiontrials.cli.main import app

runner = CliRunner()


def _args(world) -> list[str]:
    return ["--workspace", str(world.workspace.root), "--data-root", str(world.data_root.root)]


def _invoke(args: list[str]):
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def test_search_detail_similar_match_equal_the_api(small_world, client):
    where = _args(small_world)
    cli = json.loads(_invoke(["nodules", "search", *where, "--json", "--limit", "5"]).output)
    api = client.get("/api/nodules", params={"limit": 5}).json()
    assert cli == api and cli["total"] >= 1
    dataset = cli["items"][0]["dataset"]
    filtered = json.loads(_invoke(["nodules", "search", *where, "--json", "--filter",
                                   f"dataset={dataset}"]).output)
    assert filtered["total"] == client.get("/api/nodules", params={"dataset": dataset}
                                           ).json()["total"]
    assert all(item["dataset"] == dataset for item in filtered["items"])
    uid = small_world.nodule_uid
    detail = json.loads(_invoke(["nodules", "detail", uid, *where, "--json"]).output)
    assert detail["nodule_uid"] == uid == client.get(f"/api/nodules/{uid}").json()["nodule_uid"]
    near = json.loads(_invoke(["nodules", "similar", uid, *where, "--json", "--k", "3"]).output)
    assert near == client.get(f"/api/nodules/{uid}/similar", params={"k": 3}).json()
    matched = json.loads(_invoke(["nodules", "match", *where, "--json", "--diameter-mm", "8",
                                  "--k", "4"]).output)
    assert matched == client.post("/api/match", json={"diameter_mm": 8, "k": 4}).json()
    table = _invoke(["nodules", "search", *where]).output
    assert "nodules match" in table and cli["items"][0]["nodule_uid"] in table


def test_export_writes_the_api_bytes_and_bad_filters_are_refused(small_world, client,
                                                                tmp_path):
    from lesiontrials.errors import InputError

    where = _args(small_world)
    out = tmp_path / "sel.csv"
    _invoke(["nodules", "export", *where, "--out", str(out)])
    assert out.read_bytes() == client.get("/api/nodules/export").content
    bad = runner.invoke(app, ["nodules", "search", *where, "--filter", "diameter_min=abc"])
    assert isinstance(bad.exception, InputError) and "diameter_min" in str(bad.exception)
    typo = runner.invoke(app, ["nodules", "search", *where, "--filter", "diamter_min=6"])
    assert isinstance(typo.exception, InputError) and "diamter_min" in str(typo.exception)
    info = _invoke(["nodules", "info", *where]).output
    assert "dataset:" in info
