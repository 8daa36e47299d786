"""Configuration section for knowledge/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class KnowledgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
