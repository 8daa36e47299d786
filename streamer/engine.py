"""The stream engine: media clock -> timeline -> encoder -> sinks, each stage in its own thread.

Threads: ``stream-clock`` paces ticks and composes frames (timeline + overlay); ``stream-encode``
encodes and fans packets out to the sinks' queues; ``stream-render`` runs the renderer ahead of
time; every sink has its own thread. Nothing here runs on (or needs) an asyncio loop.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Sequence

import numpy as np

from avatars.base import Avatar, OverlayData
from lipsync.base import Renderer, Timing
from streamer.errors import StartupError
from streamer.health import SinkHealth, StreamHealth
from streamer.media_clock import MediaClock, samples_per_frame
from streamer.settings import StreamSettings
from streamer.sinks.base import PacketSink
from streamer.timeline import SpeechHandle, Timeline

log = logging.getLogger(__name__)

ENCODE_QUEUE_FRAMES = 12  # ~0.5 s of jitter between composing and encoding
SINK_STOP_TIMEOUT_S = 10.0


class StreamEngine:
    """Runs one continuous A/V stream; ``say`` splices speech in, ``stop`` finalizes every output.

    ``realtime=False`` drops pacing (offline render, soak, benchmarks): frames are produced as fast
    as the encoder takes them, recordings are written losslessly and the preview is not served.
    """

    def __init__(
        self,
        settings: StreamSettings,
        avatar: Avatar,
        renderer: Renderer,
        *,
        extra_rtmp: Sequence[str] = (),
        record_path: str | os.PathLike | None = None,
        realtime: bool = True,
        status_interval_s: float = 30.0,
        null_sink: bool = False,
        frame_limit: int | None = None,
        record_fragmented: bool = True,
    ) -> None:
        try:
            self.samples_per_frame = samples_per_frame(settings.sample_rate, settings.fps)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        if (avatar.width, avatar.height) != (settings.width, settings.height):
            raise StartupError(
                f"avatar '{getattr(avatar, 'name', '?')}' is {avatar.width}x{avatar.height} but the stream is "
                f"{settings.width}x{settings.height} (stream.width / stream.height)"
            )
        if avatar.fps != settings.fps:
            log.warning("avatar fps differs from stream fps; its loop plays at the stream rate", extra={"avatar_fps": avatar.fps, "stream_fps": settings.fps})
        for url in extra_rtmp:
            if not str(url).startswith(("rtmp://", "rtmps://")):
                raise StartupError(f"not an rtmp:// URL: {url} (--rtmp)")
        self.settings = settings
        self.avatar = avatar
        self.renderer = renderer
        self.extra_rtmp = list(extra_rtmp)
        self.record_path = str(record_path) if record_path is not None else settings.record.path
        self.realtime = realtime
        self.status_interval_s = status_interval_s
        self.null_sink = null_sink
        self.frame_limit = frame_limit
        self.record_fragmented = record_fragmented
        self.overlay = OverlayData()
        self.health = StreamHealth()
        self.timeline = Timeline(
            avatar,
            renderer,
            fps=settings.fps,
            sample_rate=settings.sample_rate,
            channels=settings.channels,
            samples_per_frame=self.samples_per_frame,
            prebuffer_frames=settings.prebuffer_frames,
            fade_frames=settings.fade_frames,
            counters=self.health.counters,
            realtime=realtime,
        )
        self.health.extra = {
            "on_air": lambda: self._state == "running",
            "speaking": lambda: self.timeline.speaking,
            "queued_utterances": lambda: self.timeline.pending,
            "encode_queue": lambda: self._encode_q.qsize(),
            "fps": settings.fps,
        }
        self.clock = MediaClock(settings.fps, realtime=realtime)
        self.sinks: list[PacketSink] = []
        self.encoder = None
        self._encode_q: queue.Queue = queue.Queue(maxsize=ENCODE_QUEUE_FRAMES)
        self._stop = threading.Event()
        self._clock_thread = threading.Thread(target=self._clock_loop, name="stream-clock", daemon=True)
        self._encode_thread = threading.Thread(target=self._encode_loop, name="stream-encode", daemon=True)
        self._state = "new"
        self._state_lock = threading.Lock()

    # -- public API ----------------------------------------------------------------------------------

    @property
    def media_time(self) -> float:
        """Seconds of stream produced so far (frames sent / fps)."""
        return self.health.counters.frames_sent / self.settings.fps

    @property
    def speaking(self) -> str | None:
        """Text of the utterance on air, or None."""
        return self.timeline.speaking

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def preview_url(self) -> str | None:
        for sink in self.sinks:
            if sink.kind == "http-flv":
                return sink.url
        return None

    def say(
        self, audio_int16: np.ndarray, timings: Sequence[Timing] = (), text: str = "", *, renderer: Renderer | None = None
    ) -> SpeechHandle:
        """Queue speech (int16 PCM at stream.sample_rate, (n,) or (n, channels)); thread-safe.

        ``renderer`` overrides the frame source for this one utterance (e.g. ``GivenFrames(clip)``).
        """
        return self.timeline.say(audio_int16, timings, text, renderer=renderer)

    def skip_all(self) -> None:
        """Fade out what is playing and drop everything queued."""
        self.timeline.skip_all()

    def start(self) -> None:
        """Open every output (StartupError if one cannot be), then start the clock."""
        with self._state_lock:
            if self._state != "new":
                return
            self._open_outputs()
            self._state = "running"
        self.timeline.start()
        for sink in self.sinks:
            sink.start()
        self.health.started_at = time.monotonic()
        self._encode_thread.start()
        self._clock_thread.start()
        log.info(
            "stream started",
            extra={
                "size": f"{self.settings.width}x{self.settings.height}",
                "fps": self.settings.fps,
                "outputs": [s.health.target for s in self.sinks],
                "realtime": self.realtime,
            },
        )

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the clock to end (frame_limit reached or stopped); True if it did."""
        if self._clock_thread.is_alive():
            self._clock_thread.join(timeout)
        return not self._clock_thread.is_alive()

    def stop(self) -> None:
        """Stop the clock, drain the encoder, finalize every output. Idempotent."""
        with self._state_lock:
            if self._state == "stopped":
                return
            was_running = self._state == "running"
            self._state = "stopped"
        self._stop.set()
        if was_running:
            self._clock_thread.join()
            self._encode_thread.join()
        self.timeline.close()
        for sink in self.sinks:
            sink.stop(timeout=SINK_STOP_TIMEOUT_S)
        if self.encoder is not None:
            self.encoder.close()
        if was_running:
            log.info("stream stopped", extra={"status": self.health.status_line()})

    def __enter__(self) -> StreamEngine:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- start-up ----------------------------------------------------------------------------------------

    def _rtmp_urls(self) -> list[str]:
        urls = list(self.settings.rtmp.urls)
        env = self.settings.rtmp.url_env
        if env:
            value = os.environ.get(env, "").strip()
            if not value:
                log.warning("RTMP URL variable is not set; that output is skipped", extra={"config_key": "stream.rtmp.url_env", "env": env})
            elif not value.startswith(("rtmp://", "rtmps://")):
                raise StartupError(f"environment variable {env} (stream.rtmp.url_env) does not hold an rtmp:// URL")
            else:
                urls.append(value)
        return urls + self.extra_rtmp

    def _open_outputs(self) -> None:
        from streamer.encoder import AVEncoder
        from streamer.sinks.file_sink import FileSink
        from streamer.sinks.http_flv_sink import HttpFlvSink
        from streamer.sinks.null_sink import NullSink
        from streamer.sinks.rtmp_sink import RtmpSink

        s = self.settings
        try:
            self.encoder = AVEncoder(s)
        except RuntimeError as exc:
            raise StartupError(str(exc)) from None
        packets_per_s = s.fps + s.sample_rate / 1024 + 1
        max_packets = int(s.rtmp.queue_seconds * packets_per_s)
        try:
            if self.record_path:
                rec = s.record
                health = self.health.add_sink(SinkHealth("record", "file"))
                sink = FileSink(
                    self.record_path,
                    self.encoder,
                    health,
                    fmt=rec.format,
                    rotate_seconds=rec.rotate_seconds,
                    rotate_megabytes=rec.rotate_megabytes,
                    fragmented=self.record_fragmented,
                    max_packets=max_packets,
                    lossless=not self.realtime,
                )
                sink.open()
                self.sinks.append(sink)
            for i, url in enumerate(self._rtmp_urls()):
                health = self.health.add_sink(SinkHealth(f"rtmp{i + 1}", "rtmp"))
                self.sinks.append(RtmpSink(url, self.encoder, health, s.rtmp, max_packets=max_packets))
            if s.preview.enabled and self.realtime:
                health = self.health.add_sink(SinkHealth("preview", "http-flv"))
                sink = HttpFlvSink(s.preview, self.encoder, health, max_packets=max_packets)
                sink.open()
                self.sinks.append(sink)
            if self.null_sink:
                health = self.health.add_sink(SinkHealth("null", "null"))
                self.sinks.append(NullSink("null", self.encoder, health, max_packets=max_packets, lossless=not self.realtime))
        except BaseException:
            for sink in self.sinks:
                if sink.kind == "http-flv" and sink._server is not None:
                    sink._server.server_close()
            self.encoder.close()
            raise

    # -- threads -------------------------------------------------------------------------------------------

    def _clock_loop(self) -> None:
        c = self.health.counters
        spf = self.samples_per_frame
        fps = self.settings.fps
        next_status = time.monotonic() + self.status_interval_s
        n = 0
        audio_ticks = 0  # ticks of audio handed out (n, or n + 1 while an utterance's audio leads)
        compose_errors = 0
        self.clock.start()
        try:
            while not self._stop.is_set():
                if self.frame_limit is not None and n >= self.frame_limit:
                    break
                lateness = self.clock.wait_for(n, self._stop)
                if self._stop.is_set():
                    break
                if self.clock.is_late(lateness):
                    c.late_frames += 1
                    c.max_late_ms = max(c.max_late_ms, lateness * 1000.0)
                c.clock_resyncs = self.clock.resyncs
                audio = None
                try:
                    frame, audio, fresh, _speech = self.timeline.tick(n)
                    if fresh:
                        self.avatar.draw_overlay(frame, self.overlay)
                    compose_errors = 0
                except Exception:
                    # Keep time even if the avatar breaks: black frame and silence; log the first of a burst.
                    compose_errors += 1
                    c.compose_errors += 1
                    if compose_errors == 1 or compose_errors % 250 == 0:
                        log.exception("composing frame failed; sending black", extra={"tick": n, "in_a_row": compose_errors})
                    frame = np.zeros((self.settings.height, self.settings.width, 3), np.uint8)
                    if audio is None:  # the timeline failed: keep the audio track as long as the video
                        audio = self.timeline.silence if audio_ticks <= n else self.timeline.silence[:0]
                audio_ticks += len(audio) // spf
                queued = False
                while not queued and (not self._stop.is_set() or not self.realtime):
                    try:
                        self._encode_q.put((n, frame, audio), timeout=0.5)
                        queued = True
                    except queue.Full:
                        continue
                if not queued:
                    break  # stopping while the encoder was backed up: this frame never existed
                n += 1
                c.frames_sent = n
                c.samples_sent = audio_ticks * spf
                self.health.media_time = n / fps
                self.health.last_frame_at = time.monotonic()
                if self.status_interval_s and time.monotonic() >= next_status:
                    next_status += self.status_interval_s
                    log.info(self.health.status_line(), extra={"health": self.health.snapshot()})
        finally:
            self._encode_q.put(None)

    def _encode_loop(self) -> None:
        c = self.health.counters
        enc = self.encoder
        while True:
            item = self._encode_q.get()
            if item is None:
                break
            n, frame, audio = item
            t = time.perf_counter()
            try:
                # The sound goes out first: it need not wait for the picture's encode (answer latency).
                self._fan_out(enc.encode_audio(audio))
                self._fan_out(enc.encode_video(n, frame))
            except Exception:
                c.encode_errors += 1
                if c.encode_errors == 1 or c.encode_errors % 250 == 0:
                    log.exception("encoding failed", extra={"tick": n, "errors": c.encode_errors})
                continue
            c.encode_ms_total += (time.perf_counter() - t) * 1000.0
            c.encoded_frames += 1
        try:
            self._fan_out(enc.flush())
        except Exception:
            log.exception("encoder flush failed")

    def _fan_out(self, packets) -> None:
        c = self.health.counters
        for pkt in packets:
            if pkt.kind == "video":
                c.encoded_video_bytes += len(pkt.data)
            else:
                c.encoded_audio_bytes += len(pkt.data)
            for sink in self.sinks:
                sink.put(pkt)

