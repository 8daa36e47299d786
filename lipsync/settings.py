"""Configuration section for lipsync/ (``[lipsync]`` in the TOML; unknown keys are errors)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt


class VisemeSettings(BaseModel):
    """Tuning of the default (no weights) renderer; the defaults suit 25 fps speech."""

    model_config = ConfigDict(extra="forbid")

    attack_s: float = Field(0.03, ge=0.0, le=1.0, description="time constant while the mouth opens")
    release_s: float = Field(0.06, ge=0.0, le=1.0, description="time constant while the mouth closes")
    gate_db: float = Field(-40.0, le=0.0, description="frames quieter than this (dBFS RMS) close the mouth")
    relative_gate: float = Field(
        0.08, ge=0.0, lt=1.0, description="...or quieter than this share of the utterance's loud level"
    )
    max_open: float = Field(1.0, gt=0.0, le=1.0, description="opening at the utterance's loud level")
    end_taper_frames: int = Field(2, ge=0, le=25, description="frames over which the mouth is forced shut at the end")
    warp_strength: float = Field(
        0.45, gt=0.0, le=1.0, description="photo avatars: lip gap at full opening, share of the mouth box height"
    )


class LipsyncSettings(BaseModel):
    """``[lipsync]``: which renderer draws the mouth and where it runs."""

    model_config = ConfigDict(extra="forbid")

    renderer: str = Field("viseme", description="registered renderer name: 'viseme' (no weights), 'wav2lip' or 'none'")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto': cuda when present, else cpu")
    fp16: bool = Field(True, description="half precision on cuda (ignored on cpu)")
    wav2lip_checkpoint: str = Field(
        "var/models/wav2lip_gan.pth",
        description="public Wav2Lip checkpoint (wav2lip.pth or wav2lip_gan.pth); never downloaded at run time",
    )
    wav2lip_allow_pickle: bool = Field(
        False, description="load checkpoints that need full pickle (only for files you trust)"
    )
    batch_size: int = Field(16, ge=1, le=1024, description="Wav2Lip frames per inference batch")
    face_pads: tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt, NonNegativeInt] = Field(
        (0, 10, 0, 0), description="Wav2Lip crop padding in pixels: top, bottom, left, right (chin room)"
    )
    box_smooth_frames: int = Field(5, ge=1, le=25, description="Wav2Lip face boxes are averaged over this many loop frames")
    feather: float = Field(0.12, ge=0.0, le=0.5, description="Wav2Lip paste-back: feathered edge, share of the face box")
    wav2lip_paste: Literal["lower", "full"] = Field(
        "lower", description="paste back only the mouth/jaw part of the face box (sharp eyes) or all of it"
    )
    wav2lip_fade_frames: int = Field(
        3, ge=0, le=25, description="Wav2Lip faces fade in/out over this many frames at utterance start/end"
    )
    threads: int = Field(0, ge=0, description="torch CPU threads for Wav2Lip; 0 keeps torch's default")
    viseme: VisemeSettings = VisemeSettings()
