"""Triage queue: priority classes, staleness, coalescing, gift aggregation, the capacity bound."""
from __future__ import annotations

import asyncio

from danmaku.admin import Actor, parse_command
from danmaku.events import ChatEvent, EventKind
from danmaku.triage import TriageClass, TriageQueue, is_question


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ev(kind: EventKind, uid: int = 1, text: str = "", **kw) -> ChatEvent:
    return ChatEvent(kind=kind, platform="bilibili", room=1, uid=uid, uname=f"u{uid}", text=text, **kw)


def drain(q: TriageQueue) -> list:
    out = []
    while (item := q.get_nowait()) is not None:
        out.append(item)
    return out


def test_priority_order() -> None:
    clock = Clock()
    q = TriageQueue(capacity=50, gift_window_s=0, clock=clock)
    q.put_event(ev(EventKind.ENTER, 1))
    q.put_event(ev(EventKind.COMMENT, 2, "主播好"))
    q.put_event(ev(EventKind.COMMENT, 3, "手表多少钱？"))
    q.put_event(ev(EventKind.GIFT, 4, gift_name="小花花", gift_count=1, gift_value_cny=0.1))
    q.put_event(ev(EventKind.SUPER_CHAT, 5, "SC 提问", super_chat_price_cny=30))
    q.put_command(parse_command("/say 插播", Actor.console()))
    q.put_event(ev(EventKind.VIEWER_COUNT, viewer_count=41))  # state, not queued
    assert [i.cls for i in drain(q)] == [TriageClass.ADMIN, TriageClass.PAID, TriageClass.GIFT, TriageClass.QUESTION,
                                         TriageClass.COMMENT, TriageClass.PRESENCE]


def test_staleness_per_class() -> None:
    clock = Clock()
    q = TriageQueue(stale_s={TriageClass.COMMENT: 5, TriageClass.PAID: 100}, clock=clock)
    q.put_event(ev(EventKind.COMMENT, 1, "早上好"))
    q.put_event(ev(EventKind.SUPER_CHAT, 2, "支持", super_chat_price_cny=30))
    clock.now += 6
    items = drain(q)
    assert [i.cls for i in items] == [TriageClass.PAID]
    assert q.counts["stale"] == 1


def test_near_duplicate_questions_coalesce() -> None:
    clock = Clock()
    q = TriageQueue(coalesce_window_s=60, coalesce_similarity=0.6, clock=clock)
    q.put_event(ev(EventKind.COMMENT, 1, "手表能戴着游泳吗"))
    q.put_event(ev(EventKind.COMMENT, 2, "手表能戴着游泳吗？"))
    q.put_event(ev(EventKind.COMMENT, 3, "手表 能 戴着游泳 吗"))
    q.put_event(ev(EventKind.COMMENT, 4, "这个手表能戴着游泳吗"))
    q.put_event(ev(EventKind.COMMENT, 5, "耳机能戴着游泳吗"))  # another product: another question
    items = drain(q)
    assert len(items) == 2
    assert items[0].count == 4 and items[0].askers == ["u1", "u2", "u3", "u4"]
    assert items[1].text == "耳机能戴着游泳吗"
    clock.now += 61
    q.put_event(ev(EventKind.COMMENT, 6, "手表能戴着游泳吗"))
    assert len(q) == 1  # after the window it is a new question


def test_gift_aggregation_one_thanks_per_window() -> None:
    clock = Clock()
    q = TriageQueue(gift_window_s=5, clock=clock)
    for i in range(5):
        q.put_event(ev(EventKind.GIFT, 7, gift_name="小花花", gift_count=1, gift_value_cny=0.1, gift_combo_id="c1"))
        clock.now += 0.8
    q.put_event(ev(EventKind.GIFT, 7, gift_name="牛哇牛哇", gift_count=2, gift_value_cny=0.2))
    q.put_event(ev(EventKind.GIFT, 8, gift_name="小花花", gift_count=1, gift_value_cny=0.1))
    assert q.get_nowait() is None  # still inside the window
    clock.now += 1.5
    item = q.get_nowait()
    assert item.uid == 7 and item.count == 6 and item.gift_total_cny == 0.7
    assert item.gifts == {"小花花": 5, "牛哇牛哇": 2}
    assert q.get_nowait() is None
    clock.now += 5
    assert q.get_nowait().uid == 8
    q.put_event(ev(EventKind.GIFT, 7, gift_name="小花花", gift_count=1, gift_value_cny=0.1))
    assert len(q) == 1  # a new window after the thanks


def test_capacity_is_never_exceeded_and_low_classes_give_way() -> None:
    clock = Clock()
    q = TriageQueue(capacity=10, clock=clock)
    for i in range(100):
        q.put_event(ev(EventKind.ENTER, i))
        assert len(q) <= 10
    for i in range(5):
        q.put_event(ev(EventKind.SUPER_CHAT, 1000 + i, f"sc{i}", super_chat_price_cny=30))
    for i in range(20):
        q.put_event(ev(EventKind.COMMENT, 2000 + i, f"第{i}条评论"))
        assert len(q) <= 10
    assert q.peak_size == 10
    items = drain(q)
    assert [i.cls for i in items[:5]] == [TriageClass.PAID] * 5
    assert all(i.cls is TriageClass.COMMENT for i in items[5:])
    assert [i.text for i in items[5:]] == [f"第{i}条评论" for i in range(15, 20)]  # newest comments kept
    # Paid items are never pushed out by lower classes.
    q2 = TriageQueue(capacity=3, clock=clock)
    for i in range(3):
        q2.put_event(ev(EventKind.SUPER_CHAT, i, "sc", super_chat_price_cny=30))
    assert not q2.put_event(ev(EventKind.COMMENT, 9, "hello"))
    assert q2.counts["dropped_full"] == 1 and len(q2) == 3


async def test_async_get_waits_for_items_and_gift_windows() -> None:
    q = TriageQueue(gift_window_s=0.2)
    assert await q.get(timeout=0.05) is None
    q.put_event(ev(EventKind.GIFT, 1, gift_name="花", gift_count=1, gift_value_cny=0.1))
    item = await asyncio.wait_for(q.get(), timeout=2)
    assert item.cls is TriageClass.GIFT

    async def later() -> None:
        await asyncio.sleep(0.05)
        q.put_event(ev(EventKind.COMMENT, 2, "你好"))

    asyncio.get_running_loop().create_task(later())
    item = await asyncio.wait_for(q.get(), timeout=2)
    assert item.text == "你好"


def test_is_question() -> None:
    for t in ["包邮吗", "什么时候发货", "S3手表现在多少钱", "How long does it take?", "does the watch work with iPhone",
              "能开发票吗，公司报销", "北京一般几天到"]:
        assert is_question(t), t
    for t in ["主播好", "666", "下单了", "thanks, just ordered", "晚安"]:
        assert not is_question(t), t
