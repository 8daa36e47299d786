"""Ping-pong index into the avatar's idle loop: forward then backward, a pure function of the tick."""
from __future__ import annotations


def ping_pong_index(tick: int, loop_length: int) -> int:
    """Loop index shown at ``tick``: 0,1,..,L-1,L-2,..,1,0,1,.. (period 2L-2); never reset by speech."""
    if loop_length <= 1:
        return 0
    period = 2 * loop_length - 2
    phase = tick % period
    return phase if phase < loop_length else period - phase


def ping_pong_indices(start_tick: int, count: int, loop_length: int) -> list[int]:
    """The loop indices that will be on air over ticks start_tick .. start_tick+count-1."""
    return [ping_pong_index(t, loop_length) for t in range(start_tick, start_tick + count)]
