"""Chat source interface and registry: a source yields ChatEvents and keeps SourceStats."""
from __future__ import annotations

import abc
import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from danmaku.bilibili_payloads import SkipPayload, normalize_command
from danmaku.events import ChatEvent
from danmaku.stats import SourceStats

if TYPE_CHECKING:
    from danmaku.settings import ChatSettings

log = logging.getLogger(__name__)

SOURCES: dict[str, type["ChatSource"]] = {}


def register_source(name: str) -> Callable[[type["ChatSource"]], type["ChatSource"]]:
    """Class decorator: make a source available as ``chat.source = "<name>"``."""

    def decorate(cls: type[ChatSource]) -> type[ChatSource]:
        cls.kind = name
        SOURCES[name] = cls
        return cls

    return decorate


def create_source(name: str, settings: "ChatSettings", **overrides: Any) -> "ChatSource":
    """Build the source called ``name`` from the ``[chat]`` settings (``overrides`` win over settings)."""
    # Importing the modules registers the built-in sources.
    from danmaku.sources import bilibili_source, console_source, replay_source  # noqa: F401

    cls = SOURCES.get(name)
    if cls is None:
        raise ValueError(f"unknown chat source '{name}' (config key chat.source); known: {', '.join(sorted(SOURCES))}")
    return cls.from_settings(settings, **overrides)


class ChatSource(abc.ABC):
    """Base of every source: subclasses implement ``_produce()`` and call ``_emit``/``_ingest``.

    Consumers either iterate ``events()`` or pass a callback to ``run(callback)``. The buffer between
    producer and consumer is bounded; when the consumer falls behind the oldest events are dropped and
    counted (``skipped['overflow']``), so memory stays bounded whatever the room does.
    """

    kind: ClassVar[str] = "base"

    def __init__(self, buffer_size: int = 1000) -> None:
        self.stats = SourceStats()
        self._buffer: collections.deque[ChatEvent] = collections.deque()
        self._buffer_size = max(1, buffer_size)
        self._wakeup: asyncio.Event | None = None
        self._stopping = False
        self._listeners: list[Callable[[ChatEvent], Any]] = []

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: "ChatSettings", **overrides: Any) -> "ChatSource":
        """Build the source from the ``[chat]`` section."""

    @abc.abstractmethod
    async def _produce(self) -> None:
        """Produce events until done (replay end) or cancelled (live sources run forever)."""

    def add_listener(self, callback: Callable[[ChatEvent], Any]) -> None:
        """Call ``callback(event)`` synchronously for every event as it is emitted (e.g. the event log)."""
        self._listeners.append(callback)

    def stop(self) -> None:
        """Ask ``events()`` to finish after the events already buffered."""
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.set()

    def _emit(self, event: ChatEvent) -> None:
        self.stats.normalized += 1
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not stop the room
                log.exception("chat listener failed", extra={"source": self.kind})
        if len(self._buffer) >= self._buffer_size:
            self._buffer.popleft()
            self.stats.skip("overflow")
        self._buffer.append(event)
        if self._wakeup is not None:
            self._wakeup.set()

    def _ingest(self, payload: Any, room: int, now: float | None = None, time_shift: float = 0.0) -> ChatEvent | None:
        """Normalize one bilibili-format command object and emit it; count and log what is skipped.

        ``time_shift`` is added to the event's timestamp (a looping replay moves each pass forward in time).
        """
        self.stats.received += 1
        try:
            event = normalize_command(payload, room, now)
            event.timestamp += time_shift
        except SkipPayload as skip:
            self.stats.skip(skip.reason)
            self._log_skip(skip.reason, skip.detail)
            return None
        except Exception as exc:  # a bug or a shape nobody foresaw: skip it, never die
            self.stats.skip("malformed:exception")
            self._log_skip("malformed:exception", repr(exc))
            return None
        self._emit(event)
        return event

    def _log_skip(self, reason: str, detail: str) -> None:
        # Every skip is counted; the log gets the first few of each reason, then every 1000th, so a
        # flood of junk cannot flood the log.
        n = self.stats.skipped[reason]
        if n > 5 and n % 1000:
            return
        level = logging.DEBUG if reason == "unknown_cmd" else logging.WARNING
        log.log(level, "chat payload skipped", extra={"source": self.kind, "reason": reason, "count": n,
                                                      "detail": detail[:200]})

    async def events(self) -> AsyncIterator[ChatEvent]:
        """Run the source and yield its events; ends when the producer ends or ``stop()`` is called."""
        self._wakeup = asyncio.Event()
        self._stopping = False
        producer = asyncio.create_task(self._produce(), name=f"chat-source-{self.kind}")
        producer.add_done_callback(lambda _t: self._wakeup.set())
        try:
            while True:
                while self._buffer:
                    if self._stopping and not producer.done():
                        producer.cancel()  # nothing new after stop(); what is buffered still comes out
                    yield self._buffer.popleft()
                if self._stopping and not producer.done():
                    producer.cancel()
                    try:
                        await producer
                    except (asyncio.CancelledError, Exception):
                        pass
                if producer.done() or self._stopping:
                    if not producer.cancelled() and producer.exception():
                        raise producer.exception()
                    if not self._buffer:
                        return
                    continue
                self._wakeup.clear()
                if not self._buffer:
                    await self._wakeup.wait()
        finally:
            if not producer.done():
                producer.cancel()
                try:
                    await producer
                except (asyncio.CancelledError, Exception):
                    pass

    async def run(self, callback: Callable[[ChatEvent], Awaitable[Any] | Any]) -> None:
        """Feed every event to ``callback`` (sync or async) until the source ends."""
        async for event in self.events():
            result = callback(event)
            if asyncio.iscoroutine(result):
                await result
