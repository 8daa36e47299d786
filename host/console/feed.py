"""The console's live feed: a numbered ring of recent events, fanned out to any number of subscribers.

The host publishes chat verdicts, utterances and admin results (from the event loop, or from any thread:
such calls are handed to the loop); each browser gets
the history after its last seen ``seq`` and then live events. A subscriber that cannot keep up loses
its oldest pending events (counted) rather than slowing the host down.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator

from host.console.backend import FEED_KINDS, FeedEvent, FeedPayload

log = logging.getLogger("host.console.feed")


class EventFeed:
    """Publish typed feed payloads; ``subscribe(after)`` yields FeedEvents with seq > after."""

    def __init__(self, history: int = 500, subscriber_queue: int = 1000):
        self._history: deque[FeedEvent] = deque(maxlen=history)
        self._subscribers: set[asyncio.Queue[FeedEvent | None]] = set()
        self._queue_size = subscriber_queue
        self._seq = 0
        self.dropped = 0  # events a slow subscriber lost
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None  # learnt from the first call made on the loop

    @property
    def last_seq(self) -> int:
        return self._seq

    def missed_after(self, after: int | None) -> int:
        """How many events after ``after`` are no longer kept (a browser away too long)."""
        if after is None or not self._history:
            return 0
        return max(0, self._history[0].seq - after - 1)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that owns the feed (optional: learnt from the first publish/subscribe made on it)."""
        self._loop = loop

    def publish(self, payload: FeedPayload, *, at: float | None = None) -> FeedEvent | None:
        """Number the payload, keep it and hand it to every subscriber (never blocks).

        From another thread (engine, renderer, scheduler callbacks) the call is passed to the feed's
        loop and None is returned; on the loop the numbered FeedEvent is returned.
        """
        kind = FEED_KINDS.get(type(payload))
        if kind is None:
            raise TypeError(f"not a feed payload: {type(payload).__name__}")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None and self._loop is not None and not self._loop.is_closed():
            stamp = time.time() if at is None else at
            self._loop.call_soon_threadsafe(lambda: self.publish(payload, at=stamp))
            return None
        if running is not None and self._loop is None:
            self._loop = running
        self._seq += 1
        event = FeedEvent(seq=self._seq, at=time.time() if at is None else at, kind=kind, payload=payload)
        self._history.append(event)
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(event)
        return event

    def history(self, after: int | None = None) -> list[FeedEvent]:
        """Events still kept with seq > after (all kept events when after is None)."""
        return [e for e in self._history if after is None or e.seq > after]

    async def subscribe(self, after: int | None = None) -> AsyncIterator[FeedEvent]:
        """History after ``after``, then live events until close() or the consumer stops iterating."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue(self._queue_size)
        # Registered before the history snapshot is taken: nothing published in between is lost, and
        # the seq check below drops what would otherwise appear twice.
        self._subscribers.add(queue)
        try:
            last = after if after is not None else 0
            for event in self.history(after):
                last = event.seq
                yield event
            while not self._closed:
                event = await queue.get()
                if event is None:
                    break
                if event.seq <= last:
                    continue
                last = event.seq
                yield event
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        """End every subscription (at shutdown)."""
        self._closed = True
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)
