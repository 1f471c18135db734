"""The web UI's record schemas and JSDoc types are generated from the Python records and
checked in; they must equal what the generator writes now (no drift)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from lesiontrials.apps.schemas import STATIC_DIR, TYPES_FILE, generated_files, jsdoc_types


def test_checked_in_schemas_and_types_equal_the_generated_ones():
    for relative, text in generated_files().items():
        path = STATIC_DIR / relative
        assert path.is_file(), f"{relative} missing: run `make schemas`"
        assert path.read_text(encoding="utf-8") == text, \
            f"{relative} is stale: run `make schemas` and commit the result"
    on_disk = {p.relative_to(STATIC_DIR).as_posix() for p in (STATIC_DIR / "schemas").glob("*")}
    assert on_disk == {k for k in generated_files() if k.startswith("schemas/")}


def test_schemas_follow_the_records():
    schema = json.loads(generated_files()["schemas/insert_record.schema.json"])
    assert schema["additionalProperties"] is False  # unknown fields are refused
    realised = schema["$defs"]["RealisedTruth"]["properties"]
    assert {"centroid_voxel", "centroid_mm", "equivalent_diameter_mm", "lobe"} <= set(realised)
    types = jsdoc_types()
    assert "@typedef {Object} RealisedTruth" in types
    assert "@property {[number, number, number]} centroid_voxel" in types


def test_cases_js_is_type_checked_against_the_records():
    script = (STATIC_DIR / "cases.js").read_text(encoding="utf-8")
    assert "// @ts-check" in script
    assert f'import("./{TYPES_FILE}").InsertRecord' in script


@pytest.mark.skipif(shutil.which("tsc") is None, reason="TypeScript's tsc is not installed")
def test_cases_js_passes_the_type_check(tmp_path):
    """Where ``tsc`` is installed: cases.js type-checks, and a misspelt record field in it
    does not (the check would catch a renamed field)."""
    for name in ("cases.js", TYPES_FILE, "util.js", "viewer3d.js"):
        shutil.copy(STATIC_DIR / name, tmp_path / name)
    command = ["tsc", "--noEmit", "--allowJs", "--target", "es2022", "--module", "es2022",
               "--moduleResolution", "bundler", "--lib", "es2022,dom", "cases.js"]
    ok = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout
    broken = tmp_path / "cases.js"
    broken.write_text(broken.read_text().replace("n.realised.lobe,", "n.realised.lobee,"))
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "lobee" in bad.stdout
