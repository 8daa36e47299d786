"""Configuration of the real-time core: format, encoder and outputs."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EncoderSettings(_Strict):
    preset: str = "veryfast"
    video_bitrate_kbps: int = Field(2500, gt=0)
    audio_bitrate_kbps: int = Field(128, gt=0)
    gop_seconds: float = Field(2.0, gt=0)
    threads: int = Field(0, ge=0, description="libx264 threads; 0 lets x264 choose")


class RtmpSettings(_Strict):
    urls: list[str] = []
    url_env: str | None = Field(None, description="name of an env var holding one more URL (stream key inside)")
    reconnect_initial_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(10.0, gt=0)
    rw_timeout_s: float = Field(3.0, gt=0)
    queue_seconds: float = Field(10.0, gt=0)
    probe_interval_s: float = Field(
        1.0, ge=0, description="how often to check the server still answers an RTMP handshake while publishing; 0 = off"
    )

    @field_validator("urls")
    @classmethod
    def _rtmp_scheme(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("rtmp://", "rtmps://")):
                raise ValueError(f"not an rtmp:// URL: {url}")
        return urls


class RecordSettings(_Strict):
    path: str | None = Field(None, description="file or pattern; strftime codes allowed, e.g. var/rec/%Y%m%d-%H%M%S.flv")
    format: Literal["flv", "mp4"] | None = None
    rotate_seconds: float | None = Field(None, gt=0)
    rotate_megabytes: float | None = Field(None, gt=0)


class PreviewSettings(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)
    path: str = "/live.flv"


class StreamSettings(_Strict):
    width: int = Field(1280, ge=64, le=3840, multiple_of=2)
    height: int = Field(720, ge=64, le=2160, multiple_of=2)
    fps: int = Field(25, ge=1, le=60)
    sample_rate: Literal[44100, 48000] = 48000
    channels: Literal[1, 2] = 2
    prebuffer_frames: int = Field(
        1, ge=0, description="rendered frames needed before a segment goes on air; raise it for renderers slower than real time"
    )
    fade_frames: int = Field(2, ge=1, description="an interrupted segment is silent this many ticks later (faded out)")
    encoder: EncoderSettings = EncoderSettings()
    rtmp: RtmpSettings = RtmpSettings()
    record: RecordSettings = RecordSettings()
    preview: PreviewSettings = PreviewSettings()

    @model_validator(mode="after")
    def _whole_samples_per_frame(self) -> StreamSettings:
        # Audio pts = samples sent and video pts = frames: each frame must own a whole number of samples.
        if self.sample_rate % self.fps:
            raise ValueError(
                f"fps {self.fps} does not divide sample_rate {self.sample_rate} "
                "(each video frame must own a whole number of audio samples; use e.g. 25 or 30)"
            )
        return self
