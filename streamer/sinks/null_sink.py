"""A sink that only counts what it is given (benchmarks, soak, and runs with no output configured)."""
from __future__ import annotations

from streamer.sinks.base import PacketSink


class NullSink(PacketSink):
    """Consumes packets and counts bytes; exercises the same queue and thread as a real sink."""

    kind = "null"

    def run(self) -> None:
        self.health.set_state("publishing")
        while True:
            pkt = self.next_packet(0.2)
            if pkt is None:
                if self.finished:
                    break
                continue
            self.health.bytes += len(pkt.data)
            self.health.packets += 1
        self.health.set_state("stopped")
