"""Console costs: preview-proxy latency and throughput, /metrics scrape time, live-feed delivery latency.

    .venv/bin/python -m benchmarks.console [--seconds 5]

1. Preview proxy: an upstream HTTP server writes 4 KiB chunks stamped with time.monotonic() at a
   live-stream rate (2.5 Mbit/s, 76 chunks/s) and then as fast as it can; a client reads them directly
   and through the console's /preview.flv. Reported: per-chunk delay p50/p95/max and MB/s.
2. /metrics: time to render the exposition with 3 sinks and filled histograms (mean of 200 scrapes).
3. Live feed: 20 SSE subscribers, 100 events/s published; delivery delay p50/p95 measured at the reader.
Everything runs in one event loop, as the console shares the host's loop.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import os
import struct
import time

import aiohttp
from aiohttp import web

from host.console.backend import HealthSnapshot, NoticeItem, SinkStatus
from host.console.feed import EventFeed
from host.console.server import build_console_app
from host.metrics import HostMetrics

CHUNK = 4096
STAMP = struct.Struct("<d")


class _Backend:
    """Only what the measured endpoints touch."""

    def __init__(self, preview_url: str):
        self.preview_url = preview_url
        self.feed = EventFeed(history=100, subscriber_queue=10_000)

    def health(self) -> HealthSnapshot:
        return HealthSnapshot(
            on_air=True, frames=90_000, late_frames=12, media_time_s=3600.0, uptime_s=3600.5, last_frame_age_s=0.02,
            sinks=[SinkStatus("rtmp1", "rtmp", "publishing", 1, 3, 0, 10**9), SinkStatus("preview", "http-flv", "publishing"),
                   SinkStatus("record", "file", "publishing", bytes_out=10**9)],
            queues={"utterances": 2, "encode": 1, "triage": 4},
            extra={"segments_interrupted": 3, "encode_ms_per_frame": 4.2, "clock_resyncs": 0},
        )

    def events(self, after=None):
        return self.feed.subscribe(after)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _upstream(rate_chunks_s: float | None, total: int):
    async def handler(request):
        resp = web.StreamResponse(headers={"Content-Type": "video/x-flv"})
        await resp.prepare(request)
        start = time.monotonic()
        for i in range(total):
            if rate_chunks_s:
                delay = start + i / rate_chunks_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await resp.write(STAMP.pack(time.monotonic()) + b"\0" * (CHUNK - STAMP.size))
        return resp

    app = web.Application()
    app.router.add_get("/live.flv", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/live.flv"


async def _read_stamped(session: aiohttp.ClientSession, url: str) -> tuple[list[float], float, int]:
    delays, buf, received = [], b"", 0
    t0 = time.monotonic()
    async with session.get(url) as resp:
        async for data in resp.content.iter_any():
            now = time.monotonic()
            buf += data
            received += len(data)
            while len(buf) >= CHUNK:
                delays.append(now - STAMP.unpack_from(buf)[0])
                buf = buf[CHUNK:]
    return delays, time.monotonic() - t0, received


async def bench_proxy(seconds: float) -> list[str]:
    out = []
    for label, rate, total in (("live rate 2.5 Mbit/s", 2_500_000 / 8 / CHUNK, int(seconds * 2_500_000 / 8 / CHUNK)),
                               ("as fast as possible", None, 20_000)):
        for via in ("direct", "proxy"):
            up_runner, up_url = await _upstream(rate, total)
            console = web.AppRunner(build_console_app(_Backend(up_url), token=None), access_log=None)
            await console.setup()
            site = web.TCPSite(console, "127.0.0.1", 0)
            await site.start()
            url = up_url if via == "direct" else f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/preview.flv"
            async with aiohttp.ClientSession() as session:
                delays, elapsed, received = await _read_stamped(session, url)
            await console.cleanup()
            await up_runner.cleanup()
            out.append(f"| {label} | {via} | {len(delays)} | {_pct(delays, .5) * 1000:.2f} | {_pct(delays, .95) * 1000:.2f} "
                       f"| {max(delays) * 1000:.2f} | {received / elapsed / 1e6:.1f} |")
    return out


def bench_metrics() -> str:
    m = HostMetrics(_Backend("").health)
    for i in range(1000):
        m.observe_llm("openai", first_token_s=0.3 + i % 7 / 10, total_s=1.5)
        m.observe_tts("piper", first_chunk_s=0.1)
        m.count_moderation(i % 5 != 0, "ok" if i % 5 else "ad")
        m.count_chat_event("danmaku", "bilibili")
    m.exposition()
    t0 = time.perf_counter()
    for _ in range(200):
        body = m.exposition()
    per = (time.perf_counter() - t0) / 200
    return f"| /metrics exposition | {per * 1000:.2f} ms per scrape | {len(body)} bytes |"


async def bench_feed(seconds: float, subscribers: int = 20, rate: float = 100.0) -> str:
    backend = _Backend("")
    console = web.AppRunner(build_console_app(backend, token=None), access_log=None)
    await console.setup()
    site = web.TCPSite(console, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/api/events"
    total = int(seconds * rate)
    delays: list[float] = []

    async def reader(session):
        got = 0
        async with session.get(url) as resp:
            while got < total:
                line = await resp.content.readline()
                if line.startswith(b"data: "):
                    payload = json.loads(line[6:])
                    delays.append(time.monotonic() - float(payload["payload"]["message"]))
                    got += 1

    async with aiohttp.ClientSession() as session:
        readers = [asyncio.create_task(reader(session)) for _ in range(subscribers)]
        while backend.feed.subscribers < subscribers:
            await asyncio.sleep(0.01)
        start = time.monotonic()
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            backend.feed.publish(NoticeItem("info", repr(time.monotonic())))
        await asyncio.wait_for(asyncio.gather(*readers), 30)
    await console.cleanup()
    return (f"| live feed, {subscribers} subscribers, {rate:.0f} events/s | {len(delays)} deliveries | "
            f"p50 {_pct(delays, .5) * 1000:.2f} ms | p95 {_pct(delays, .95) * 1000:.2f} ms | "
            f"max {max(delays) * 1000:.2f} ms | dropped {backend.feed.dropped} |")


async def main(seconds: float) -> None:
    print(f"# console benchmark — {platform.node()} {platform.machine()} {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print()
    print("| upstream | path | chunks | delay p50 ms | p95 ms | max ms | MB/s |")
    print("|---|---|---|---|---|---|---|")
    for row in await bench_proxy(seconds):
        print(row)
    print()
    print(bench_metrics())
    print()
    print(await bench_feed(seconds))
    print(f"\n(one run; percentiles over every chunk/event; Python {platform.python_version()}, "
          f"aiohttp {aiohttp.__version__}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the live-rate runs")
    args = parser.parse_args()
    asyncio.run(main(args.seconds))
