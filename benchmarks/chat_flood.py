"""Chat flood: N events as fast as possible through source -> moderation -> triage.

    .venv/bin/python -m benchmarks.chat_flood [--events 10000] [--source replay|bilibili] [--capacity 200]

``replay`` reads a generated JSONL recording at full speed; ``bilibili`` sends the same events from a
local websocket server (tests/bili_server.py) to the real bilibili-api-python client. Prints events/s,
peak RSS, the triage queue's peak size (never above its capacity) and the pipeline's counters.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOM = 22637261
START = 1731758400


def iter_events(n: int, seed: int = 7):
    """A deterministic mix shaped like a busy room: comments (some ads/insults/repeats), gifts, SCs, enters.

    A generator, so the benchmark's own input does not grow with ``n`` (peak RSS measures the pipeline).
    """
    rng = random.Random(seed)
    phrases = ["主播好", "手表多少钱", "包邮吗", "能戴着游泳吗", "666", "哈哈哈", "耳机续航多久", "支持苹果手机吗",
               "什么时候发货", "有优惠券吗", "加我vx领红包", "傻逼主播", "晚上好", "新疆包邮吗", "How much is shipping?"]
    for i in range(n):
        t = i * 0.01
        uid = 1_000_000 + rng.randrange(3000)
        name = f"观众{uid % 10000}"
        ts = START + int(t)
        r = rng.random()
        if r < 0.70:
            text = rng.choice(phrases) + ("" if rng.random() < 0.3 else f" {rng.randrange(1000)}")
            info = [[0, 1, 25, 16777215, ts * 1000, i, 0, "x", 0, 0, 0, "", 0, "{}", "{}", {}], text,
                    [uid, name, 0, 0, 0, 10000, 1, ""], [], [10, 0, 0, ">50000", 0], ["", ""], 0, 0, None,
                    {"ts": ts, "ct": "0"}, 0, 0, None, None, 0, 0]
            data = {"cmd": "DANMU_MSG", "info": info}
        elif r < 0.80:
            data = {"cmd": "SEND_GIFT", "data": {"uid": uid, "uname": name, "giftName": "小花花", "num": 1, "price": 100,
                                                 "coin_type": "gold", "total_coin": 100, "timestamp": ts,
                                                 "batch_combo_id": f"c{uid}", "medal_info": {}}}
        elif r < 0.81:
            data = {"cmd": "SUPER_CHAT_MESSAGE", "data": {"uid": uid, "price": 30, "message": "主播看看我", "start_time": ts,
                                                          "user_info": {"uname": name}}}
        elif r < 0.97:
            data = {"cmd": "INTERACT_WORD", "data": {"uid": uid, "uname": name, "msg_type": 1, "roomid": ROOM,
                                                     "timestamp": ts}}
        else:
            data = {"cmd": "ONLINE_RANK_COUNT", "data": {"count": 1000 + i}}
        yield {"t": t, "cmd": data["cmd"], "data": data}


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


async def run_flood(n: int = 10_000, source_kind: str = "replay", capacity: int = 200) -> dict:
    """Run the flood once; returns the figures (used by the benchmark and by tests)."""
    from danmaku.pipeline import ChatPipeline
    from danmaku.settings import ChatSettings

    settings = ChatSettings.model_validate({"admin": {"audit_file": ""}, "triage": {"capacity": capacity},
                                            "moderation": {"rate_limit_count": 1000}})
    # Warm the lazily loaded pieces (OpenCC tables, pinyin, jieba) outside the timed part.
    from danmaku.moderation import Moderator

    Moderator().check("热身 加wei信 傻 逼")
    peak_queue = 0
    rss_before = current_rss_mb()

    with tempfile.TemporaryDirectory() as tmp:
        if source_kind == "replay":
            from danmaku.sources.replay_source import ReplaySource

            path = Path(tmp) / "flood.jsonl"
            with path.open("w", encoding="utf-8") as fh:
                for record in iter_events(n):
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            source = ReplaySource(path, speed=0)
            server = None
        else:
            from danmaku.settings import BilibiliSourceSettings
            from danmaku.sources.bilibili_source import BilibiliSource
            from tests.bili_server import BiliLiveServer

            server = await BiliLiveServer(real_room=ROOM).start()
            source = BilibiliSource(BilibiliSourceSettings(room=ROOM, api_base=server.api_base, ws_url=server.ws_url,
                                                           buffer_size=5000), env={})
        pipeline = ChatPipeline.from_settings(settings, source)
        done = asyncio.Event()

        async def consume() -> None:
            nonlocal peak_queue
            async for event in source.events():
                await pipeline.process(event)
                peak_queue = max(peak_queue, len(pipeline.triage))
                if pipeline.counts["events"] >= n:
                    done.set()
                    return

        task = asyncio.create_task(consume())
        if server is not None:
            await server.wait_for_auth(1)
            while not source.stats.connected:
                await asyncio.sleep(0.01)
        start = time.perf_counter()
        if server is not None:
            batch: list[dict] = []
            for record in iter_events(n):  # 50 commands a frame, like a busy real room
                batch.append(record["data"])
                if len(batch) == 50:
                    await server.send_commands(batch)
                    batch = []
                    await asyncio.sleep(0)
            if batch:
                await server.send_commands(batch)
        try:
            await asyncio.wait_for(done.wait(), timeout=600)
        finally:
            elapsed = time.perf_counter() - start
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
            if server is not None:
                await server.stop()
    return {
        "events": pipeline.counts["events"],
        "seconds": round(elapsed, 3),
        "events_per_s": round(pipeline.counts["events"] / elapsed, 1),
        "peak_rss_mb": round(rss_mb(), 1),
        "rss_growth_mb": round(current_rss_mb() - rss_before, 1),
        "triage_capacity": capacity,
        "triage_peak": max(peak_queue, pipeline.triage.peak_size),
        "source_dropped_overflow": source.stats.skipped.get("overflow", 0),
        "pipeline": dict(pipeline.counts),
        "triage": pipeline.triage.snapshot(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chat_flood", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--source", choices=["replay", "bilibili"], default="replay")
    parser.add_argument("--capacity", type=int, default=200)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(run_flood(args.events, args.source, args.capacity))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    ok = result["triage_peak"] <= args.capacity and result["events"] == args.events
    print(f"{args.source}: {result['events']} events in {result['seconds']} s = {result['events_per_s']} events/s; "
          f"peak RSS {result['peak_rss_mb']} MiB; triage peak {result['triage_peak']}/{args.capacity}"
          + ("" if ok else "  <-- FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
