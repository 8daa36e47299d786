"""Configuration section for danmaku/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
