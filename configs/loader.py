"""Load and validate the TOML configuration; a bad value becomes one line naming the key."""
from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from configs.models import AppConfig

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")


class ConfigError(Exception):
    """A configuration problem, worded for the operator (one line, names the key)."""


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"unknown config key '{key}'"
    if err["type"] == "missing":
        return f"missing config key '{key}'"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "a table"
    return f"bad value for config key '{key}': {err['msg']} (got {shown})"


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> AppConfig:
    """Read ``path`` (default configs/default.toml), apply ``overrides`` (nested dict), validate."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    if overrides:
        _merge(data, overrides)
    try:
        cfg = AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_error(exc)}") from None
    cfg.source_path = path.resolve()
    return cfg


def _merge(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
