"""Configuration section for scripts_library/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ScriptsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
