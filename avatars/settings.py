"""Configuration section for avatars/."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AvatarSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("builtin", description="'builtin' (drawn in code) or an avatar pack name / path")
    packs_dir: str = Field("var/avatars", description="where `avatar prepare` stores packs")
    shop_name: str | None = Field(None, description="overlay text; default: the knowledge base's store name")
