"""Configuration section for avatars/ (``[avatar]`` in the TOML; unknown keys are errors)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AvatarSettings(BaseModel):
    """``[avatar]``: which presenter is on air and how its overlay text is drawn."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("builtin", description="'builtin' (drawn in code) or an avatar pack name / path")
    packs_dir: str = Field("var/avatars", description="where `avatar prepare` stores packs")
    shop_name: str | None = Field(None, description="overlay text; default: the knowledge base's store name")
    loop_seconds: float = Field(10.0, ge=2.0, le=120.0, description="length of the built-in avatar's idle loop")
    font: str | None = Field(None, description="TTF/TTC for overlay text; default: a CJK font found on the system")
    decode_cache_frames: int = Field(
        40, ge=4, le=2000, description="packs: decoded loop frames kept in memory (the rest is decoded on demand)"
    )
