"""The media clock: frame n is due at t0 + n/fps on time.monotonic() (absolute deadlines, no drift)."""
from __future__ import annotations

import threading
import time


def samples_per_frame(sample_rate: int, fps: int) -> int:
    """Audio samples owned by one video frame; rejects rates where that is not an integer."""
    if sample_rate % fps:
        raise ValueError(
            f"stream.sample_rate {sample_rate} is not a whole number of samples per frame at stream.fps {fps} "
            f"(pick an fps that divides it, e.g. 25 or 30 for 48000)"
        )
    return sample_rate // fps


class MediaClock:
    """Paces ticks on absolute monotonic deadlines; with ``realtime=False`` it never waits.

    ``resync_after_s``: when the clock falls that far behind (machine suspended, long overload), it
    moves t0 forward instead of bursting frames out; pts stay continuous, only wall-time alignment moves.
    """

    def __init__(self, fps: int, *, realtime: bool = True, late_tolerance: float = 0.5, resync_after_s: float = 2.0):
        self.fps = fps
        self.period = 1.0 / fps
        self.realtime = realtime
        self.late_after = late_tolerance * self.period
        self.resync_after_s = resync_after_s
        self.t0: float | None = None
        self.resyncs = 0

    def start(self, now: float | None = None) -> None:
        self.t0 = time.monotonic() if now is None else now

    def deadline(self, n: int) -> float:
        assert self.t0 is not None, "clock not started"
        return self.t0 + n * self.period

    def wait_for(self, n: int, stop: threading.Event) -> float:
        """Sleep until frame n is due (or ``stop`` is set); returns how late we woke, in seconds (>= 0)."""
        if not self.realtime:
            return 0.0
        due = self.deadline(n)
        now = time.monotonic()
        if now < due:
            stop.wait(due - now)
            now = time.monotonic()
        lateness = max(0.0, now - due)
        if lateness > self.resync_after_s:
            self.t0 += lateness  # give up on catching up: re-anchor so frame n is due now
            self.resyncs += 1
        return lateness

    def is_late(self, lateness: float) -> bool:
        return lateness > self.late_after
