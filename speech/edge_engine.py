"""edge-tts (Microsoft's online voices): the streamed MP3 decoded with PyAV as it arrives, word timings kept.

Offline, aiohttp fails in ~10 ms with ClientConnectorDNSError (an OSError); a black-holed network is cut by
``connect_timeout_s``. Every failure becomes a TtsError so the fallback chain moves on.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import aiohttp
import av
import numpy as np

from lipsync.base import Timing
from speech.settings import EdgeSettings
from speech.tts_base import EngineAudio, EngineRequest, TtsEngine, TtsError, register_engine

log = logging.getLogger(__name__)

TICKS_PER_SECOND = 10_000_000  # WordBoundary offsets and durations are 100-ns ticks
_VOICE_RE = re.compile(r"^[a-z]{2,3}-[A-Z]{2,3}(?:-[A-Za-z]+)?-[A-Za-z]+Neural$")
_MIN_CHUNK_S = 0.2  # decoded MP3 frames are 24-48 ms; hand out steadier blocks


class Mp3StreamDecoder:
    """Feed MP3 bytes as they arrive, get float32 mono samples back (PyAV's parser + decoder)."""

    def __init__(self) -> None:
        self._codec = av.CodecContext.create("mp3", "r")
        self.sample_rate: int | None = None
        self.bad_packets = 0
        self.samples = 0

    def _decode(self, packets) -> np.ndarray:  # noqa: ANN001 - av packets
        out: list[np.ndarray] = []
        for packet in packets:
            try:
                frames = self._codec.decode(packet)
            except av.error.InvalidDataError:
                self.bad_packets += 1  # a tag or a damaged frame: skip it, like a player would
                continue
            for frame in frames:
                self.sample_rate = frame.sample_rate
                out.append(_frame_to_mono(frame))
        decoded = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
        self.samples += len(decoded)
        return decoded

    def feed(self, data: bytes) -> np.ndarray:
        """Samples decodable so far."""
        return self._decode(self._codec.parse(data))

    def flush(self) -> np.ndarray:
        """The last samples at the end of the stream."""
        tail = self._decode(self._codec.parse(None))
        try:
            rest = [_frame_to_mono(f) for f in self._codec.decode(None)]
        except av.error.EOFError:
            rest = []
        self.samples += sum(len(r) for r in rest)
        return np.concatenate([tail, *rest]) if rest else tail


def _frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    data = frame.to_ndarray()
    fmt = frame.format.name
    if fmt.startswith("s16"):
        data = data.astype(np.float32) / 32768.0
    elif fmt.startswith("s32"):
        data = data.astype(np.float32) / 2147483648.0
    else:
        data = data.astype(np.float32, copy=False)
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        return data.mean(axis=0) if channels > 1 else data[0]
    return data.reshape(-1, channels).mean(axis=1) if channels > 1 else data.reshape(-1)


def _edge_errors() -> tuple[type[BaseException], ...]:
    from edge_tts.exceptions import EdgeTTSException

    return (EdgeTTSException, aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError)


def _point_edge_tts_at(url: str | None) -> None:
    """edge-tts builds its URL from a module global; set it for this process (None = Microsoft's)."""
    import edge_tts.communicate as communicate
    from edge_tts import constants

    if url is None:
        url = constants.WSS_URL
    elif "?" not in url:
        url += f"?TrustedClientToken={constants.TRUSTED_CLIENT_TOKEN}"
    communicate.WSS_URL = url


class EdgeEngine(TtsEngine):
    """Online neural voices (zh and en); needs the network, falls through quickly without it."""

    name = "edge"
    languages = frozenset({"zh", "en"})

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings

    def default_voice(self, language: str) -> str:
        return self.settings.voice_zh if language == "zh" else self.settings.voice_en

    def accepts_voice(self, voice: str) -> bool:
        return bool(_VOICE_RE.match(voice))

    def cache_tag(self) -> str:
        s = self.settings
        return f"rate={s.rate},pitch={s.pitch},volume={s.volume}"

    async def stream(self, request: EngineRequest) -> AsyncIterator[EngineAudio]:
        import edge_tts

        _point_edge_tts_at(self.settings.wss_url)
        communicate = edge_tts.Communicate(
            request.text,
            request.voice,
            rate=self.settings.rate,
            pitch=self.settings.pitch,
            volume=self.settings.volume,
            boundary="WordBoundary",
            proxy=self.settings.proxy,
            connect_timeout=max(1, int(self.settings.connect_timeout_s)),
            receive_timeout=max(1, int(self.settings.receive_timeout_s)),
        )
        messages = communicate.stream()
        decoder = Mp3StreamDecoder()
        pending: list[np.ndarray] = []
        pending_timings: list[Timing] = []
        got_message = False
        last_word_end = 0.0
        errors = _edge_errors()
        try:
            while True:
                # Until the service says anything, the short connect bound applies (black-holed networks).
                limit = self.settings.receive_timeout_s if got_message else self.settings.connect_timeout_s
                try:
                    async with asyncio.timeout(limit):
                        message = await anext(messages)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    stage = "waiting for data" if got_message else "connecting"
                    raise TtsError(f"edge: no answer within {limit:g} s while {stage}") from None
                except errors as exc:
                    raise TtsError(f"edge: {type(exc).__name__}: {exc}") from exc
                got_message = True
                if message["type"] == "audio":
                    try:
                        pending.append(decoder.feed(message["data"]))
                    except av.error.FFmpegError as exc:
                        raise TtsError(f"edge: undecodable MP3 from the service: {exc}") from exc
                elif message["type"] == "WordBoundary":
                    start = message["offset"] / TICKS_PER_SECOND
                    end = start + message["duration"] / TICKS_PER_SECOND
                    pending_timings.append(Timing(start, end, message["text"], "word"))
                    last_word_end = max(last_word_end, end)
                if decoder.sample_rate and sum(len(p) for p in pending) >= _MIN_CHUNK_S * decoder.sample_rate:
                    yield EngineAudio(np.concatenate(pending), decoder.sample_rate, tuple(pending_timings), self.name)
                    pending, pending_timings = [], []
            pending.append(decoder.flush())
            if decoder.sample_rate is None:
                raise TtsError("edge: the service sent no decodable audio")
            if any(len(p) for p in pending) or pending_timings:
                yield EngineAudio(np.concatenate(pending), decoder.sample_rate, tuple(pending_timings), self.name)
            # edge-tts ends quietly when the socket closes before turn.end; audio shorter than the
            # announced words is how a dropped connection shows.
            decoded_s = decoder.samples / decoder.sample_rate
            if last_word_end > decoded_s + 0.1:
                raise TtsError(
                    f"edge: stream ended early ({decoded_s:.2f} s of audio, words announced to {last_word_end:.2f} s)"
                )
        finally:
            await messages.aclose()


register_engine("edge", lambda s: EdgeEngine(s.edge))
