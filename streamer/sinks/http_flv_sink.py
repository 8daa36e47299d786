"""HTTP-FLV preview: a live FLV byte stream on preview.host:port/path for the console.

One FLV muxer writes into memory; its output is cut into tags (see flv_tags.py) and fanned out
to viewers. Each viewer gets the header, metadata and sequence headers, then starts at the next
keyframe with its timestamps rebased to 0. A viewer that cannot keep up loses tags up to the next
keyframe (counted) instead of slowing anyone else. The server is the standard library's threading
HTTP server, so it runs without any event loop and cannot block the stream's threads.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from streamer.encoder import AVEncoder
from streamer.errors import StartupError
from streamer.health import SinkHealth
from streamer.settings import PreviewSettings
from streamer.sinks.base import Muxer, PacketSink
from streamer.sinks.flv_tags import SCRIPT, FlvTag, FlvTagSplitter

log = logging.getLogger(__name__)

VIEWER_MAX_TAGS = 600  # ~6 s of 25 fps video + AAC


class PreviewViewer:
    """One subscriber: ``read(timeout)`` returns the next bytes, b"" on timeout, None once closed."""

    def __init__(self, hub: PreviewHub) -> None:
        self._hub = hub
        self._chunks: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.base_ts: int | None = None  # timestamp of the keyframe this viewer started at
        self.dropped = 0

    def _push(self, tag: FlvTag) -> None:
        with self._cond:
            if self.base_ts is None:
                if not tag.is_keyframe:
                    return
                self.base_ts = tag.timestamp
            if tag.timestamp < self.base_ts:
                return  # audio from before the keyframe
            if len(self._chunks) >= VIEWER_MAX_TAGS:  # too slow: resync at the next keyframe
                self.dropped += len(self._chunks)
                self._chunks.clear()
                self.base_ts = None
                if not tag.is_keyframe:
                    return
                self.base_ts = tag.timestamp
            self._chunks.append(tag.restamped(tag.timestamp - self.base_ts))
            self._cond.notify()

    def _send_raw(self, data: bytes) -> None:
        with self._cond:
            self._chunks.append(data)
            self._cond.notify()

    def read(self, timeout: float = 1.0) -> bytes | None:
        with self._cond:
            if not self._chunks and not self._closed:
                self._cond.wait(timeout)
            if self._chunks:
                data = b"".join(self._chunks)
                self._chunks.clear()
                return data
            return None if self._closed else b""

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._hub.unsubscribe(self)


class PreviewHub:
    """Keeps what a new viewer needs first (header, metadata, sequence headers) and the viewer list."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.header: bytes | None = None
        self.metadata: FlvTag | None = None
        self.sequence_headers: dict[int, FlvTag] = {}
        self.viewers: list[PreviewViewer] = []
        self.total_viewers = 0

    def subscribe(self) -> PreviewViewer:
        viewer = PreviewViewer(self)
        with self._lock:
            if self.header is not None:
                self._greet(viewer)
            self.viewers.append(viewer)
            self.total_viewers += 1
        return viewer

    def unsubscribe(self, viewer: PreviewViewer) -> None:
        with self._lock:
            if viewer in self.viewers:
                self.viewers.remove(viewer)

    def close(self) -> None:
        for viewer in list(self.viewers):
            viewer.close()

    def _greet(self, viewer: PreviewViewer) -> None:
        viewer._send_raw(self.header)
        for tag in ([self.metadata] if self.metadata else []) + list(self.sequence_headers.values()):
            viewer._send_raw(tag.restamped(0))

    def publish(self, header: bytes | None, tags: list[FlvTag]) -> None:
        with self._lock:
            if header is not None and self.header is None:
                self.header = header
                for viewer in self.viewers:
                    self._greet(viewer)
            for tag in tags:
                if tag.type == SCRIPT or tag.is_sequence_header:
                    if tag.type == SCRIPT:
                        self.metadata = tag
                    else:
                        self.sequence_headers[tag.type] = tag
                    for viewer in self.viewers:  # viewers who connected before the stream began
                        viewer._send_raw(tag.restamped(0))
                    continue
                for viewer in self.viewers:
                    viewer._push(tag)


class _TagWriter:
    """The file object the FLV muxer writes into (write only: the muxer sees a non-seekable stream)."""

    def __init__(self, hub: PreviewHub, health: SinkHealth) -> None:
        self.splitter = FlvTagSplitter()
        self.hub = hub
        self.health = health
        self._sent_header = False

    def write(self, data) -> int:
        data = bytes(data)
        self.health.bytes += len(data)
        tags = self.splitter.feed(data)
        header = None
        if not self._sent_header and self.splitter.header is not None:
            header, self._sent_header = self.splitter.header, True
        if header is not None or tags:
            self.hub.publish(header, tags)
        return len(data)


class HttpFlvSink(PacketSink):
    """Serves the preview over HTTP; ``port`` is the bound port (useful with preview.port = 0)."""

    kind = "http-flv"

    def __init__(self, settings: PreviewSettings, encoder: AVEncoder, health: SinkHealth, *, max_packets: int) -> None:
        super().__init__(health.name, encoder, health, max_packets=max_packets)
        self.settings = settings
        self.path = settings.path if settings.path.startswith("/") else "/" + settings.path
        self.hub = PreviewHub()
        self._server: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self.port = settings.port

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}{self.path}"

    def open(self) -> None:
        hub, path, health = self.hub, self.path, self.health

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, fmt, *args):  # quiet: viewers come and go
                log.debug("preview http " + fmt % args)

            def do_GET(self):
                if self.path.split("?", 1)[0] != path:
                    self.send_error(404, "the preview is at " + path)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "video/x-flv")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                viewer = hub.subscribe()
                health.detail["viewers"] = len(hub.viewers)
                try:
                    while True:
                        data = viewer.read(1.0)
                        if data is None:
                            return
                        if data:
                            self.wfile.write(data)
                            self.wfile.flush()
                except OSError:
                    pass  # viewer went away
                finally:
                    viewer.close()
                    health.detail["viewers"] = len(hub.viewers)
                    health.dropped_packets += viewer.dropped

        try:
            self._server = ThreadingHTTPServer((self.settings.host, self.settings.port), Handler)
        except OSError as exc:
            raise StartupError(
                f"cannot serve the preview on {self.settings.host}:{self.settings.port}: {exc.strerror or exc} "
                f"(stream.preview.host/port; set stream.preview.enabled = false to turn it off)"
            ) from None
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.health.target = self.url
        self._server_thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5}, name="preview-http", daemon=True)
        self._server_thread.start()

    def run(self) -> None:
        writer = _TagWriter(self.hub, self.health)
        muxer = Muxer(writer, "flv", self.encoder, options={"flvflags": "no_duration_filesize", "flush_packets": "1"})
        self.health.set_state("publishing")
        try:
            while True:
                pkt = self.next_packet(0.2)
                if pkt is None:
                    if self.finished:
                        return
                    continue
                if muxer.write(pkt):
                    self.health.packets += 1
        finally:
            try:
                muxer.close()
            except Exception:
                pass
            self.hub.close()
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
            self.health.set_state("stopped")
