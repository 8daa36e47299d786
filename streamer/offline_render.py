"""Offline render: speech audio -> lip-synced H.264+AAC MP4 through the live path, without pacing."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from avatars.base import Avatar
from lipsync.base import Renderer, Timing
from streamer.media_clock import samples_per_frame
from streamer.settings import PreviewSettings, RecordSettings, RtmpSettings, StreamSettings
from streamer.timeline import SpeechHandle


def render_to_file(
    settings: StreamSettings,
    avatar: Avatar,
    renderer: Renderer,
    audio_int16: np.ndarray,
    timings: Sequence[Timing],
    out_path: str | os.PathLike,
    lead_in_s: float = 0.5,
    tail_s: float = 0.5,
) -> SpeechHandle:
    """Write ``out_path`` (.mp4, or .flv): idle lead-in, the utterance, idle tail; returns its handle.

    Uses the same timeline, encoder and file sink as the live stream, so what you see is what goes on air.
    """
    from streamer.engine import StreamEngine

    out = Path(out_path)
    fmt = "flv" if out.suffix.lower() == ".flv" else "mp4"
    offline = settings.model_copy(
        update={
            "rtmp": RtmpSettings(),
            "preview": PreviewSettings(enabled=False),
            "record": RecordSettings(path=str(out), format=fmt),
        }
    )
    spf = samples_per_frame(settings.sample_rate, settings.fps)
    lead = max(0, round(lead_in_s * settings.fps))
    speech = max(1, -(-len(audio_int16) // spf))
    tail = max(0, round(tail_s * settings.fps))
    engine = StreamEngine(
        offline,
        avatar,
        renderer,
        record_path=out,
        realtime=False,
        status_interval_s=0,
        frame_limit=lead + speech + tail,
        record_fragmented=False,
    )
    handle = engine.timeline.say(audio_int16, timings, "", start_tick=lead)
    engine.start()
    try:
        engine.join()
    finally:
        engine.stop()
    return handle
