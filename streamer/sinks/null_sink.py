"""A sink that only counts what it is given (benchmarks, soak, and runs with no output configured)."""
from __future__ import annotations

from streamer.sinks.base import PacketSink


class NullSink(PacketSink):
    """Consumes packets and counts bytes; exercises the same queue and thread as a real sink."""

    kind = "null"
    video_packets = 0
    audio_samples = 0  # sum of audio packet durations, encoder priming included

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
            if pkt.kind == "video":
                self.video_packets += 1
            else:
                self.audio_samples += pkt.duration  # AAC: 1024 per packet, the last one shorter
        self.health.set_state("stopped")
