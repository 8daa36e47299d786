"""Text events for the director from spoken audio: a file, an RTMP/HTTP audio stream, or the console's microphone.

Live audio is cut into utterances with faster-whisper's bundled Silero VAD; each utterance becomes one
``AsrEvent``. Decoding, VAD and recognition run on worker threads, never on the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from speech.asr import ASR_RATE, AsrError, Transcriber, decode_audio
from speech.settings import AsrSettings

log = logging.getLogger(__name__)

MAX_LIVE_INPUTS = 8  # microphones streaming raw PCM at once (each keeps a VAD buffer)


@dataclass(frozen=True, slots=True)
class AsrEvent:
    """One recognized utterance: text, its span in seconds within the input, and where it came from."""

    text: str
    start: float
    end: float
    source: str
    received_at: float = field(default_factory=time.time)


class LiveSegmenter:
    """Buffers a live 16 kHz signal and hands back finished utterances (speech followed by enough silence)."""

    def __init__(self, min_silence_ms: int = 500, max_utterance_s: float = 20.0, check_every_s: float = 0.5) -> None:
        from faster_whisper.vad import VadOptions

        self.options = VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=200)
        self.min_silence = int(ASR_RATE * min_silence_ms / 1000)
        self.max_samples = int(ASR_RATE * max_utterance_s)
        self.check_every = int(ASR_RATE * check_every_s)
        self._buffer = np.zeros(0, np.float32)
        self._base = 0  # samples dropped from the front so far (for absolute times)
        self._unchecked = 0

    def _speech(self) -> list[dict]:
        from faster_whisper.vad import get_speech_timestamps

        return get_speech_timestamps(self._buffer, self.options, sampling_rate=ASR_RATE)

    def _cut(self, upto: int) -> tuple[float, np.ndarray]:
        start_s = self._base / ASR_RATE
        piece = self._buffer[:upto]
        self._buffer = self._buffer[upto:]
        self._base += upto
        return start_s, piece

    def _pieces(self, length: int) -> list[tuple[float, np.ndarray]]:
        """Cut ``length`` samples off the front, in pieces no longer than max_utterance_s."""
        out = []
        while length > 0:
            step = min(length, self.max_samples)
            out.append(self._cut(step))
            length -= step
        return out

    def feed(self, samples: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """Add audio; return finished utterances as (start seconds, samples)."""
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.float32).reshape(-1)])
        self._unchecked += len(samples)
        if self._unchecked < self.check_every:
            return []
        self._unchecked = 0
        speech = self._speech()
        if not speech:
            keep = ASR_RATE  # nothing said: keep one second for a word that is just starting
            if len(self._buffer) > keep:
                self._cut(len(self._buffer) - keep)
            return []
        out: list[tuple[float, np.ndarray]] = []
        finished = [s for s in speech if s["end"] <= len(self._buffer) - self.min_silence]
        if finished:
            first, last = finished[0]["start"], finished[-1]["end"]
            self._cut(first)
            out += self._pieces(last - first)  # speech that ran on between two checks may pass the bound
        elif len(self._buffer) - speech[0]["start"] > self.max_samples:
            self._cut(speech[0]["start"])
            out.append(self._cut(self.max_samples))
        return out

    def finish(self) -> list[tuple[float, np.ndarray]]:
        """End of input: whatever speech is left."""
        if not len(self._buffer):
            return []
        speech = self._speech()
        if not speech:
            self._cut(len(self._buffer))
            return []
        self._cut(speech[0]["start"])
        return self._pieces(len(self._buffer))


class AsrSource:
    """Async iterator of AsrEvent; feed it with ``run_file``, ``run_stream``, ``push_pcm`` or ``transcribe_blob``."""

    def __init__(self, transcriber: Transcriber | None = None, settings: AsrSettings | None = None) -> None:
        self.settings = settings or (transcriber.settings if transcriber else AsrSettings())
        self.transcriber = transcriber or Transcriber(self.settings)
        self._events: asyncio.Queue[AsrEvent | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr")
        self._live: dict[str, LiveSegmenter] = {}
        self._stop = threading.Event()
        self.errors = 0
        self.events = 0

    def __aiter__(self) -> AsyncIterator[AsrEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AsrEvent]:
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def _run(self, fn, *args):  # noqa: ANN001, ANN202 - thin executor helper
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _publish(self, text: str, start: float, end: float, source: str) -> AsrEvent | None:
        if not text:
            return None
        event = AsrEvent(text, start, end, source)
        self.events += 1
        self._events.put_nowait(event)
        log.debug("speech recognized", extra={"source": source, "chars": len(text)})
        return event

    async def _transcribe_piece(self, start: float, samples: np.ndarray, source: str) -> AsrEvent | None:
        segments = await self._run(self.transcriber.transcribe_segments, samples)
        text = " ".join(s.text for s in segments).strip()
        return self._publish(text, start, start + len(samples) / ASR_RATE, source)

    async def run_file(self, path: str | Path) -> int:
        """Transcribe an audio file; one event per recognized segment. Returns the number of events."""
        audio = await self._run(decode_audio, Path(path))
        segments = await self._run(self.transcriber.transcribe_segments, audio)
        count = 0
        for seg in segments:
            if self._publish(seg.text, seg.start, seg.end, str(path)):
                count += 1
        return count

    async def run_stream(self, url: str, open_timeout_s: float = 10.0) -> int:
        """Follow an RTMP/HTTP/file audio stream until it ends; one event per utterance. Returns the count."""
        loop = asyncio.get_running_loop()
        # Room for ~40 s of audio so a long transcription does not stall the network read.
        blocks: asyncio.Queue[np.ndarray | BaseException | None] = asyncio.Queue(maxsize=2000)

        def hand_over(item: np.ndarray | BaseException | None) -> None:
            asyncio.run_coroutine_threadsafe(blocks.put(item), loop).result()

        def reader() -> None:
            decoded = False
            try:
                options = {"rw_timeout": str(int(open_timeout_s * 1e6))}
                with av.open(url, "r", options=options, timeout=open_timeout_s) as container:
                    if not container.streams.audio:
                        raise AsrError(f"no audio stream in {url}")
                    resampler = av.AudioResampler(format="flt", layout="mono", rate=ASR_RATE)
                    for frame in container.decode(container.streams.audio[0]):
                        if self._stop.is_set():
                            break
                        frame.pts = None
                        for out in resampler.resample(frame):
                            decoded = True
                            hand_over(out.to_ndarray().reshape(-1).copy())
                hand_over(None)
            except av.error.FFmpegError as exc:
                if decoded:
                    # A live stream that stops publishing ends in an I/O error or a read timeout.
                    log.info("audio stream ended", extra={"url": url, "reason": str(exc)})
                    hand_over(None)
                else:
                    hand_over(exc)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                hand_over(exc)

        thread = threading.Thread(target=reader, name="asr-stream", daemon=True)
        thread.start()
        segmenter = LiveSegmenter(self.settings.min_silence_ms, self.settings.max_utterance_s)
        count = 0
        while True:
            block = await blocks.get()
            if isinstance(block, BaseException):
                self.errors += 1
                if isinstance(block, av.error.FFmpegError):
                    raise AsrError(f"audio stream {url} failed: {block}") from block
                raise block
            pieces = segmenter.finish() if block is None else await self._run(segmenter.feed, block)
            for start, samples in pieces:
                if await self._transcribe_piece(start, samples, url):
                    count += 1
            if block is None:
                return count

    async def push_pcm(self, samples: np.ndarray, source: str = "console") -> list[AsrEvent]:
        """Live microphone audio (float32 16 kHz mono) in pieces; utterances are cut by the VAD."""
        segmenter = self._live.get(source)
        if segmenter is None:
            if len(self._live) >= MAX_LIVE_INPUTS:  # forgotten inputs (no end=1) must not pile up
                stale = next(iter(self._live))
                log.warning("dropping the oldest live audio input", extra={"source": stale})
                del self._live[stale]
            segmenter = self._live[source] = LiveSegmenter(self.settings.min_silence_ms, self.settings.max_utterance_s)
        pieces = await self._run(segmenter.feed, samples)
        events = [await self._transcribe_piece(start, piece, source) for start, piece in pieces]
        return [e for e in events if e]

    async def end_pcm(self, source: str = "console") -> list[AsrEvent]:
        """The live input ``source`` stopped: transcribe what is left of it."""
        segmenter = self._live.pop(source, None)
        if segmenter is None:
            return []
        pieces = await self._run(segmenter.finish)
        events = [await self._transcribe_piece(start, piece, source) for start, piece in pieces]
        return [e for e in events if e]

    async def transcribe_blob(self, data: bytes, source: str = "console") -> AsrEvent | None:
        """A whole recorded utterance (WAV, WebM, Ogg...) -> one event (None when nothing was said)."""
        audio = await self._run(decode_audio, bytes(data))
        return await self._transcribe_piece(0.0, audio, source)

    async def close(self) -> None:
        """End the iteration and stop the readers."""
        self._stop.set()
        self._events.put_nowait(None)
        self._executor.shutdown(wait=False, cancel_futures=True)
