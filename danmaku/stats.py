"""Counters a chat source keeps: what came in, what became events, what was skipped and why."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SourceStats:
    """Per-source counters; ``outage_s`` accumulates time spent disconnected."""

    received: int = 0
    normalized: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    reconnects: int = 0
    outage_s: float = 0.0
    connected: bool = False
    _outage_started: float | None = None

    def skip(self, reason: str) -> None:
        """Count one payload skipped for ``reason`` (e.g. ``unknown_cmd``, ``malformed:DANMU_MSG``)."""
        self.skipped[reason] += 1

    def mark_down(self) -> None:
        """The connection is gone: start the outage clock (idempotent)."""
        self.connected = False
        if self._outage_started is None:
            self._outage_started = time.monotonic()

    def mark_up(self) -> float:
        """The connection is back: close the outage; returns its length in seconds (0 if none)."""
        self.connected = True
        if self._outage_started is None:
            return 0.0
        length = time.monotonic() - self._outage_started
        self.outage_s += length
        self._outage_started = None
        return length

    def snapshot(self) -> dict:
        """A JSON-ready copy (current outage included in ``outage_s``)."""
        outage = self.outage_s
        if self._outage_started is not None:
            outage += time.monotonic() - self._outage_started
        return {
            "received": self.received,
            "normalized": self.normalized,
            "skipped": dict(self.skipped),
            "skipped_total": sum(self.skipped.values()),
            "reconnects": self.reconnects,
            "outage_s": round(outage, 3),
            "connected": self.connected,
        }
