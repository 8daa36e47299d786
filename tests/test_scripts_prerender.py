"""Pre-rendering: upcoming segments are synthesized ahead, once, in order, within a bounded cache."""
from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from scripts_library.knowledge_file import load_products
from scripts_library.prerender import PrerenderCache
from scripts_library.scheduler import FireEvent
from scripts_library.service import ScriptsService
from scripts_library.settings import ScriptsSettings

SHOP = Path("/work/shared/fixtures/shop_zh")


async def settled(cache: PrerenderCache, timeout: float = 10.0) -> None:
    """Wait until no background synthesis is running (no fixed sleeps: the machine may be slow)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await asyncio.sleep(0)
    while cache.in_progress and loop.time() < deadline:
        await asyncio.sleep(0.005)


class RecordingSynth:
    """Fake TTS: records every call; each synthesis takes ``delay`` seconds; can be told to fail."""

    def __init__(self, delay: float = 0.0, fail_on: set[str] | None = None):
        self.calls: list[str] = []
        self.delay = delay
        self.fail_on = fail_on or set()
        self.running = 0
        self.max_running = 0

    async def __call__(self, text: str) -> bytes:
        self.calls.append(text)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay(text) if callable(self.delay) else self.delay)
            if text in self.fail_on:
                raise RuntimeError("tts failed")
            return f"pcm:{text}".encode()
        finally:
            self.running -= 1


async def test_prefetched_lines_come_from_the_cache_without_a_second_synthesis():
    synth = RecordingSynth(delay=0.01)
    cache = PrerenderCache(synth, capacity=4)
    cache.prefetch(["one", "two", "three"])
    await settled(cache)
    assert synth.calls == ["one", "two", "three"]  # in order, one at a time
    assert synth.max_running == 1
    assert await cache.get("one") == b"pcm:one"
    assert await cache.get("two") == b"pcm:two"
    assert synth.calls == ["one", "two", "three"] and cache.stats.hits == 2
    assert await cache.get("four") == b"pcm:four"  # never prefetched: synthesized on demand
    assert cache.stats.misses == 1
    await cache.close()


async def test_get_waits_for_a_synthesis_in_progress_instead_of_starting_another():
    synth = RecordingSynth(delay=0.05)
    cache = PrerenderCache(synth, capacity=4)
    cache.prefetch(["slow"])
    assert await cache.get("slow") == b"pcm:slow"
    assert synth.calls == ["slow"] and cache.stats.waits == 1
    await cache.close()


async def test_cache_is_bounded_and_keeps_what_is_wanted_now():
    synth = RecordingSynth()
    cache = PrerenderCache(synth, capacity=3)
    cache.prefetch(["a", "b", "c"])
    await settled(cache)
    cache.prefetch(["d", "e"])  # a, b are least recently wanted: evicted first
    await settled(cache)
    assert len(cache) == 3 and "c" in cache and "d" in cache and "e" in cache and "a" not in cache
    assert cache.stats.evicted == 2
    cache.prefetch([f"x{i}" for i in range(10)])  # more than fits: only the soonest ones
    await settled(cache)
    assert len(cache) == 3 and "x0" in cache and "x2" in cache and "x3" not in cache
    await cache.close()
    assert len(cache) == 0


async def test_a_failed_prerender_is_retried_on_demand():
    synth = RecordingSynth(fail_on={"bad"})
    cache = PrerenderCache(synth, capacity=2)
    cache.prefetch(["bad"])
    await settled(cache)
    synth.fail_on.clear()
    assert await cache.get("bad") == b"pcm:bad"
    assert synth.calls == ["bad", "bad"] and cache.stats.failures == 1
    cache.discard("nothing")  # harmless
    await cache.close()


async def test_service_prerenders_upcoming_segments_and_a_changed_value_misses():
    products = {pid: dict(p) for pid, p in load_products(SHOP / "knowledge.yaml").items()}
    state = {"current": None}
    synth = RecordingSynth()
    svc = ScriptsService(ScriptsSettings(dir=str(SHOP / "scripts"), schedule_enabled=False, prerender_ahead=2),
                         product_lookup=products.get, set_current_product=lambda p: state.__setitem__("current", p),
                         get_current_product=lambda: state["current"], viewer_count=lambda: 41, synthesize=synth,
                         rng=random.Random(2))
    svc.runner.enqueue("p-watch-s3")
    spoken_audio = []
    for _ in range(8):
        line = svc.next_line(0.0, True, None)
        if line.segment_index == 7:
            products["p-watch-s3"]["stock"] = 5  # sold while segment 8 was being spoken
        await settled(svc.prerender)  # the background synthesis of the next two segments runs
        spoken_audio.append(await svc.audio_for(line))
        svc.report(line, spoken=True)
    last = svc.next_line(0.0, True, None)
    audio = await svc.audio_for(last)
    assert "库存还有5件" in last.text and audio == f"pcm:{last.text}".encode()
    assert svc.prerender.stats.hits >= 7  # every segment after the first was ready when its turn came
    # each text was synthesized once, except the stock line: previewed with 320, spoken with 5
    assert len(synth.calls) == len(set(synth.calls))
    assert any("库存还有320件" in c for c in synth.calls) and any("库存还有5件" in c for c in synth.calls)
    await svc.prerender.close()


def test_cache_needs_a_positive_size():
    with pytest.raises(ValueError):
        PrerenderCache(RecordingSynth(), capacity=0)


async def test_next_script_is_prerendered_while_the_current_line_plays():
    products = load_products(SHOP / "knowledge.yaml")
    synth = RecordingSynth()
    svc = ScriptsService(ScriptsSettings(dir=str(SHOP / "scripts"), schedule_enabled=False, prerender_ahead=1),
                         product_lookup=products.get, set_current_product=lambda p: None, viewer_count=lambda: 41,
                         synthesize=synth, rng=random.Random(2))
    svc.runner.enqueue("p-stand-f1")
    for _ in range(5):
        svc.report(svc.next_line(0.0, True, None), spoken=True)
    last = svc.next_line(0.0, True, None)  # F1's last segment goes on air
    assert last.is_last
    svc.on_fire(FireEvent("script:p-lamp-l5", "script", "p-lamp-l5", None))  # the schedule queues L5
    assert svc.next_line(1.0, True, None) is None  # F1's line is still out; meanwhile L5 is prepared
    await settled(svc.prerender)
    svc.report(last, spoken=True)
    first = svc.next_line(2.0, True, None)
    assert first.script_id == "p-lamp-l5" and first.segment_index == 0
    hits = svc.prerender.stats.hits
    await svc.audio_for(first)
    assert svc.prerender.stats.hits == hits + 1
    await svc.prerender.close()


async def test_on_demand_synthesis_does_not_wait_behind_background_work():
    synth = RecordingSynth(delay=lambda text: 5.0 if text.startswith("later") else 0.01)
    cache = PrerenderCache(synth, capacity=4)
    cache.prefetch(["later-1", "later-2", "later-3"])
    await asyncio.sleep(0)
    assert await cache.get("now") == b"pcm:now"
    # done while the background queue is still on its first item (it runs one at a time)
    assert synth.calls == ["later-1", "now"]
    await cache.close()
