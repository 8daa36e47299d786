"""What every sink shares: a thread behind a bounded packet queue, and a muxer that starts at a keyframe."""
from __future__ import annotations

import logging
import threading
from collections import deque
from urllib.parse import urlsplit, urlunsplit

import av

from streamer.encoder import AVEncoder, EncodedPacket
from streamer.health import SinkHealth

log = logging.getLogger(__name__)


def mask_url(url: str) -> str:
    """The URL with its stream key (last path segment, query, credentials) hidden, for logs and health."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    path = parts.path
    if "/" in path.strip("/"):
        path = path.rsplit("/", 1)[0] + "/***"
    return urlunsplit((parts.scheme, host, path, "", ""))


class PacketSink:
    """A consumer of encoded packets running in its own thread.

    ``put`` never blocks the caller: when the queue is full the oldest packet is dropped and counted.
    With ``lossless=True`` (offline render) ``put`` waits for room instead, since nothing is live.
    """

    kind = "base"

    def __init__(self, name: str, encoder: AVEncoder, health: SinkHealth, *, max_packets: int, lossless: bool = False):
        self.name = name
        self.encoder = encoder
        self.health = health
        self.max_packets = max(16, max_packets)
        self.lossless = lossless
        self._queue: deque[EncodedPacket] = deque()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._drain_deadline: float | None = None
        self._thread = threading.Thread(target=self._run_guarded, name=f"sink-{name}", daemon=True)

    # -- producer side -----------------------------------------------------------------------------

    def put(self, packet: EncodedPacket) -> None:
        with self._cond:
            if self.health.state == "failed":
                self.health.dropped_packets += 1
                return
            if len(self._queue) >= self.max_packets:
                if self.lossless:
                    self._cond.wait_for(lambda: len(self._queue) < self.max_packets or not self._thread.is_alive())
                else:
                    self._queue.popleft()
                    self.health.dropped_packets += 1
            self._queue.append(packet)
            self.health.queue_depth = len(self._queue)
            self._cond.notify_all()

    def open(self) -> None:
        """Checks that must fail start-up (before any thread runs); default: none."""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to ``timeout``), close the output, end the thread."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("sink did not stop in time", extra={"sink": self.name, "timeout_s": timeout})

    # -- consumer side -----------------------------------------------------------------------------

    def next_packet(self, timeout: float) -> EncodedPacket | None:
        """The next packet, or None after ``timeout`` s or once stopping with an empty queue."""
        with self._cond:
            if not self._queue and not self._stopping.is_set():
                self._cond.wait(timeout)
            if self._queue:
                pkt = self._queue.popleft()
                self.health.queue_depth = len(self._queue)
                self._cond.notify_all()
                return pkt
            return None

    @property
    def finished(self) -> bool:
        """Stopping and nothing left to write."""
        return self._stopping.is_set() and not self._queue

    def trim_to_last_keyframe(self) -> bool:
        """Drop queued packets older than the newest queued keyframe (after a reconnect); True if one was found."""
        with self._cond:
            for i in range(len(self._queue) - 1, -1, -1):
                pkt = self._queue[i]
                if pkt.kind == "video" and pkt.keyframe:
                    for _ in range(i):
                        self._queue.popleft()
                        self.health.dropped_packets += 1
                    self._cond.notify_all()
                    return True
            return False

    def _run_guarded(self) -> None:
        try:
            self.run()
        except Exception as exc:  # a sink bug must not take the stream down
            self.health.set_state("failed")
            self.health.error(f"{type(exc).__name__}: {exc}")
            log.exception("sink crashed", extra={"sink": self.name})
            with self._cond:
                self._queue.clear()
                self._cond.notify_all()

    def run(self) -> None:
        raise NotImplementedError


class Muxer:
    """One output container fed with shared packets: it starts at a video keyframe and rebases
    timestamps so its own media starts at 0 (a reconnect or a rotated file starts a new timeline)."""

    def __init__(self, target, fmt: str, encoder: AVEncoder, *, options: dict | None = None, timeout=None) -> None:
        self.encoder = encoder
        self.container = av.open(target, "w", format=fmt, options=options or {}, timeout=timeout)
        self.video = self.container.add_stream_from_template(encoder.video_template)
        self.audio = self.container.add_stream_from_template(encoder.audio_template)
        self.base_frame: int | None = None
        self.frames = 0  # video frames written
        self.bytes = 0  # payload bytes handed to the muxer
        self._closed = False

    @property
    def started(self) -> bool:
        return self.base_frame is not None

    @property
    def media_seconds(self) -> float:
        return self.frames / self.encoder.fps

    def write(self, pkt: EncodedPacket) -> bool:
        """Mux one packet; False when skipped (before the first keyframe, or audio before it)."""
        if self.base_frame is None:
            if pkt.kind != "video" or not pkt.keyframe:
                return False
            self.base_frame = pkt.pts
        if pkt.kind == "video":
            offset, stream, tb = self.base_frame, self.video, self.encoder.video_time_base
        else:
            offset, stream, tb = self.base_frame * self.encoder.spf, self.audio, self.encoder.audio_time_base
            if pkt.pts < offset:
                return False
        out = av.Packet(pkt.data)
        out.pts = pkt.pts - offset
        out.dts = pkt.dts - offset
        out.duration = pkt.duration
        out.time_base = tb
        out.is_keyframe = pkt.keyframe
        out.stream = stream
        self.container.mux(out)
        self.bytes += len(pkt.data)
        if pkt.kind == "video":
            self.frames += 1
        return True

    def close(self) -> None:
        """Write the trailer (MP4 moov, FLV end) and close; errors are the caller's to log."""
        if not self._closed:
            self._closed = True
            self.container.close()
