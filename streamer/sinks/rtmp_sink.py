"""RTMP output: one per URL, reconnecting forever with capped exponential backoff.

A hung server is caught two ways. Writes carry PyAV's timeout (``rw_timeout_s``), so a write that
blocks raises instead of hanging the thread. But the kernel's socket buffers can absorb many seconds
of a low-bitrate stream before any write blocks, so a side probe also opens a fresh TCP connection
every ``probe_interval_s`` and expects the server's RTMP handshake reply (S0) within ``rw_timeout_s``:
a frozen (SIGSTOPped, deadlocked) server accepts the connection in the kernel but never answers.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from urllib.parse import urlsplit

from streamer.encoder import AVEncoder
from streamer.health import SinkHealth
from streamer.settings import RtmpSettings
from streamer.sinks.base import Muxer, PacketSink, mask_url

log = logging.getLogger(__name__)

STABLE_AFTER_S = 5.0  # publishing this long resets the backoff
RECOVERY_POLL_S = 0.5  # while backing off, how often to check whether the server is back


class HungServer(Exception):
    """The server stopped answering while we were publishing."""


ANSWERED, SILENT, REFUSED = "answered", "silent", "refused"


def probe_rtmp_server(host: str, port: int, timeout: float) -> str:
    """Send an RTMP C0+C1 to host:port: ANSWERED (S0 came back), SILENT (nothing within ``timeout``:
    a frozen or black-holed server) or REFUSED (refused, reset or closed: the host is up but not
    serving us, or the server is gone)."""
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            sock.sendall(b"\x03" + bytes(8) + os.urandom(1528))
            return ANSWERED if sock.recv(1) == b"\x03" else REFUSED
    except TimeoutError:
        return SILENT
    except OSError:
        return REFUSED


class RtmpSink(PacketSink):
    """Publishes the shared packets to one RTMP URL as FLV."""

    kind = "rtmp"

    def __init__(self, url: str, encoder: AVEncoder, health: SinkHealth, settings: RtmpSettings, *, max_packets: int) -> None:
        super().__init__(health.name, encoder, health, max_packets=max_packets)
        self.url = url
        self.settings = settings
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "rtmps" else 1935)
        self.health.target = mask_url(url)
        self._hung = threading.Event()
        self._publishing = threading.Event()
        self._muxer: Muxer | None = None
        self._probe_thread: threading.Thread | None = None
        self.outage_started: float | None = None

    # -- liveness probe ------------------------------------------------------------------------------

    def _probe_loop(self) -> None:
        interval = self.settings.probe_interval_s
        while not self._stopping.wait(interval):
            if not self._publishing.is_set() or self._hung.is_set():
                continue
            # Only silence means hung: a server that refuses an extra connection is alive, and a dead
            # one also breaks our publishing connection, which the writes notice by themselves.
            if probe_rtmp_server(self.host, self.port, self.settings.rw_timeout_s) == SILENT:
                if self._publishing.is_set():
                    self._flag_hung(f"server stopped answering (no RTMP handshake reply within {self.settings.rw_timeout_s:g} s)")

    def _flag_hung(self, reason: str) -> None:
        self._hung.set()
        self.health.error(reason)
        self.health.set_state("reconnecting")
        if self.outage_started is None:
            self.outage_started = time.monotonic()
        log.warning("rtmp server hung; reconnecting", extra={"sink": self.name, "url": self.health.target, "error": reason})

    # -- publishing ----------------------------------------------------------------------------------

    def run(self) -> None:
        if self.settings.probe_interval_s > 0:
            self._probe_thread = threading.Thread(target=self._probe_loop, name=f"probe-{self.name}", daemon=True)
            self._probe_thread.start()
        backoff = self.settings.reconnect_initial_s
        attempts = 0
        last_logged = ""
        try:
            while not self._stopping.is_set() or self._queue:
                self.health.set_state("connecting" if attempts == 0 else "reconnecting")
                try:
                    stable = self._publish()
                    if stable is None:
                        return  # stopped cleanly
                except Exception as exc:
                    stable = self._publishing_since is not None and time.monotonic() - self._publishing_since >= STABLE_AFTER_S
                    self._publishing.clear()
                    message = str(exc) if isinstance(exc, HungServer) else self._scrub(f"{type(exc).__name__}: {exc}")
                    if not self._hung.is_set():
                        self.health.error(message)
                    if self.outage_started is None:
                        self.outage_started = time.monotonic()
                    attempts += 1
                    self.health.reconnects += 1
                    self.health.set_state("reconnecting")
                    if message != last_logged:
                        log.warning("rtmp output failed; retrying", extra={"sink": self.name, "url": self.health.target, "error": message, "attempt": attempts})
                        last_logged = message
                    else:
                        log.debug("rtmp retry failed", extra={"sink": self.name, "error": message, "attempt": attempts})
                finally:
                    self._close_muxer()
                if stable:
                    backoff = self.settings.reconnect_initial_s
                if self._stopping.is_set():
                    return
                self._wait_backoff(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_max_s)
        finally:
            self._publishing.clear()
            self.health.set_state("stopped")

    _publishing_since: float | None = None

    def _scrub(self, message: str) -> str:
        """FFmpeg errors quote the URL: keep the stream key out of health and logs."""
        for secret in (self.url, self.url.split("?", 1)[0]):
            message = message.replace(secret, self.health.target)
        return message

    def _publish(self) -> None:
        """Publish until stopped (returns None) or an error (raises)."""
        self._hung.clear()
        self._publishing_since = None
        if not self.trim_to_last_keyframe():
            self.encoder.request_keyframe()  # nothing to start from: ask for one now rather than wait a GOP
        rw = self.settings.rw_timeout_s
        self._muxer = Muxer(self.url, "flv", self.encoder, options={"flvflags": "no_duration_filesize"}, timeout=(rw, rw))
        while True:
            if self._hung.is_set():
                raise HungServer(self.health.last_error or "server hung")
            pkt = self.next_packet(0.1)
            if pkt is None:
                if self.finished:
                    return None
                continue
            if self._muxer.write(pkt):  # the first keyframe connects and writes the header
                self.health.bytes += len(pkt.data)
                self.health.packets += 1
                if self._publishing_since is None:
                    self._publishing_since = time.monotonic()
                    self._publishing.set()
                    self.health.set_state("publishing")
                    if self.outage_started is not None:
                        log.info(
                            "rtmp publishing again",
                            extra={"sink": self.name, "url": self.health.target, "outage_s": round(time.monotonic() - self.outage_started, 2)},
                        )
                        self.outage_started = None
                    else:
                        log.info("rtmp publishing", extra={"sink": self.name, "url": self.health.target})

    def _close_muxer(self) -> None:
        muxer, self._muxer = self._muxer, None
        if muxer is not None:
            try:
                muxer.close()  # bounded by the container timeout even when the server is hung
            except Exception as exc:
                log.debug("rtmp close failed", extra={"sink": self.name, "error": str(exc)})

    def _wait_backoff(self, delay: float) -> None:
        """Sleep ``delay`` s, but retry at once when a server that was down answers again."""
        end = time.monotonic() + delay
        if self.settings.probe_interval_s <= 0:
            self._stopping.wait(delay)
            return
        saw_down = False
        while not self._stopping.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            if probe_rtmp_server(self.host, self.port, min(self.settings.rw_timeout_s, 1.0)) == ANSWERED:
                if saw_down:
                    return
            else:
                saw_down = True
            self._stopping.wait(min(RECOVERY_POLL_S, max(0.0, end - time.monotonic())))
