"""Configuration section for lipsync/."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LipsyncSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    renderer: str = Field("viseme", description="registered renderer name: 'viseme' (no weights) or 'wav2lip'")
    device: Literal["auto", "cpu", "cuda"] = "auto"
