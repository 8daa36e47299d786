"""Read a recording or a live URL back: codecs, size, rate, packet timestamps, decoded audio and frames.

Used by the tests and benchmarks to check what actually went out, and handy for `doctor`-style checks.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import numpy as np


@dataclass
class StreamReport:
    codec: str
    time_base: float
    dts: list[int] = field(default_factory=list)  # in time_base units
    pts: list[int] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=list)  # pts of keyframes
    arrival: list[float] = field(default_factory=list)  # monotonic time each packet was read

    @property
    def dts_seconds(self) -> np.ndarray:
        return np.asarray(self.dts, dtype=np.float64) * self.time_base


@dataclass
class MediaReport:
    """What a reader got from one file or URL."""

    format: str
    width: int = 0
    height: int = 0
    fps: float = 0.0
    sample_rate: int = 0
    channels: int = 0
    video: StreamReport | None = None
    audio: StreamReport | None = None
    audio_pcm: np.ndarray | None = None  # float32 (samples, channels), decoded, in file time order
    audio_start: float = 0.0  # seconds of the first decoded sample
    frames: list[np.ndarray] = field(default_factory=list)  # decoded BGR frames when asked for

    @property
    def video_duration(self) -> float:
        """Seconds covered by the video packets (last pts - first pts + one frame)."""
        if not self.video or not self.video.pts:
            return 0.0
        pts = self.video.pts
        return (max(pts) - min(pts)) * self.video.time_base + 1.0 / self.fps

    @property
    def audio_duration(self) -> float:
        if self.audio_pcm is None or not self.sample_rate:
            return 0.0
        return len(self.audio_pcm) / self.sample_rate


def probe_media(
    source: str,
    *,
    decode_audio: bool = True,
    decode_video: bool = False,
    max_seconds: float | None = None,
    timeout: float | None = 10.0,
    stop: Callable[[], bool] | None = None,
) -> MediaReport:
    """Demux ``source`` (path or URL) to the end, or for ``max_seconds`` of wall time, or until ``stop()``."""
    container = av.open(source, timeout=timeout)
    try:
        report = MediaReport(format=container.format.name)
        v = container.streams.video[0] if container.streams.video else None
        a = container.streams.audio[0] if container.streams.audio else None
        if v is not None:
            report.width, report.height = v.codec_context.width, v.codec_context.height
            rate = v.average_rate or v.guessed_rate or v.base_rate
            report.fps = float(rate) if rate else 0.0
            report.video = StreamReport(v.codec_context.name, float(v.time_base))
        if a is not None:
            report.sample_rate = a.codec_context.sample_rate
            report.channels = a.codec_context.channels
            report.audio = StreamReport(a.codec_context.name, float(a.time_base))
        chunks: list[np.ndarray] = []
        first_audio: float | None = None
        began = time.monotonic()
        streams = [s for s in (v, a) if s is not None]
        for packet in container.demux(streams):
            now = time.monotonic()
            if max_seconds is not None and now - began > max_seconds:
                break
            if stop is not None and stop():
                break
            if packet.dts is None:
                continue
            rep = report.video if packet.stream is v else report.audio
            rep.dts.append(packet.dts)
            rep.pts.append(packet.pts)
            rep.arrival.append(now)
            if packet.is_keyframe:
                rep.keyframes.append(packet.pts)
            if packet.stream is a and decode_audio:
                for frame in packet.decode():
                    if first_audio is None and frame.pts is not None:
                        first_audio = float(frame.pts * frame.time_base)
                    pcm = frame.to_ndarray()
                    chunks.append(pcm.T if frame.format.is_planar else pcm.reshape(-1, report.channels))
            elif packet.stream is v and decode_video:
                for frame in packet.decode():
                    report.frames.append(frame.to_ndarray(format="bgr24"))
        if chunks:
            report.audio_pcm = np.concatenate(chunks).astype(np.float32)
            report.audio_start = first_audio or 0.0
        return report
    finally:
        container.close()


def tone_span(pcm: np.ndarray, sample_rate: int, threshold: float = 0.05, window: int = 96) -> tuple[float, float] | None:
    """Start and end (s) of the loud part of ``pcm`` (float, full scale 1.0), by short-window RMS."""
    mono = np.abs(pcm.mean(axis=1)) if pcm.ndim == 2 else np.abs(pcm)
    if len(mono) < window:
        return None
    energy = np.sqrt(np.convolve(mono**2, np.ones(window) / window, mode="same"))
    loud = np.flatnonzero(energy > threshold)
    if not len(loud):
        return None
    return loud[0] / sample_rate, (loud[-1] + 1) / sample_rate
