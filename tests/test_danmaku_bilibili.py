"""The real bilibili-api-python client against a local server speaking bilibili's live protocol."""
from __future__ import annotations

import asyncio
import json
import struct
import time

import brotli
import pytest

from danmaku.events import EventKind
from danmaku.settings import BilibiliSourceSettings
from danmaku.sources.bilibili_source import BilibiliSource
from tests.bili_server import OP_MESSAGE, BiliLiveServer, danmu_msg, interact_word_v2, pack, pack_commands

ROOM = 22637261
pytestmark = pytest.mark.timeout(90)


class Collector:
    """Runs a source's ``events()`` in a task and keeps what arrives."""

    def __init__(self, source: BilibiliSource) -> None:
        self.source = source
        self.events = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.source.events():
            self.events.append(event)

    async def wait_for(self, n: int, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.events) < n:
            assert time.monotonic() < deadline, f"only {len(self.events)} of {n} events: {self.events}"
            await asyncio.sleep(0.02)
        return self.events

    async def close(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


@pytest.fixture
async def server():
    srv = await BiliLiveServer(real_room=ROOM).start()
    yield srv
    await srv.stop()


def make_source(srv: BiliLiveServer, **kw) -> BilibiliSource:
    settings = dict(room=ROOM, api_base=srv.api_base, ws_url=srv.ws_url, heartbeat_interval_s=0.5,
                    watchdog_s=3.0, connect_timeout_s=5.0, reconnect_initial_s=0.2, reconnect_max_s=2.0)
    settings.update(kw)
    return BilibiliSource(BilibiliSourceSettings(**settings), env={})


@pytest.fixture
async def connected(server):
    source = make_source(server)
    collector = Collector(source)
    await server.wait_for_auth(1)
    await _until(lambda: source.stats.connected)
    yield server, source, collector
    await collector.close()


async def _until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


NOW = 1731758400


def every_kind() -> list[dict]:
    medal_info = {"anchor_roomid": ROOM, "anchor_uname": "小禾", "guard_level": 0, "icon_id": 0, "is_lighted": 1,
                  "medal_color": 6067854, "medal_level": 12, "medal_name": "禾苗", "special": "", "target_id": 1}
    return [
        danmu_msg(10001, "房管小李", "欢迎新舰长", ts_ms=NOW * 1000 + 500, admin=1, medal=(21, "禾苗", "小禾", ROOM), guard=3),
        {"cmd": "SEND_GIFT", "data": {"uid": 7, "uname": "今天也要早睡", "giftId": 31036, "giftName": "小花花", "num": 5,
                                      "price": 100, "coin_type": "gold", "total_coin": 500, "timestamp": NOW + 1,
                                      "action": "投喂", "batch_combo_id": "batch:gift:combo_id:7:1", "medal_info": medal_info}},
        {"cmd": "SEND_GIFT", "data": {"uid": 8, "uname": "白嫖党", "giftId": 1, "giftName": "辣条", "num": 3, "price": 100,
                                      "coin_type": "silver", "total_coin": 300, "timestamp": NOW + 2, "action": "投喂",
                                      "batch_combo_id": "", "medal_info": {"medal_name": "", "medal_level": 0}}},
        {"cmd": "SUPER_CHAT_MESSAGE", "data": {"id": 1, "uid": 9, "price": 50, "message": "S3加A2一共多少钱？",
                                               "time": 120, "start_time": NOW + 3, "end_time": NOW + 123,
                                               "user_info": {"uname": "阿远爱夜跑"}}},
        {"cmd": "GUARD_BUY", "data": {"uid": 10, "username": "土豪小刘", "guard_level": 3, "num": 1, "price": 198000,
                                      "gift_id": 10003, "gift_name": "舰长", "start_time": NOW + 4, "end_time": NOW + 4}},
        {"cmd": "INTERACT_WORD", "data": {"uid": 11, "uname": "晚风", "msg_type": 1, "roomid": ROOM, "timestamp": NOW + 5}},
        {"cmd": "INTERACT_WORD", "data": {"uid": 11, "uname": "晚风", "msg_type": 2, "roomid": ROOM, "timestamp": NOW + 6}},
        {"cmd": "INTERACT_WORD", "data": {"uid": 11, "uname": "晚风", "msg_type": 3, "roomid": ROOM, "timestamp": NOW + 7}},
        interact_word_v2(12, "新来的", 1, ROOM, NOW + 8),
        interact_word_v2(12, "新来的", 2, ROOM, NOW + 9, medal=("禾苗", 3)),
        interact_word_v2(12, "新来的", 3, ROOM, NOW + 10),
        {"cmd": "LIKE_INFO_V3_CLICK", "data": {"uid": 13, "uname": "菜菜子", "like_text": "为主播点赞了"}},
        {"cmd": "WATCHED_CHANGE", "data": {"num": 18234, "text_small": "1.8万", "text_large": "1.8万人看过"}},
        {"cmd": "ONLINE_RANK_COUNT", "data": {"count": 41}},
    ]


async def test_every_event_kind_is_normalized(connected):
    server, source, collector = connected
    await server.send_commands(every_kind()[:7], protover=3)  # brotli-compressed frame
    await server.send_commands(every_kind()[7:], protover=0)  # raw JSON packets
    events = await collector.wait_for(14)
    kinds = [e.kind for e in events]
    assert kinds == [EventKind.COMMENT, EventKind.GIFT, EventKind.GIFT, EventKind.SUPER_CHAT, EventKind.GUARD,
                     EventKind.ENTER, EventKind.FOLLOW, EventKind.SHARE, EventKind.ENTER, EventKind.FOLLOW,
                     EventKind.SHARE, EventKind.LIKE, EventKind.VIEWER_COUNT, EventKind.VIEWER_COUNT]
    c = events[0]
    assert (c.uid, c.uname, c.text, c.is_room_admin, c.guard_level) == (10001, "房管小李", "欢迎新舰长", True, 3)
    assert c.timestamp == NOW + 0.5 and c.platform == "bilibili" and c.room == ROOM
    assert c.medal.name == "禾苗" and c.medal.level == 21 and c.medal.room == ROOM
    g = events[1]
    assert (g.uid, g.gift_name, g.gift_count, g.gift_value_cny, g.gift_combo_id) == (7, "小花花", 5, 0.5, "batch:gift:combo_id:7:1")
    assert g.medal.name == "禾苗" and g.timestamp == NOW + 1
    assert events[2].gift_value_cny == 0.0 and events[2].medal is None  # silver gifts are free
    sc = events[3]
    assert (sc.uid, sc.uname, sc.text, sc.super_chat_price_cny) == (9, "阿远爱夜跑", "S3加A2一共多少钱？", 50.0)
    gu = events[4]
    assert (gu.uname, gu.guard_level, gu.guard_months, gu.gift_value_cny, gu.gift_name) == ("土豪小刘", 3, 1, 198.0, "舰长")
    assert [e.uid for e in events[5:8]] == [11, 11, 11] and events[5].timestamp == NOW + 5
    v2 = events[8:11]
    assert [(e.uid, e.uname, e.timestamp) for e in v2] == [(12, "新来的", NOW + 8), (12, "新来的", NOW + 9), (12, "新来的", NOW + 10)]
    assert v2[1].medal.name == "禾苗" and v2[1].medal.level == 3
    assert events[11].uname == "菜菜子" and events[11].text == "为主播点赞了"
    assert (events[12].viewer_count, events[12].viewer_count_kind) == (18234, "watched")
    assert (events[13].viewer_count, events[13].viewer_count_kind) == (41, "online")
    assert all(e.raw for e in events)  # the payload is kept for the log
    assert source.stats.received == 14 and source.stats.normalized == 14
    # The library was pointed at the local server for every HTTP call it makes.
    assert {"/xlive/web-room/v1/index/getRoomPlayInfo", "/xlive/web-room/v1/index/getDanmuInfo"} <= set(server.http_calls)
    assert server.auths[0]["roomid"] == ROOM and server.auths[0]["protover"] == 3


async def test_malformed_payloads_are_counted_and_skipped(connected):
    server, source, collector = connected
    bad = [
        {"cmd": "DANMU_MSG", "info": [[0], "no sender"]},  # missing keys
        {"cmd": "DANMU_MSG", "info": "not a list"},  # wrong type
        danmu_msg("not-a-uid", "x", "wrong uid type"),
        danmu_msg(5, "x", "长" * 100_000),  # huge string
        {"cmd": "SEND_GIFT", "data": {"uid": 1, "uname": "x", "giftName": "花", "num": "many"}},
        {"cmd": "SUPER_CHAT_MESSAGE", "data": {"uid": 1, "price": 30, "message": 42, "user_info": {"uname": "x"}}},
        {"cmd": "INTERACT_WORD", "data": {"uid": 1, "uname": "x", "msg_type": 99}},
        {"cmd": "SOME_NEW_CMD", "data": {}},  # unknown cmd
        {"cmd": "INTERACT_WORD_V2", "data": {"dmscore": 1, "pb": "/////w=="}},  # a truncated protobuf
        {"cmd": "ONLINE_RANK_COUNT", "data": {"count": True}},
        danmu_msg(6, "ok", "still alive"),
    ]
    await server.send_commands(bad)
    events = await collector.wait_for(1)
    await asyncio.sleep(0.2)
    assert [e.text for e in collector.events] == ["still alive"]
    assert source.stats.reconnects == 0  # none of these broke the connection
    skipped = source.stats.skipped
    assert skipped["unknown_cmd"] == 1 and skipped["too_long"] == 1 and skipped["unknown_interact_type"] == 1
    assert sum(skipped.values()) == 10
    assert skipped["malformed:DANMU_MSG"] == 3 and skipped["malformed:INTERACT_WORD_V2"] == 1
    # Packets that would break the library's own parser (invalid UTF-8, bad JSON, a pb that is not base64,
    # a non-object body, a 3-byte heartbeat reply) are dropped one by one: the connection and the good
    # packets of the same frame survive.
    good = pack(json.dumps(danmu_msg(6, "ok", "same frame, good packet")).encode(), OP_MESSAGE, 0)
    frame = b"".join([
        pack(b'{"cmd":"DANMU_MSG","info":"\xff\xfe"}', OP_MESSAGE, 0),
        pack(b"{not json", OP_MESSAGE, 0),
        pack(b'"just a string with cmd"', OP_MESSAGE, 0),
        pack(json.dumps({"cmd": "INTERACT_WORD_V2", "data": {"dmscore": 1, "pb": "!!not base64"}}).encode(), OP_MESSAGE, 0),
        pack(json.dumps({"cmd": 5}).encode(), OP_MESSAGE, 0),
        pack(b"\x00\x01\x02", 3, 1),
        good,
    ])
    await server.send_raw(pack(brotli.compress(frame), OP_MESSAGE, 3))
    await collector.wait_for(2)
    assert events[-1].text == "same frame, good packet"
    for reason in ("malformed:invalid_utf8", "malformed:json", "malformed:not_an_object", "malformed:no_cmd",
                   "malformed:packet"):
        assert skipped[reason] == 1, reason
    assert skipped["malformed:INTERACT_WORD_V2"] == 2  # the truncated protobuf above and the bad base64 here
    await server.send_raw(pack(b"{not json", OP_MESSAGE, 0))  # a frame with nothing good in it is swallowed
    await server.send_commands([danmu_msg(6, "ok", "next frame")])
    await collector.wait_for(3)
    assert events[-1].text == "next frame"
    assert source.stats.reconnects == 0 and len(server.auths) == 1


async def test_zlib_bodies_are_read(connected):
    # bilibili-api-python 17 cannot read protover-2 (zlib) bodies; the client adapter inflates them.
    server, source, collector = connected
    await server.send_commands([danmu_msg(1, "u", "zlib one"), danmu_msg(2, "v", "zlib two")], protover=2)
    events = await collector.wait_for(2)
    assert [e.text for e in events] == ["zlib one", "zlib two"] and source.stats.reconnects == 0


async def _reconnect_cycle(server, source, collector, breaker, label: str, limit_s: float = 10.0) -> float:
    """Break the connection with ``breaker``; check reconnection time and exactly-once delivery after it."""
    auths_before = len(server.auths)
    reconnects_before = source.stats.reconnects
    t0 = time.monotonic()
    await breaker()
    await server.wait_for_auth(auths_before + 1, timeout=limit_s + 5)
    await _until(lambda: source.stats.connected, timeout=limit_s)
    elapsed = time.monotonic() - t0
    assert elapsed < limit_s, f"{label}: reconnected after {elapsed:.1f}s"
    assert source.stats.reconnects == reconnects_before + 1
    n = len(collector.events)
    texts = [f"{label}-{i}" for i in range(5)]
    await server.send_commands([danmu_msg(100 + i, "u", t) for i, t in enumerate(texts[:3])])
    await server.send_commands([danmu_msg(200 + i, "u", t) for i, t in enumerate(texts[3:])], protover=0)
    await collector.wait_for(n + 5)
    await asyncio.sleep(0.3)  # anything duplicated would have arrived by now
    assert [e.text for e in collector.events[n:]] == texts
    return elapsed


async def test_server_close_reconnects_every_time_exactly_once(connected):
    server, source, collector = connected
    for i in range(3):
        await _reconnect_cycle(server, source, collector, server.close_sockets, f"close{i}")
    assert server.connected == 1
    assert source.stats.snapshot()["outage_s"] > 0


async def test_garbage_bytes_reconnect(connected):
    server, source, collector = connected
    garbage = [
        lambda: server.send_raw(b"\x00\x01\x02"),  # shorter than a header
        lambda: server.send_raw(pack(b"this is not brotli", OP_MESSAGE, 3)),  # bad compressed body
        lambda: server.send_raw(struct.pack(">IHHII", 9999, 16, 3, 5, 1) + brotli.compress(b"\x00" * 40)),
        # A packet length of 0 would spin the library's unpack loop forever (the event loop with it).
        lambda: server.send_raw(pack(struct.pack(">IHHII", 0, 16, 1, 5, 1) + b"xx", OP_MESSAGE, 3)[:16]
                                + brotli.compress(struct.pack(">IHHII", 0, 16, 1, 5, 1) + b"xx")),
        lambda: server.send_raw(pack(b"not zlib", OP_MESSAGE, 2)),
    ]
    for i, breaker in enumerate(garbage):
        await _reconnect_cycle(server, source, collector, breaker, f"garbage{i}")
    assert source.stats.reconnects == 5
    assert source.stats.skipped["malformed:frame"] == 5


async def test_heartbeat_replies_stop_watchdog_reconnects(connected):
    server, source, collector = connected
    server.heartbeat_replies = False

    async def nothing() -> None:
        return None

    elapsed = await _reconnect_cycle(server, source, collector, nothing, "silent", limit_s=10.0)
    assert elapsed >= 2.5  # it was our watchdog (3 s), not a coincidence
    server.heartbeat_replies = True
    # Our own heartbeats keep a quiet but healthy connection alive past the watchdog interval.
    auths = len(server.auths)
    await asyncio.sleep(4.0)
    assert len(server.auths) == auths and source.stats.connected


async def test_library_timeout_event_reconnects(connected):
    # The library's own TIMEOUT (after ~60 s without replies) closes its socket and returns from connect()
    # without reconnecting; fire that same event now instead of waiting a minute.
    server, source, collector = connected

    async def library_timeout() -> None:
        source.connection.dispatch("TIMEOUT")

    await _reconnect_cycle(server, source, collector, library_timeout, "timeout")


async def test_server_down_backoff_then_recovers():
    srv = await BiliLiveServer(real_room=ROOM).start()
    port = srv.port
    source = make_source(srv, reconnect_max_s=0.5, connect_timeout_s=2.0)
    await srv.stop()  # nothing listens: every attempt fails, the source keeps trying (capped backoff)
    collector = Collector(source)
    back = BiliLiveServer(real_room=ROOM)
    try:
        await _until(lambda: source.stats.reconnects >= 3, timeout=15)
        assert not source.stats.connected
        await back.start(port)  # same port: the configured URLs are right again
        await back.wait_for_auth(1, timeout=10)
        await _until(lambda: source.stats.connected)
        await back.send_commands([danmu_msg(1, "u", "back")])
        await collector.wait_for(1)
        assert [e.text for e in collector.events] == ["back"]
        assert source.stats.snapshot()["outage_s"] > 1.0
    finally:
        await collector.close()
        await back.stop()


async def test_unanswered_auth_times_out_and_retries(server):
    server.auth_replies = False
    source = make_source(server, connect_timeout_s=1.0, reconnect_initial_s=0.1)
    collector = Collector(source)
    try:
        await server.wait_for_auth(2, timeout=10)  # gave up on the first attempt, tried again
        assert not source.stats.connected and source.stats.reconnects >= 1
        server.auth_replies = True
        await _until(lambda: source.stats.connected)
        await server.send_commands([danmu_msg(1, "u", "finally")])
        await collector.wait_for(1)
        assert [e.text for e in collector.events] == ["finally"]
        assert all(a["key"] == "local-test-token" and a["roomid"] == ROOM for a in server.auths)
    finally:
        await collector.close()


async def test_stopping_the_source_leaves_no_library_tasks(server):
    source = make_source(server)
    collector = Collector(source)
    await server.wait_for_auth(1)
    await _until(lambda: source.stats.connected)
    await collector.close()
    await asyncio.sleep(0.1)
    names = [t.get_coro().__qualname__ for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [n for n in names if "heartbeat" in n or "LiveDanmaku" in n], names
    await _until(lambda: server.connected == 0, timeout=5)


@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").environ.get("LIVEHOST_SLOW_TESTS"),
                    reason="waits for the library's real ~60 s heartbeat timeout; set LIVEHOST_SLOW_TESTS=1")
@pytest.mark.timeout(150)
async def test_real_library_timeout_reconnects_within_10s(server):
    # Our watchdog and heartbeats out of the way: the library's own TIMEOUT must end the connection,
    # and we must be back within 10 s of it.
    source = make_source(server, watchdog_s=500.0, heartbeat_interval_s=500.0)
    collector = Collector(source)
    timeouts: list[float] = []
    try:
        await server.wait_for_auth(1)
        await _until(lambda: source.stats.connected)
        source.connection.add_event_listener("TIMEOUT", lambda _i: timeouts.append(time.monotonic()))
        server.heartbeat_replies = False
        await server.wait_for_auth(2, timeout=120)
        assert timeouts, "the library's TIMEOUT did not fire"
        await _until(lambda: source.stats.connected)
        assert time.monotonic() - timeouts[0] < 10
        await server.send_commands([danmu_msg(1, "u", "after the library timeout")])
        await collector.wait_for(1)
        assert [e.text for e in collector.events] == ["after the library timeout"]
    finally:
        await collector.close()


async def test_relay_with_only_the_room_endpoints():
    # The anti-spider endpoints (nav, spi, ExClimbWuzhi, webHeartBeat) are answered locally when missing.
    from bilibili_api.utils import network

    network.refresh_buvid()  # the library caches buvids per process: make it ask again
    network.recalculate_wbi()
    srv = await BiliLiveServer(real_room=ROOM, minimal=True).start()
    source = make_source(srv)
    collector = Collector(source)
    try:
        await srv.wait_for_auth(1)
        await _until(lambda: source.stats.connected)
        await srv.send_commands([danmu_msg(1, "u", "via a minimal relay")])
        await collector.wait_for(1)
        assert [e.text for e in collector.events] == ["via a minimal relay"]
        assert srv.auths[0]["buvid"].endswith("infoc")
    finally:
        await collector.close()
        await srv.stop()
