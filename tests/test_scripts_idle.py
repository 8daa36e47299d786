"""Idle filler: a simulated hour of a live room, plus the single rules (gap, queue, repeats, LLM lines)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scripts_library.idle_filler import IdleFiller
from scripts_library.knowledge_file import load_products
from scripts_library.scheduler import FireEvent
from scripts_library.script_file import load_library
from scripts_library.service import ScriptsService
from scripts_library.settings import ScriptsSettings
from scripts_library.speaking_values import SpeakingValues

FIXTURES = Path("/work/shared/fixtures")
SHOP = FIXTURES / "shop_zh"
T0 = datetime(2024, 11, 16, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class FakeLineWriter:
    """Stands in for the LLM: writes numbered lines about the product it is given, records the calls."""

    def __init__(self):
        self.calls: list[str | None] = []

    async def __call__(self, product):
        self.calls.append(product["id"] if product else None)
        if len(self.calls) % 7 == 0:
            return "重复的一句。"  # sometimes the model repeats itself
        name = product["name"] if product else "小禾"
        return f"聊聊{name}：第{len(self.calls)}个小知识。"


def _duration(text: str) -> float:
    return max(1.0, 0.22 * len(text))


async def _simulate_hour(settings: ScriptsSettings, writer: FakeLineWriter | None, seed: int = 7):
    rng = random.Random(seed)
    products = {pid: dict(p) for pid, p in load_products(SHOP / "knowledge.yaml").items()}
    state = {"current": None, "t": 0.0}
    svc = ScriptsService(
        settings, product_lookup=products.get, set_current_product=lambda pid: state.__setitem__("current", pid),
        get_current_product=lambda: state["current"], viewer_count=lambda: 41, idle_line_generator=writer,
        now=lambda: T0 + timedelta(seconds=state["t"]), rng=random.Random(seed), clock=lambda: state["t"])
    queue: list[tuple[str, float]] = []  # chat answers waiting (text, duration)
    on_air = None  # (kind, line-or-None, start, end)
    last_end: float | None = None
    spans: list[tuple[float, float, str]] = []
    idle_said: dict[object, list[float]] = {}
    script_order: list[tuple[str, int, int]] = []
    tick = 0.25
    step = 0
    while state["t"] < 3600:
        t = state["t"] = step * tick
        step += 1
        if step % 20 == 0:
            await svc.idle.refill()  # the LLM writes ahead, off the director's tick
        if t > 0 and t % 900 == 0:  # the schedule: a product script every 15 minutes
            svc.on_fire(FireEvent("script:p-watch-s3", "script", "p-watch-s3", None))
        if rng.random() < tick / 45:  # a chat answer about every 45 s, in bursts at times
            queue.append(("answer", rng.uniform(2, 9)))
        if on_air is not None and on_air[0] == "script" and queue and rng.random() < 0.3:
            svc.report(on_air[1], spoken=False)  # a Super Chat cuts the script line
            spans.append((on_air[2], t, "script"))
            last_end, on_air = t, None
        if on_air is not None and t >= on_air[3]:
            if on_air[0] == "script":
                svc.report(on_air[1], spoken=True)
            spans.append((on_air[2], on_air[3], on_air[0]))
            last_end, on_air = on_air[3], None
        if on_air is not None:
            assert svc.idle.due(t, queue_empty=not queue, last_speech_end=on_air[3]) is None
            continue
        if queue:
            # something is waiting: the idle filler must stay quiet
            assert svc.idle.due(t, queue_empty=False, last_speech_end=last_end) is None
            _text, duration = queue.pop(0)
            on_air = ("answer", None, t, t + duration)
            continue
        line = svc.next_line(t, queue_empty=True, last_speech_end=last_end)
        if line is None:
            continue
        if line.kind == "script":
            script_order.append((line.script_id, line.run_id, line.segment_index))
        else:
            idle_said.setdefault(line.key, []).append(t)
        on_air = (line.kind if line.kind == "script" else "idle", line, t, t + _duration(line.text))
    return svc, spans, idle_said, script_order, writer


@pytest.mark.parametrize("with_llm", [False, True])
async def test_simulated_hour(with_llm):
    settings = ScriptsSettings(dir=str(SHOP / "scripts"), schedule_enabled=False, idle_llm=with_llm)
    svc, spans, idle_said, script_order, writer = await _simulate_hour(settings, FakeLineWriter() if with_llm else None)
    window = settings.idle_no_repeat_min * 60
    # never the same line twice within the window
    for key, times in idle_said.items():
        for a, b in zip(times, times[1:]):
            assert b - a >= window, (key, a, b)
    # silence stays within the configured gap all hour (no dead air, and no flooding either)
    spans.sort()
    gaps = [b_start - a_end for (_, a_end, _), (b_start, _, _) in zip(spans, spans[1:])]
    assert max(gaps) <= settings.idle_gap_s, max(gaps)
    assert min(gaps) >= 0
    idle_count = sum(len(v) for v in idle_said.values())
    assert idle_count >= 30  # the filler did real work, not just the scripts
    # scripts (scheduled, and the product talk used when idle lines run out) stay in order per run
    runs: dict[int, list[int]] = {}
    for _sid, run_id, index in script_order:
        runs.setdefault(run_id, []).append(index)
    assert runs and all(indexes == sorted(set(indexes)) for indexes in runs.values())
    if with_llm:
        assert svc.idle.stats.fired_generated > 0 and writer.calls
        assert svc.idle.stats.llm_rejected > 0  # the repeated LLM line was refused
    else:
        assert svc.idle.stats.exhausted > 0  # 15 lines cannot fill 10 minutes: product talk took over


def _filler(**kw) -> IdleFiller:
    library = load_library(SHOP / "scripts")
    values = SpeakingValues(viewer_count=lambda: 41, now=lambda: T0)
    return IdleFiller(library.idle_pools(), values, rng=random.Random(3), **kw)


def test_gap_queue_and_no_flood():
    filler = _filler(gap_s=5, lead_s=1, no_repeat_s=600)
    assert filler.due(0.0, True, 0.0) is None
    assert filler.due(3.9, True, 0.0) is None
    assert filler.due(10.0, False, 0.0) is None  # something is queued
    line = filler.due(4.0, True, 0.0)
    assert line is not None and "{" not in line.text and line.kind == "idle"
    # the director has not played it yet: asking again must not produce a second line
    assert filler.due(4.5, True, 0.0) is None
    assert filler.due(8.0, True, 0.0) is None
    # while our line is on air (ends at 12) nothing comes; 4 s after it ends the next one does
    assert filler.due(11.0, True, 12.0) is None
    assert filler.due(15.9, True, 12.0) is None
    assert filler.due(16.0, True, 12.0) is not None


def test_never_repeats_within_the_window_and_reports_exhaustion():
    exhausted = []
    filler = _filler(gap_s=2, lead_s=0, no_repeat_s=600, on_exhausted=lambda: exhausted.append(1))
    seen = []
    t = 0.0
    for _ in range(40):
        t += 2.0
        line = filler.due(t, True, t - 2.0)
        if line is not None:
            seen.append(line.key)
    assert len(seen) == 15 == len(set(seen))  # all 15 zh idle lines, each once
    assert exhausted  # then the service is told, instead of repeating a line
    assert filler.due(t + 600, True, t + 598) is not None  # after the window, lines come back


def test_scheduled_request_skips_the_gap_but_not_the_queue():
    filler = _filler(gap_s=5, lead_s=1)
    filler.due(0.0, True, None)
    filler.request()
    assert filler.due(0.5, False, 0.0) is None
    assert filler.due(0.5, True, 0.0) is not None
    assert filler.due(1.0, True, 0.5) is None  # the request was used up


async def test_llm_lines_follow_the_current_product_and_failures_fall_back():
    current = {"id": "p-watch-s3"}
    products = load_products(SHOP / "knowledge.yaml")
    writer = FakeLineWriter()
    values = SpeakingValues(products.get, lambda: 41, now=lambda: T0, current_product_id=lambda: current["id"])
    filler = IdleFiller([], values, generator=writer, llm_buffer=2, rng=random.Random(1))
    await filler.refill()
    assert writer.calls == ["p-watch-s3", "p-watch-s3"]
    current["id"] = "p-lamp-l5"  # lines written about the old product are dropped
    assert filler.due(10.0, True, 0.0) is None
    await filler.refill()
    line = filler.due(20.0, True, 0.0)
    assert line.kind == "generated" and "护眼台灯" in line.text and line.product_id == "p-lamp-l5"

    async def broken(_product):
        raise TimeoutError("LLM down")

    failing = IdleFiller(load_library(SHOP / "scripts").idle_pools(), values, generator=broken, llm_share=1.0)
    assert await failing.refill() is False
    assert failing.stats.llm_errors == 1
    assert failing.due(10.0, True, 0.0).kind == "idle"  # idle scripts still work


def test_gap_must_be_positive():
    with pytest.raises(ValueError):
        _filler(gap_s=0, lead_s=0)


async def test_upcoming_offers_the_planned_line_and_the_next_llm_line():
    products = load_products(SHOP / "knowledge.yaml")
    values = SpeakingValues(products.get, lambda: 41, now=lambda: T0, current_product_id=lambda: "p-watch-s3")
    filler = IdleFiller(load_library(SHOP / "scripts").idle_pools(), values, generator=FakeLineWriter(),
                        llm_share=0.0, rng=random.Random(5))
    await filler.refill()
    upcoming = filler.upcoming(0.0)
    assert [line.kind for line in upcoming] == ["idle", "generated"]
    said = filler.due(10.0, True, 0.0)
    assert said.text == upcoming[0].text  # the planned line is the one said (so its audio was ready)


async def test_memory_of_said_lines_stays_bounded_over_a_long_run():
    class Numbered:
        def __init__(self):
            self.n = 0

        async def __call__(self, product):
            self.n += 1
            return f"第{self.n}句。"

    values = SpeakingValues(now=lambda: T0)
    filler = IdleFiller([], values, generator=Numbered(), llm_share=1.0, no_repeat_s=60, gap_s=2, lead_s=0)
    t = 0.0
    for _ in range(5000):  # ~3 hours of nothing but LLM lines
        await filler.refill()
        t += 2.0
        assert filler.due(t, True, t - 2.0) is not None
    assert filler.remembered <= 2001
