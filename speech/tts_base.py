"""The TTS engine contract: text in, an async stream of mono float audio with timings out; plus a registry."""
from __future__ import annotations

import asyncio
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from lipsync.base import Timing

if TYPE_CHECKING:
    from speech.settings import SpeechSettings

log = logging.getLogger(__name__)


class TtsError(Exception):
    """An engine could not speak this text now (network, service, missing model...)."""


class TtsUnavailable(TtsError):
    """Every engine of the chain failed for this text."""


@dataclass(slots=True)
class EngineAudio:
    """Audio straight from an engine: float32 mono in [-1, 1] at the engine's own rate.

    ``timings`` are seconds from the start of the utterance (not of this chunk).
    """

    samples: np.ndarray
    sample_rate: int
    timings: tuple[Timing, ...] = ()
    engine: str = ""


@dataclass(slots=True)
class EngineRequest:
    """What an engine is asked to say: normalized text, the resolved voice and the language."""

    text: str
    voice: str
    language: str  # "zh" | "en"
    cancel: threading.Event = field(default_factory=threading.Event)


class TtsEngine(ABC):
    """One speech provider. Implement ``stream``; fallback, caching and format live in wrappers."""

    name: ClassVar[str] = "base"
    languages: frozenset[str] = frozenset({"zh", "en"})

    @abstractmethod
    def default_voice(self, language: str) -> str:
        """The configured voice for ``language``."""

    def resolve_voice(self, voice: str | None, language: str) -> str:
        """``voice`` when this engine can use it, else its default for ``language``."""
        return voice if voice and self.accepts_voice(voice) else self.default_voice(language)

    def accepts_voice(self, voice: str) -> bool:
        """Whether ``voice`` names a voice of this engine."""
        return False

    def cache_tag(self) -> str:
        """Settings that change the audio besides voice and text (part of the cache key)."""
        return ""

    @abstractmethod
    def stream(self, request: EngineRequest) -> AsyncIterator[EngineAudio]:
        """Yield audio as it is produced; raise TtsError when the engine cannot speak."""

    async def aclose(self) -> None:
        """Release connections, threads and models."""


class ThreadedEngine(TtsEngine):
    """An engine whose synthesis is blocking: runs it on its own single worker thread, streams the chunks."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tts-{self.name}")

    @abstractmethod
    def synthesize_blocking(self, request: EngineRequest) -> Iterator[EngineAudio]:
        """Produce the chunks; check ``request.cancel`` between chunks."""

    async def stream(self, request: EngineRequest) -> AsyncIterator[EngineAudio]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        done = object()

        def hand_over(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed while the thread was still speaking
                request.cancel.set()

        def produce() -> None:
            try:
                for chunk in self.synthesize_blocking(request):
                    if request.cancel.is_set():
                        break
                    hand_over(chunk)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                hand_over(exc)
            finally:
                hand_over(done)

        loop.run_in_executor(self._executor, produce)
        try:
            while True:
                item = await queue.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    if isinstance(item, TtsError):
                        raise item
                    raise TtsError(f"{self.name}: {type(item).__name__}: {item}") from item
                yield item
        finally:
            # An interrupted utterance returns at once; the worker stops at its next chunk and the
            # next request waits for it on the same single thread.
            request.cancel.set()

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


EngineFactory = Callable[["SpeechSettings"], TtsEngine]
_REGISTRY: dict[str, EngineFactory] = {}


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make ``name`` usable in ``speech.engines``."""
    _REGISTRY[name] = factory


def engine_names() -> list[str]:
    """Names known to the registry (built-ins are registered by speech.engines)."""
    return sorted(_REGISTRY)


def create_engine(name: str, settings: SpeechSettings) -> TtsEngine:
    """Build one engine from the config; unknown names name the config key."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise TtsError(f"unknown TTS engine '{name}' in speech.engines (known: {', '.join(engine_names())})") from None
    return factory(settings)
