"""The TTS front the director uses: normalize, synthesize sentence by sentence through the fallback chain,
level the loudness, and hand out int16 PCM at the stream's rate with timings from the utterance start.

    tts = build_tts(settings.speech, sample_rate=48000, channels=2)
    async for chunk in tts.synthesize("大家好"): ...          # chunk.pcm int16 (n, ch), chunk.timings
    pcm, timings, engine = await tts.synthesize_all("Hello")
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from lipsync.base import Timing
from speech.fallback import FallbackEngine
from speech.loudness import LoudnessLeveler
from speech.normalize import clean_text, normalize_for_speech
from speech.pcm_format import PcmFormatter
from speech.script_split import detect_language
from speech.sentences import split_sentences
from speech.settings import SpeechSettings
from speech.tts_base import EngineRequest, TtsEngine, TtsError, create_engine
from speech.tts_cache import CachedEngine, TtsCache

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TtsChunk:
    """Audio ready for the streamer: int16 (samples, channels) at the stream rate."""

    pcm: np.ndarray
    timings: tuple[Timing, ...]  # seconds from the start of the utterance
    engine: str
    sample_rate: int


class SynthesisResult(NamedTuple):
    """A whole utterance: ``pcm, timings, engine = await tts.synthesize_all(text)``."""

    pcm: np.ndarray
    timings: list[Timing]
    engine: str


@dataclass(slots=True)
class TtsStats:
    """Counters for status lines and the console."""

    utterances: int = 0
    sentences: int = 0
    failed_sentences: int = 0
    seconds: float = 0.0
    by_engine: dict[str, int] = field(default_factory=dict)


class _LeadingSilence:
    """Drops a sentence's leading silence (voices pad 30-70 ms before speaking): on air, that is latency."""

    THRESHOLD = int(10 ** (-45 / 20) * 32767)  # peak level that counts as sound
    KEEP_S = 0.01  # kept before the first sound, so a soft onset is not clipped
    MAX_S = 0.5  # never more than this: a deliberate pause stays

    def __init__(self, sample_rate: int, start: int) -> None:
        self.rate = sample_rate
        self.start = start  # output samples before this sentence
        self.keep = int(self.KEEP_S * sample_rate)
        self.left = int(self.MAX_S * sample_rate)  # samples that may still be dropped
        self.trimmed = 0
        self.done = False
        self._held: list[Timing] = []  # engine timings waiting until the trimmed length is known

    def timings(self, engine_timings, final: bool = False) -> tuple[Timing, ...]:
        """Engine timings (from the sentence's own start) as utterance timings, once the trim is known."""
        self._held.extend(engine_timings)
        if not (self.done or final):
            return ()
        offset = (self.start - self.trimmed) / self.rate
        held, self._held = self._held, []
        return tuple(  # a pause entirely within the trimmed lead is gone
            Timing(max(0.0, t.start + offset), t.end + offset, t.text, t.kind) for t in held if t.end + offset > 0
        )

    def cut(self, pcm: np.ndarray) -> np.ndarray:
        if self.done or not len(pcm):
            return pcm
        loud = np.flatnonzero(np.abs(pcm).max(axis=1) > self.THRESHOLD)
        cut = max(0, int(loud[0]) - self.keep) if loud.size else len(pcm)
        if loud.size or cut > self.left:
            self.done = True
        cut = min(cut, self.left)
        self.left -= cut
        self.trimmed += cut
        return pcm[cut:]


