"""PrerenderCache: synthesizes (and renders) upcoming lines in the background so they start with no delay.

Keyed by the exact text: a line whose variables changed between preview and speaking time (stock
sold) simply misses the cache and is synthesized fresh, so a stale number is never spoken.
``synthesize`` is injected (speech/ TTS, or TTS + lip-sync render where that is slower than real time).
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, Callable

log = logging.getLogger(__name__)

Synthesize = Callable[[str], Awaitable[Any]]


@dataclass
class PrerenderStats:
    """hits: ready when asked; waits: still synthesizing, awaited; misses: synthesized on demand."""

    hits: int = 0
    waits: int = 0
    misses: int = 0
    started: int = 0
    failures: int = 0
    evicted: int = 0


class PrerenderCache:
    """Bounded cache of synthesized audio for upcoming texts; synthesis runs ``concurrency`` at a time."""

    def __init__(self, synthesize: Synthesize, capacity: int = 8, concurrency: int = 1):
        if capacity < 1 or concurrency < 1:
            raise ValueError("capacity and concurrency must be >= 1")
        self._synthesize = synthesize
        self._capacity = capacity
        self._slots = asyncio.Semaphore(concurrency)
        self._entries: OrderedDict[str, asyncio.Task] = OrderedDict()
        self.stats = PrerenderStats()

    def __contains__(self, text: str) -> bool:
        return text in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def in_progress(self) -> int:
        """How many background syntheses are running or waiting for their turn."""
        return sum(not task.done() for task in self._entries.values())

    def prefetch(self, texts: Iterable[str]) -> None:
        """Start synthesizing ``texts`` (soonest first) that are not cached yet; returns at once."""
        wanted = [t for t in dict.fromkeys(texts) if t and t.strip()][: self._capacity]
        for text in wanted:
            if text in self._entries:
                self._entries.move_to_end(text)
                continue
            self._make_room(protect=set(wanted))
            if len(self._entries) >= self._capacity:
                break
            self.stats.started += 1
            task = asyncio.get_running_loop().create_task(self._run(text), name="prerender")
            task.add_done_callback(_retrieve_exception)
            self._entries[text] = task

    async def get(self, text: str) -> Any:
        """Audio for ``text``: from the cache, from the synthesis in progress, or synthesized now."""
        task = self._entries.pop(text, None)
        if task is not None:
            if task.done() and not task.cancelled() and task.exception() is None:
                self.stats.hits += 1
                return task.result()
            if not task.done():
                self.stats.waits += 1
                try:
                    return await asyncio.shield(task)
                except asyncio.CancelledError:
                    if task.cancelled():
                        pass  # evicted/closed meanwhile: synthesize below
                    else:
                        raise
                except Exception:
                    pass  # counted in _run; try once more below
        self.stats.misses += 1
        # On demand goes first: it does not queue behind background work for later lines.
        return await self._synthesize(text)

    def discard(self, text: str) -> None:
        """Forget ``text`` (the line was dropped); a running synthesis is cancelled."""
        task = self._entries.pop(text, None)
        if task is not None and not task.done():
            task.cancel()

    async def close(self) -> None:
        """Cancel background synthesis and empty the cache."""
        tasks = list(self._entries.values())
        self._entries.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, text: str) -> Any:
        async with self._slots:
            try:
                return await self._synthesize(text)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.failures += 1
                log.warning("pre-rendering failed; will synthesize on demand", extra={"error": repr(exc)})
                raise

    def _make_room(self, protect: set[str]) -> None:
        # Evict the least recently wanted entries that are not among the texts wanted now.
        while len(self._entries) >= self._capacity:
            victim = next((t for t in self._entries if t not in protect), None)
            if victim is None:
                return
            task = self._entries.pop(victim)
            if not task.done():
                task.cancel()
            self.stats.evicted += 1


def _retrieve_exception(task: asyncio.Task) -> None:
    # A failed pre-render that nobody asks for must not end as "exception was never retrieved".
    if not task.cancelled():
        task.exception()
