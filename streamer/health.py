"""Health counters of the stream: frames, late/held, and per-sink state; read by the console and /metrics."""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field


@dataclass
class SinkHealth:
    """Counters of one output; written by its own thread, read by anyone (plain ints under the GIL)."""

    name: str
    kind: str  # "rtmp" | "file" | "http-flv" | "null"
    target: str = ""  # URL with the stream key masked, file path, or listen address
    state: str = "idle"  # idle | connecting | publishing | reconnecting | stopped | failed
    bytes: int = 0
    packets: int = 0
    reconnects: int = 0
    dropped_packets: int = 0
    queue_depth: int = 0  # packets waiting in this sink's queue
    last_error: str = ""
    last_error_at: float | None = None  # time.time()
    state_since: float = field(default_factory=time.monotonic)
    detail: dict = field(default_factory=dict)  # sink-specific extras (viewers, current file, ...)

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_since = time.monotonic()

    def error(self, message: str) -> None:
        self.last_error = message
        self.last_error_at = time.time()


@dataclass
class StreamCounters:
    frames_sent: int = 0
    late_frames: int = 0  # ticks that started more than half a frame after their deadline (CPU/scheduling)
    max_late_ms: float = 0.0  # worst tick start delay seen
    held_frames: int = 0
    idle_frames: int = 0
    speech_frames: int = 0
    samples_sent: int = 0
    segments_started: int = 0
    segments_interrupted: int = 0
    segments_failed: int = 0
    start_delayed_frames: int = 0  # ticks a ready-to-play segment waited for its prebuffer
    clock_resyncs: int = 0
    compose_errors: int = 0  # ticks where the avatar/overlay raised (a black frame went out)
    encode_errors: int = 0
    encoded_video_bytes: int = 0
    encoded_audio_bytes: int = 0
    encode_ms_total: float = 0.0
    encoded_frames: int = 0


class StreamHealth:
    """All counters of one engine, plus ``snapshot()`` (a plain dict) and a one-line status."""

    def __init__(self) -> None:
        self.counters = StreamCounters()
        self.sinks: dict[str, SinkHealth] = {}
        self._lock = threading.Lock()
        self.started_at: float | None = None
        self.media_time = 0.0
        self.last_frame_at: float | None = None  # monotonic time the clock last emitted a frame
        self.extra: dict = {}  # live values the engine fills in (speaking text, queued utterances, ...)

    def add_sink(self, sink: SinkHealth) -> SinkHealth:
        with self._lock:
            name, i = sink.name, 1
            while name in self.sinks:
                i += 1
                name = f"{sink.name}#{i}"
            sink.name = name
            self.sinks[name] = sink
        return sink

    def snapshot(self) -> dict:
        """Counters and sink states as a JSON-ready dict."""
        c = self.counters
        out = asdict(c)
        out["media_time_s"] = round(self.media_time, 3)
        out["uptime_s"] = round(time.monotonic() - self.started_at, 3) if self.started_at else 0.0
        out["encode_ms_per_frame"] = round(c.encode_ms_total / c.encoded_frames, 3) if c.encoded_frames else 0.0
        out["last_frame_age_s"] = round(time.monotonic() - self.last_frame_at, 3) if self.last_frame_at else None
        out.update({k: (v() if callable(v) else v) for k, v in self.extra.items()})
        with self._lock:
            out["sinks"] = {name: asdict(s) for name, s in self.sinks.items()}
        return out

    def status_line(self) -> str:
        c = self.counters
        sinks = " ".join(
            f"{s.name}={s.state}/{s.bytes // 1024}KiB/r{s.reconnects}/d{s.dropped_packets}" for s in self.sinks.values()
        )
        return (
            f"stream t={self.media_time:.1f}s frames={c.frames_sent} late={c.late_frames} held={c.held_frames} "
            f"speech={c.speech_frames} idle={c.idle_frames} {sinks}".rstrip()
        )