class SpeechTts:
    """Front of the speech chain; one per stream format."""

    def __init__(self, engine: TtsEngine, settings: SpeechSettings, sample_rate: int, channels: int) -> None:
        self.engine = engine
        self.settings = settings
        self.sample_rate = sample_rate
        self.channels = channels
        self.stats = TtsStats()
        self._levelers: dict[str, LoudnessLeveler] = {}

    def _ceiling(self, pcm: np.ndarray) -> np.ndarray:
        limit = int(10 ** (self.settings.peak_dbfs / 20) * 32767)
        return np.clip(pcm, -limit, limit, out=pcm) if len(pcm) else pcm

    def _leveler(self, engine: str) -> LoudnessLeveler:
        if engine not in self._levelers:
            self._levelers[engine] = LoudnessLeveler(self.settings.loudness_dbfs, self.settings.peak_dbfs)
        return self._levelers[engine]

    def language_of(self, text: str) -> str:
        """The language the text will be spoken in (config override or detection)."""
        if self.settings.language != "auto":
            return self.settings.language
        return detect_language(clean_text(text), self.settings.default_language)

    def speech_text(self, text: str, language: str) -> str:
        """What the voice will actually say for ``text``."""
        if self.settings.normalize_text:
            return normalize_for_speech(text, language)
        return clean_text(text)

    async def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[TtsChunk]:
        """Stream the utterance sentence by sentence; raises TtsUnavailable only when nothing at all could be said."""
        language = self.language_of(text)
        sentences = split_sentences(self.speech_text(text, language), self.settings.max_sentence_chars)
        self.stats.utterances += 1
        formatter = PcmFormatter(self.sample_rate, self.channels)
        emitted = 0  # output samples so far: the offset of the next sentence
        spoke = False
        engine = ""
        for index, sentence in enumerate(sentences):
            request = EngineRequest(sentence, voice or "", language)
            start = emitted
            lead = _LeadingSilence(self.sample_rate, start)
            try:
                async with aclosing(self.engine.stream(request)) as chunks:
                    async for audio in chunks:
                        leveled = self._leveler(audio.engine).process(audio.samples, audio.sample_rate)
                        # Resampling can overshoot between samples: the ceiling holds after it, too.
                        pcm = lead.cut(self._ceiling(formatter.convert(leveled, audio.sample_rate)))
                        timings = lead.timings(audio.timings)
                        engine = audio.engine
                        if len(pcm) or timings:
                            emitted += len(pcm)
                            spoke = True
                            self.stats.by_engine[audio.engine] = self.stats.by_engine.get(audio.engine, 0) + 1
                            yield TtsChunk(pcm, timings, audio.engine, self.sample_rate)
            except TtsError as exc:
                self.stats.failed_sentences += 1
                if not spoke and index == len(sentences) - 1:
                    raise
                log.warning("sentence skipped: no engine could say it", extra={"error": str(exc)})
            tail = lead.cut(self._ceiling(formatter.flush()))
            timings = lead.timings((), final=True)
            if len(tail) or timings:
                emitted += len(tail)
                yield TtsChunk(tail, timings, engine, self.sample_rate)
            self.stats.sentences += 1
        self.stats.seconds += emitted / self.sample_rate

    async def synthesize_all(self, text: str, voice: str | None = None) -> SynthesisResult:
        """The whole utterance at once (for the director's lookahead and for `say`)."""
        pcm: list[np.ndarray] = []
        timings: list[Timing] = []
        engines: list[str] = []
        async for chunk in self.synthesize(text, voice):
            pcm.append(chunk.pcm)
            timings.extend(chunk.timings)
            if chunk.engine and chunk.engine not in engines:
                engines.append(chunk.engine)
        audio = np.concatenate(pcm) if pcm else np.zeros((0, self.channels), dtype=np.int16)
        return SynthesisResult(audio, timings, "+".join(engines))

    async def aclose(self) -> None:
        """Release the engines."""
        await self.engine.aclose()


def build_engines(settings: SpeechSettings, names: list[str] | None = None) -> list[TtsEngine]:
    """The engines named (default: speech.engines), each wrapped by the cache when enabled.

    An engine that cannot even be set up (missing package or model) is left out with a warning,
    unless it is the only one asked for.
    """
    import speech.engines  # noqa: F401 - registers the built-in engines

    names = names or list(settings.engines)
    cache = None
    if settings.cache.enabled:
        cache = TtsCache(settings.cache.dir, int(settings.cache.max_mb * 1024 * 1024))
    engines: list[TtsEngine] = []
    problems: list[str] = []
    for name in names:
        try:
            engine = create_engine(name, settings)
        except TtsError as exc:
            problems.append(str(exc))
            log.warning("TTS engine unavailable", extra={"engine": name, "error": str(exc)})
            continue
        engines.append(CachedEngine(engine, cache) if cache else engine)
    if not engines:
        raise TtsError("no usable TTS engine: " + "; ".join(problems))
    return engines


def build_tts(
    settings: SpeechSettings, sample_rate: int = 48000, channels: int = 2, engines: list[str] | None = None
) -> SpeechTts:
    """The fallback chain from config (or just ``engines``), producing int16 PCM at ``sample_rate``."""
    chain = FallbackEngine(build_engines(settings, engines), cooldown_s=settings.cooldown_s)
    return SpeechTts(chain, settings, sample_rate, channels)
