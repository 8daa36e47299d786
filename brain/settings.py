"""Configuration section for brain/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
