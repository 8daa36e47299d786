"""The real-time core: media clock, timeline (idle loop + speech), encoder and sinks (RTMP, file, HTTP-FLV).

Public API: ``StreamEngine``, ``SpeechHandle``, ``SpeechState``, ``GivenFrames``, ``StartupError``,
``render_to_file``
(imported lazily so that importing this package stays cheap).
"""
from __future__ import annotations

from streamer.errors import StartupError

__all__ = ["StartupError", "StreamEngine", "SpeechHandle", "SpeechState", "GivenFrames", "render_to_file"]


def __getattr__(name: str):
    if name == "StreamEngine":
        from streamer.engine import StreamEngine

        return StreamEngine
    if name in ("SpeechHandle", "SpeechState", "GivenFrames"):
        from streamer import timeline

        return getattr(timeline, name)
    if name == "render_to_file":
        from streamer.offline_render import render_to_file

        return render_to_file
    raise AttributeError(f"module 'streamer' has no attribute {name!r}")
