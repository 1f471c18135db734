from pathlib import Path

import pytest

from lesiontrials.errors import ConfigError, MissingPathError
from lesiontrials.paths import DataRoot, Workspace
from lesiontrials.settings import describe_settings, interpolate, load_settings, load_yaml


def test_precedence_override_env_dotenv_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LESIONTRIALS_WORKSPACE", raising=False)
    monkeypatch.delenv("LESIONTRIALS_SEED", raising=False)
    (tmp_path / ".env").write_text("LESIONTRIALS_SEED=7\nLESIONTRIALS_WORKSPACE=from_dotenv\n")
    monkeypatch.setenv("LESIONTRIALS_WORKSPACE", "from_env")
    settings = load_settings()
    assert settings.seed == 7 and settings.workspace == Path("from_env")
    assert settings.resolved_data_root == Path("from_env") / "world"
    sources = {row.name: row.source for row in describe_settings(settings)}
    assert sources["workspace"] == "environment (LESIONTRIALS_WORKSPACE)"
    assert sources["seed"] == ".env (LESIONTRIALS_SEED)"
    assert sources["workers"].startswith("default")
    overridden = load_settings(workspace=tmp_path / "cli")
    rows = describe_settings(overridden, overrides={"workspace": tmp_path / "cli"})
    assert {r.name: r.source for r in rows}["workspace"] == "command line"


def test_invalid_setting_is_a_config_error(monkeypatch):
    monkeypatch.setenv("LESIONTRIALS_WORKERS", "0")
    with pytest.raises(ConfigError, match="LESIONTRIALS_WORKERS=.0.: Input should be greater"):
        load_settings()


def test_yaml_interpolation(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_ROOT", "/data/release")
    path = tmp_path / "spec.yaml"
    path.write_text("root: ${MY_ROOT}/x\nseed: ${MY_SEED:-3}\n")
    assert load_yaml(path) == {"root": "/data/release/x", "seed": 3}
    path.write_text("a: 1\nroot: ${UNSET_VARIABLE_XYZ}\n")
    with pytest.raises(ConfigError, match=r"spec\.yaml: line 2: variable \$\{UNSET_VARIABLE_XYZ\}"):
        load_yaml(path)
    assert interpolate("x ${A:-}y", env={}) == "x y"


def test_data_root_paths_follow_the_release_layout(tmp_path):
    root = DataRoot(tmp_path)
    assert root.refined_seg("DLCS24", "DLCS_0001") == (
        tmp_path / "masks/DLCS24/refined_seg/DLCS_0001_seg.nii.gz")
    assert root.nodule_seg("LUNA25", "A1") == tmp_path / "masks/LUNA25/nodule_seg/A1.nii.gz"
    assert root.raw_ct_from_profile("DLCS24/DLCS_0001.nii.gz") == (
        tmp_path / "raw_ct/DLCS24/DLCS_0001.nii.gz")
    assert root.profiles_csv("NSCLCR") == tmp_path / "profiles/NSCLCR_nodule_profiles.csv"
    with pytest.raises(MissingPathError, match="LESIONTRIALS_DATA_ROOT"):
        root.require()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "A_nodule_profiles.csv").write_text("x\n")
    assert root.require().datasets() == ["A"]
    with pytest.raises(ValueError):
        root.raw_ct_from_profile("../../etc/passwd")
    with pytest.raises(ValueError):
        root.nodule_seg("../x", "a")


def test_workspace_layout(tmp_path):
    ws = Workspace(tmp_path)
    assert ws.index_table == tmp_path / "index/nodules.parquet"
    assert ws.case_dir("trial1", "case0001") == tmp_path / "cases/trial1/case0001"
    assert ws.results_dir("m", "s", "plain", "presence") == tmp_path / "results/m/s/plain/presence"
    with pytest.raises(ValueError):
        ws.trial_dir("../escape")


def test_config_lists_every_variable_the_code_reads(monkeypatch):
    import re
    from pathlib import Path

    from lesiontrials.settings import (
        ENV_PREFIX,
        MODEL_VARIABLES,
        Settings,
        describe_model_variables,
    )

    src = Path(__file__).resolve().parents[1] / "src" / "lesiontrials"
    read = {m for path in src.rglob("*.py")
            for m in re.findall(r"LESIONTRIALS_[A-Z][A-Z0-9_]*[A-Z0-9]", path.read_text())}
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert read - fields - set(MODEL_VARIABLES) == set()
    monkeypatch.setenv("LESIONTRIALS_OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("LESIONTRIALS_QWEN_VL_PATH", "/models/qwen")
    rows = {r.name: r for r in describe_model_variables(env_file="/nonexistent")}
    assert rows["LESIONTRIALS_QWEN_VL_PATH"].value == "/models/qwen"
    assert rows["LESIONTRIALS_OPENAI_API_KEY"].value == "(set, hidden)"  # never printed
