"""Recording sink: FLV or MP4 files named by a strftime pattern, rotated at keyframes, finalized on stop."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from streamer.encoder import AVEncoder
from streamer.errors import StartupError
from streamer.health import SinkHealth
from streamer.sinks.base import Muxer, PacketSink

log = logging.getLogger(__name__)

FORMAT_BY_SUFFIX = {".flv": "flv", ".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4"}
RETRY_S = 2.0


def record_format(pattern: str, fmt: str | None) -> str:
    """``fmt`` if given, else the format the file extension implies; StartupError when neither says."""
    if fmt:
        return fmt
    suffix = Path(pattern).suffix.lower()
    if suffix in FORMAT_BY_SUFFIX:
        return FORMAT_BY_SUFFIX[suffix]
    raise StartupError(
        f"record path {pattern!r}: cannot tell the format from its extension; use .flv or .mp4 or set stream.record.format"
    )


class FileSink(PacketSink):
    """Writes the stream to files; MP4 recordings are fragmented so even a crash leaves a playable file."""

    kind = "file"

    def __init__(
        self,
        pattern: str,
        encoder: AVEncoder,
        health: SinkHealth,
        *,
        fmt: str | None = None,
        rotate_seconds: float | None = None,
        rotate_megabytes: float | None = None,
        fragmented: bool = True,
        max_packets: int = 1000,
        lossless: bool = False,
    ) -> None:
        super().__init__(health.name, encoder, health, max_packets=max_packets, lossless=lossless)
        self.pattern = str(pattern)
        self.fmt = record_format(self.pattern, fmt)
        self.rotate_seconds = rotate_seconds
        self.rotate_bytes = rotate_megabytes * 1e6 if rotate_megabytes else None
        self.fragmented = fragmented
        self.files: list[Path] = []
        self._muxer: Muxer | None = None
        self._previous: Muxer | None = None  # the file just rotated out, still taking trailing audio
        self._cut_samples = 0
        self._last_logged = ""
        self._first_path: Path | None = None

    def _resolve(self) -> Path:
        path = Path(time.strftime(self.pattern)).expanduser()
        if not self.files:
            return path  # the first file is exactly what was asked for (overwritten if present)
        candidate, i = path, 1
        while candidate in self.files or candidate.exists():
            candidate = path.with_name(f"{path.stem}-{i}{path.suffix}")
            i += 1
        return candidate

    def open(self) -> None:
        """Create the directory and check the first file is writable; StartupError naming the path if not."""
        path = self._resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb"):
                pass
        except OSError as exc:
            raise StartupError(f"cannot write the recording {path}: {exc.strerror or exc} (stream.record.path / --record)") from None
        self._first_path = path
        self.health.target = str(path)

    def _options(self) -> dict:
        if self.fmt == "mp4":
            return {"movflags": "frag_keyframe+empty_moov+default_base_moof" if self.fragmented else "+faststart"}
        return {}

    def _open_muxer(self) -> None:
        path = self._first_path or self._resolve()
        self._first_path = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._muxer = Muxer(str(path), self.fmt, self.encoder, options=self._options())
        self.files.append(path)
        self.health.target = str(path)
        self.health.detail["files"] = len(self.files)
        self.health.set_state("publishing")
        log.info("recording to file", extra={"sink": self.name, "path": str(path)})

    def _close_muxer(self) -> None:
        muxer, self._muxer = self._muxer, None
        if muxer is not None:
            try:
                muxer.close()
            except Exception as exc:
                self.health.error(f"closing {self.health.target}: {exc}")
                log.error("could not finalize recording", extra={"sink": self.name, "path": self.health.target, "error": str(exc)})

    def _rotation_due(self) -> bool:
        m = self._muxer
        if m is None or not m.started:
            return False
        return bool(
            (self.rotate_seconds and m.media_seconds >= self.rotate_seconds) or (self.rotate_bytes and m.bytes >= self.rotate_bytes)
        )

    def run(self) -> None:
        retry_at = 0.0
        try:
            while True:
                pkt = self.next_packet(0.2)
                if pkt is None:
                    if self.finished:
                        return
                    continue
                if self._previous is not None and pkt.kind == "audio":
                    # Audio trails video through the AAC encoder: what belongs before the cut goes to the old file.
                    if pkt.pts < self._cut_samples:
                        self._write_to(self._previous, pkt)
                        continue
                    self._close_previous()
                if self._muxer is not None and pkt.kind == "video" and pkt.keyframe and self._rotation_due():
                    self._close_previous()
                    self._previous, self._muxer = self._muxer, None
                    self._cut_samples = pkt.pts * self.encoder.spf
                if self._muxer is None:
                    if time.monotonic() < retry_at:
                        self.health.dropped_packets += 1
                        continue
                    try:
                        self._open_muxer()
                    except Exception as exc:
                        self._failed(exc)
                        retry_at = time.monotonic() + RETRY_S
                        continue
                if not self._write_to(self._muxer, pkt):
                    self._close_muxer()
                    retry_at = time.monotonic() + RETRY_S
        finally:
            self._close_previous()
            self._close_muxer()
            self.health.set_state("stopped")

    def _write_to(self, muxer: Muxer, pkt) -> bool:
        try:
            if muxer.write(pkt):
                self.health.bytes += len(pkt.data)
                self.health.packets += 1
            return True
        except Exception as exc:  # disk full, file removed...: start a new file shortly
            self._failed(exc)
            return False

    def _close_previous(self) -> None:
        previous, self._previous = self._previous, None
        if previous is not None:
            try:
                previous.close()
            except Exception as exc:
                self.health.error(f"closing a rotated file: {exc}")
                log.error("could not finalize rotated recording", extra={"sink": self.name, "error": str(exc)})

    def _failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        self.health.error(message)
        self.health.set_state("reconnecting")
        self.health.reconnects += 1
        if message != self._last_logged:  # a full disk fails every retry: say it once
            self._last_logged = message
            log.error("recording error; retrying with a new file", extra={"sink": self.name, "path": self.health.target, "error": message})
