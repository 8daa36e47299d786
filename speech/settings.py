"""Configuration section for speech/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SpeechSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
