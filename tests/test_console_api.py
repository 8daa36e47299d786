"""The console's HTTP side through aiohttp's test client: auth, JSON shapes, SSE feed, /healthz, /metrics."""
from __future__ import annotations

import asyncio
import json
import os
import stat
import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from host.console.access import is_loopback, resolve_token
from host.console.backend import ChatItem, NoticeItem
from host.console.feed import EventFeed
from host.console.server import build_console_app
from configs.console import ConsoleSettings
from host.metrics import HostMetrics
from tests.test_console_support import RecordingBackend

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def console():
    backend = RecordingBackend()
    metrics = HostMetrics(backend.health)
    app = build_console_app(backend, token=TOKEN, metrics=metrics)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        client.backend = backend
        client.metrics = metrics
        yield client


async def test_page_and_static_assets(console):
    page = await console.get("/")
    assert page.status == 200
    html = await page.text()
    assert "/static/vendor/mpegts.js" in html and "<video" in html
    js = await console.get("/static/vendor/mpegts.js")
    assert js.status == 200 and "mpegts" in (await js.text())[:2000]
    assert (await console.get("/static/console.js")).status == 200
    assert (await console.get("/static/console.css")).status == 200


async def test_session_reports_admin_state(console):
    body = await (await console.get("/api/session")).json()
    assert body == {"admin": False, "admin_enabled": True, "viewer_token_required": False,
                    "token_env": "LIVEHOST_CONSOLE_TOKEN", "max_message_chars": 200, "asr": False,
                    "preview": False}
    body = await (await console.get("/api/session", headers=AUTH)).json()
    assert body["admin"] is True


@pytest.mark.parametrize("action,args", [("say", {"text": "hi"}), ("skip", {}), ("pause", {}),
                                         ("mute", {"uid": 42, "minutes": 10}), ("reload", {})])
async def test_admin_requires_token(console, action, args):
    resp = await console.post(f"/api/admin/{action}", json={"args": args})
    assert resp.status == 401
    assert "Bearer" in resp.headers["WWW-Authenticate"]
    assert "token" in (await resp.json())["error"]
    bad = await console.post(f"/api/admin/{action}", json={"args": args}, headers={"Authorization": "Bearer nope"})
    assert bad.status == 401
    assert console.backend.admin_calls == []


async def test_admin_with_token_reaches_backend(console):
    resp = await console.post("/api/admin/say", json={"args": {"text": "欢迎新朋友"}}, headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == {"ok": True, "message": "say done", "data": {}}
    action, args, actor = console.backend.admin_calls[-1]
    assert (action, args) == ("say", {"text": "欢迎新朋友"}) and actor.startswith("console@")
    # a command without a body at all
    resp = await console.post("/api/admin/skip", headers=AUTH)
    assert resp.status == 200 and console.backend.admin_calls[-1][0] == "skip"
    # a refused command is 409 with the backend's message
    resp = await console.post("/api/admin/product", json={"args": {"product_id": "p-none"}}, headers=AUTH)
    assert resp.status == 409 and (await resp.json())["message"] == "no product p-none"
    status = await (await console.post("/api/admin/status", headers=AUTH)).json()
    assert status["data"] == {"frames": 250}


@pytest.mark.parametrize("action,body,needle", [
    ("say", {"args": {}}, "args.text is required"),
    ("say", {"args": {"text": 5}}, "wrong type"),
    ("mute", {"args": {"uid": 1, "hours": 2}}, "unknown args"),
    ("product", {"args": "p-watch-s3"}, "JSON object"),
    ("product", {"args": {"id": "p-watch-s3"}}, "unknown args"),
    ("mute", {"args": {"uid": "42"}}, "wrong type"),
    ("mute", {"args": {"uid": True}}, "wrong type"),
    ("dance", {"args": {}}, "unknown admin action"),
])
async def test_admin_bad_requests_are_one_clear_error(console, action, body, needle):
    resp = await console.post(f"/api/admin/{action}", json=body, headers=AUTH)
    assert resp.status in (400, 404)
    assert needle in (await resp.json())["error"]


async def test_login_cookie_grants_admin_and_logout_revokes(console):
    assert (await console.post("/api/login", json={"token": "wrong"})).status == 401
    resp = await console.post("/api/login", json={"token": TOKEN})
    assert resp.status == 200
    cookie = resp.cookies["livehost_console"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert (await console.post("/api/admin/pause", json={"args": {}})).status == 200
    assert console.backend.snapshot.paused
    await console.post("/api/logout", json={})
    assert (await console.post("/api/admin/resume", json={"args": {}})).status == 401


async def test_login_guessing_is_throttled(console):
    for _ in range(5):
        assert (await console.post("/api/login", json={"token": "guess"})).status == 401
    resp = await console.post("/api/login", json={"token": TOKEN})  # even the right one waits now
    assert resp.status == 429 and "wait" in (await resp.json())["error"]
    # and so does a right bearer token from the same address: guessing through the header is no way round
    assert (await console.post("/api/admin/skip", headers=AUTH)).status == 401
    assert console.backend.admin_calls == []


async def test_viewer_post_reaches_backend_without_token(console):
    resp = await console.post("/api/chat", json={"uname": "小明", "text": "S3 多少钱？"})
    assert resp.status == 200
    body = await resp.json()
    assert body["accepted"] is True and body["reason"] == "ok"
    assert console.backend.posted == [("小明", "S3 多少钱？")]
    blocked = await console.post("/api/chat", json={"uname": "ad", "text": "加V看 http://example.invalid"})
    assert blocked.status == 422 and (await blocked.json())["reason"] == "ad"


@pytest.mark.parametrize("body,needle", [
    ({"uname": "a"}, "text"), ({"uname": "a", "text": "   "}, "text"), ({"uname": 3, "text": "x"}, "uname"),
    ({"text": "x" * 201}, "max_message_chars"),
])
async def test_viewer_post_validation(console, body, needle):
    resp = await console.post("/api/chat", json=body)
    assert resp.status == 400 and needle in (await resp.json())["error"]
    assert console.backend.posted == []


async def test_non_json_and_cross_origin_posts_are_refused(console):
    form = await console.post("/api/chat", data={"uname": "x", "text": "hi"})
    assert form.status == 415
    cross = await console.post("/api/chat", json={"text": "hi"}, headers={"Origin": "http://evil.example"})
    assert cross.status == 403
    broken = await console.post("/api/chat", data=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status == 400 and "not JSON" in (await broken.json())["error"]
    rebound = await console.get("/api/session", headers={"Host": "attacker.example:8080"})
    assert rebound.status == 421
    assert console.backend.posted == []


async def test_healthz_ok_then_stalled_then_off_air(console):
    resp = await console.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["frames"] == 250 and body["sinks"]["rtmp-1"] == "publishing"
    console.backend.snapshot.last_frame_age_s = 5.0
    resp = await console.get("/healthz")
    assert resp.status == 503 and (await resp.json())["status"] == "stalled"
    console.backend.snapshot.on_air = False
    assert (await console.get("/healthz")).status == 503


async def test_healthz_without_engine_age_watches_the_frame_counter():
    backend = RecordingBackend()
    backend.snapshot.last_frame_age_s = None
    app = build_console_app(backend, token=None, settings=ConsoleSettings(stall_after_s=0.3))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get("/healthz")).status == 200
        await asyncio.sleep(0.45)
        assert (await client.get("/healthz")).status == 503  # counter did not move
        backend.snapshot.frames += 10
        assert (await client.get("/healthz")).status == 200


async def test_healthz_when_health_raises():
    backend = RecordingBackend()
    backend.health = lambda: 1 / 0
    app = build_console_app(backend, token=None)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/healthz")
        assert resp.status == 503 and (await resp.json())["status"] == "error"


async def test_metrics_parse_and_carry_the_figures(console):
    m = console.metrics
    m.observe_llm("openai", first_token_s=0.31, total_s=1.2)
    m.observe_llm("openai", error="APITimeoutError")
    m.observe_tts("piper", first_chunk_s=0.12)
    m.observe_tts("edge", error="403")
    m.count_moderation(True, "ok")
    m.count_moderation(False, "ad")
    m.count_moderation(False, "ad")
    m.count_chat_event("danmaku", "bilibili")
    m.observe_stage("queue", 0.01)
    m.set_queue_depth("triage", 5)
    resp = await console.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("livehost_frames_total", ())] == 250
    assert samples[("livehost_late_frames_total", ())] == 3
    assert samples[("livehost_health_up", ())] == 1
    assert samples[("livehost_sink_up", (("kind", "rtmp"), ("sink", "rtmp-1")))] == 1
    assert samples[("livehost_sink_up", (("kind", "file"), ("sink", "record")))] == 0
    assert samples[("livehost_sink_state", (("kind", "file"), ("sink", "record"), ("state", "reconnecting")))] == 1
    assert samples[("livehost_sink_reconnects_total", (("kind", "rtmp"), ("sink", "rtmp-1")))] == 2
    assert samples[("livehost_sink_queue_depth", (("kind", "rtmp"), ("sink", "rtmp-1")))] == 4
    assert samples[("livehost_queue_depth", (("queue", "render_ahead"),))] == 12
    assert samples[("livehost_event_queue_depth", (("queue", "triage"),))] == 5
    assert samples[("livehost_llm_first_token_seconds_count", (("provider", "openai"),))] == 1
    assert samples[("livehost_llm_first_token_seconds_sum", (("provider", "openai"),))] == pytest.approx(0.31)
    assert samples[("livehost_llm_errors_total", (("error", "APITimeoutError"), ("provider", "openai")))] == 1
    assert samples[("livehost_tts_errors_total", (("engine", "edge"), ("error", "403")))] == 1
    assert samples[("livehost_moderation_verdicts_total", (("reason", "ad"), ("verdict", "blocked")))] == 2
    assert samples[("livehost_chat_events_total", (("kind", "danmaku"), ("source", "bilibili")))] == 1
    assert ("process_resident_memory_bytes", ()) in samples
    # admin commands through the console are counted too
    await console.post("/api/admin/skip", headers=AUTH)
    text = await (await console.get("/metrics")).text()
    assert 'livehost_admin_commands_total{action="skip",ok="true"} 1.0' in text


def test_metrics_export_counters_the_host_already_keeps():
    import collections

    counts = collections.Counter({"events": 10, "queued": 6, "skipped:ad": 3, "command:ok": 1})
    metrics = HostMetrics(process=False)
    metrics.add_counters("chat_pipeline", lambda: counts, label="outcome", doc="chat pipeline outcomes")
    metrics.add_gauges("viewers", lambda: {"online": 42, "note": "n/a"}, label="kind")
    metrics.add_gauges("broken", lambda: 1 / 0)
    counts["queued"] += 1  # read at scrape time, not at registration
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    pipeline = {s.labels["outcome"]: s.value for s in families["livehost_chat_pipeline"].samples
                if s.name.endswith("_total")}
    assert pipeline == {"events": 10, "queued": 7, "skipped:ad": 3, "command:ok": 1}
    assert [(s.labels, s.value) for s in families["livehost_viewers"].samples] == [({"kind": "online"}, 42)]
    assert "livehost_broken" not in families
    assert families["livehost_health_up"].samples[0].value == 0  # no health function bound


async def test_metrics_survive_a_broken_snapshot():
    metrics = HostMetrics(lambda: 1 / 0, process=False)
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert families["livehost_health_up"].samples[0].value == 0
    assert "livehost_frames" not in families


async def test_kb_products_and_faqs(console):
    products = await (await console.get("/api/kb/products")).json()
    assert [p["id"] for p in products] == ["p-watch-s3", "p-earbuds-a2"]
    assert products[0]["specs"] == {"屏幕": "1.43寸 AMOLED"}
    new = {"name": "青禾台灯 L5", "price": 89, "list_price": 129, "stock": 40, "aliases": ["台灯"]}
    assert (await console.put("/api/kb/products/p-lamp-l5", json=new)).status == 401
    resp = await console.put("/api/kb/products/p-lamp-l5", json=new, headers=AUTH)
    assert resp.status == 200 and (await resp.json())["id"] == "p-lamp-l5"
    assert console.backend.products["p-lamp-l5"].aliases == ["台灯"]
    # validation by the console, by the backend (ValueError -> 400), and unknown fields
    for body, needle in [({"name": ""}, "name"), ({"name": "x", "price": "cheap"}, "price"),
                         ({"name": "x", "stock": -1}, "stock"), ({"name": "x", "colour": "red"}, "unknown fields"),
                         ({"name": "x", "price": 500, "list_price": 100}, "exceed"),
                         ({"id": "p-other", "name": "x"}, "differs")]:
        resp = await console.put("/api/kb/products/p-lamp-l5", json=body, headers=AUTH)
        assert resp.status == 400 and needle in (await resp.json())["error"], body
    assert (await console.delete("/api/kb/products/p-lamp-l5", headers=AUTH)).status == 200
    assert (await console.delete("/api/kb/products/p-lamp-l5", headers=AUTH)).status == 404

    faqs = await (await console.get("/api/kb/faqs")).json()
    assert faqs[1] == {"id": "faq-002", "question": "S3 防水吗？", "answer": "支持5ATM防水。", "product_id": "p-watch-s3"}
    resp = await console.put("/api/kb/faqs/faq-003", json={"question": "有发票吗？", "answer": "有。"}, headers=AUTH)
    assert resp.status == 200 and console.backend.faqs["faq-003"].answer == "有。"
    resp = await console.put("/api/kb/faqs/faq-004", json={"question": "x"}, headers=AUTH)
    assert resp.status == 400 and "answer" in (await resp.json())["error"]
    assert (await console.delete("/api/kb/faqs/faq-003")).status == 401


async def test_schedule_list_and_actions(console):
    entries = await (await console.get("/api/schedule")).json()
    assert {e["id"] for e in entries} == {"script-p-watch-s3", "idle"}
    assert set(entries[0]) == {"id", "name", "trigger", "next_run", "paused", "last_run"}
    assert (await console.post("/api/schedule/idle/pause", json={})).status == 401
    paused = await (await console.post("/api/schedule/idle/pause", json={}, headers=AUTH)).json()
    assert paused["paused"] is True and paused["next_run"] is None
    await console.post("/api/schedule/idle/run_now", json={}, headers=AUTH)
    assert console.backend.run_now == ["idle"]
    assert (await console.post("/api/schedule/nope/pause", json={}, headers=AUTH)).status == 404
    assert (await console.post("/api/schedule/idle/explode", json={}, headers=AUTH)).status == 404


async def test_backend_errors_map_to_clear_statuses():
    backend = RecordingBackend()

    async def no_scheduler():
        raise NotImplementedError("no scheduler: set scripts.dir")

    async def broken(*_):
        raise RuntimeError("database is locked")

    backend.list_schedule = no_scheduler
    backend.list_faqs = broken
    async with TestClient(TestServer(build_console_app(backend, token=TOKEN), host="127.0.0.1")) as client:
        resp = await client.get("/api/schedule")
        assert resp.status == 501 and (await resp.json())["error"] == "no scheduler: set scripts.dir"
        resp = await client.get("/api/kb/faqs")
        assert resp.status == 500 and "RuntimeError: database is locked" in (await resp.json())["error"]


async def test_health_endpoint_shape(console):
    body = await (await console.get("/api/health")).json()
    assert body["frames"] == 250 and body["clock"]["status"] == "ok"
    assert body["sinks"][2] == {"name": "record", "kind": "file", "state": "reconnecting", "reconnects": 1,
                                "queue_depth": 0, "dropped_packets": 0, "bytes_out": 0, "last_error": "disk full"}


async def _read_sse(resp, count: int) -> list[dict]:
    """Parse `count` SSE events (id/event/data lines) from a streaming response."""
    events, current = [], {}
    while len(events) < count:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if not line:
            if "data" in current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return events


async def test_event_feed_history_live_and_resume(console):
    feed = console.backend.feed
    feed.publish(NoticeItem("info", "on air"))
    resp = await console.get("/api/events")
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    first = await _read_sse(resp, 1)
    assert first[0]["event"] == "notice" and json.loads(first[0]["data"])["payload"]["message"] == "on air"
    await console.post("/api/chat", json={"uname": "阿强", "text": "有优惠吗？"})
    live = await _read_sse(resp, 2)
    chat, utter = (json.loads(e["data"]) for e in live)
    assert chat["kind"] == "chat" and chat["payload"]["uname"] == "阿强" and chat["payload"]["allowed"] is True
    assert utter["kind"] == "utterance" and utter["payload"]["state"] == "queued"
    resp.close()
    # a reconnecting browser sends Last-Event-ID and gets only what it missed
    feed.publish(ChatItem("comment", 7, "u7", "spam http://x", allowed=False, reason="ad"))
    again = await console.get("/api/events", headers={"Last-Event-ID": live[-1]["id"]})
    missed = await _read_sse(again, 1)
    assert json.loads(missed[0]["data"])["payload"]["reason"] == "ad"
    again.close()
    assert (await console.get("/api/events?after=x")).status == 400


async def test_event_feed_tells_a_returning_browser_what_it_missed():
    backend = RecordingBackend()
    backend.feed = EventFeed(history=10)
    for i in range(25):
        backend.feed.publish(NoticeItem("info", f"n{i}"))
    async with TestClient(TestServer(build_console_app(backend, token=None), host="127.0.0.1")) as client:
        resp = await client.get("/api/events", headers={"Last-Event-ID": "5"})
        first = await _read_sse(resp, 2)
        assert first[0]["event"] == "gap" and json.loads(first[0]["data"]) == {"missed": 10}  # seq 6..15 are gone
        assert "id" not in first[0]
        assert first[1]["id"] == "16"
        resp.close()


async def test_feed_drops_oldest_for_a_slow_subscriber():
    from host.console.feed import EventFeed

    feed = EventFeed(history=5, subscriber_queue=3)
    sub = feed.subscribe()
    first = asyncio.ensure_future(anext(sub))
    await asyncio.sleep(0)  # subscribed, waiting
    for i in range(6):
        feed.publish(NoticeItem("info", f"n{i}"))
    got = [(await first).payload.message]
    got += [(await anext(sub)).payload.message for _ in range(2)]
    assert got == ["n3", "n4", "n5"]  # the three newest; publish never waited for the reader
    assert feed.dropped == 3
    assert [e.seq for e in feed.history()] == [2, 3, 4, 5, 6]
    feed.close()
    with pytest.raises(StopAsyncIteration):
        await anext(sub)
    with pytest.raises(TypeError):
        feed.publish({"kind": "chat"})  # raw dicts never cross the boundary


async def test_microphone_route_needs_admin_and_reaches_the_asr_handler():
    """/api/asr exists only with an ASR handler, takes audio bodies (not JSON), and is admin-only."""
    received = []

    async def asr_handler(request):  # the shape of speech.asr_upload.asr_upload_route's handler
        received.append((request.content_type, len(await request.read())))
        return web.json_response({"text": "hello there", "event": None})

    backend = RecordingBackend()
    async with TestClient(TestServer(build_console_app(backend, token=TOKEN), host="127.0.0.1")) as client:
        assert (await (await client.get("/api/session")).json())["asr"] is False
        assert (await client.post("/api/asr", data=b"RIFF", headers={**AUTH, "Content-Type": "audio/wav"})).status == 404
    app = build_console_app(backend, token=TOKEN, asr_handler=asr_handler)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await (await client.get("/api/session")).json())["asr"] is True
        assert (await client.post("/api/asr", data=b"RIFF....", headers={"Content-Type": "audio/wav"})).status == 401
        resp = await client.post("/api/asr", data=b"\x1aE\xdf\xa3" + b"\0" * 100,
                                 headers={**AUTH, "Content-Type": "audio/webm"})
        assert resp.status == 200 and (await resp.json())["text"] == "hello there"
        assert received == [("audio/webm", 104)]


async def test_preview_proxy_streams_upstream_without_buffering():
    """The proxy hands each upstream chunk to the browser as it arrives (not at the end)."""
    release = asyncio.Event()

    async def flv(request):
        resp = web.StreamResponse(headers={"Content-Type": "video/x-flv"})
        await resp.prepare(request)
        await resp.write(b"FLV\x01\x05\x00\x00\x00\x09")
        await release.wait()
        await resp.write(b"tag-data")
        return resp

    upstream_app = web.Application()
    upstream_app.router.add_get("/live.flv", flv)
    async with TestServer(upstream_app, host="127.0.0.1") as upstream:
        backend = RecordingBackend(preview_url=str(upstream.make_url("/live.flv")))
        async with TestClient(TestServer(build_console_app(backend, token=None), host="127.0.0.1")) as client:
            resp = await client.get("/preview.flv")
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/x-flv"
            head = await asyncio.wait_for(resp.content.readexactly(9), 5)  # arrives before upstream finishes
            assert head.startswith(b"FLV")
            release.set()
            assert await asyncio.wait_for(resp.content.read(), 5) == b"tag-data"


async def test_preview_relay_ends_when_the_feed_goes_silent(monkeypatch):
    import host.console.server as server_module

    monkeypatch.setattr(server_module, "PREVIEW_SILENCE_S", 0.5)
    hang = asyncio.Event()

    async def wedged(request):
        resp = web.StreamResponse(headers={"Content-Type": "video/x-flv"})
        await resp.prepare(request)
        await resp.write(b"FLV\x01\x05\x00\x00\x00\x09")
        await hang.wait()  # alive, silent
        return resp

    upstream_app = web.Application()
    upstream_app.router.add_get("/live.flv", wedged)
    async with TestServer(upstream_app, host="127.0.0.1") as upstream:
        backend = RecordingBackend(preview_url=str(upstream.make_url("/live.flv")))
        async with TestClient(TestServer(build_console_app(backend, token=None), host="127.0.0.1")) as client:
            resp = await client.get("/preview.flv")
            started = time.monotonic()
            body = await asyncio.wait_for(resp.content.read(), 5)  # the relay ends; the player reconnects
            assert body.startswith(b"FLV") and time.monotonic() - started < 4
            assert not client.app[server_module.STREAMS_KEY]  # the handler is gone
        hang.set()


async def test_preview_errors_are_clear():
    backend = RecordingBackend(preview_url=None)
    async with TestClient(TestServer(build_console_app(backend, token=None), host="127.0.0.1")) as client:
        resp = await client.get("/preview.flv")
        assert resp.status == 404 and "stream.preview.enabled" in (await resp.json())["error"]
    backend = RecordingBackend(preview_url="http://127.0.0.1:9/live.flv")  # discard port: nothing listens
    async with TestClient(TestServer(build_console_app(backend, token=None), host="127.0.0.1")) as client:
        resp = await client.get("/preview.flv")
        assert resp.status == 502 and "unreachable" in (await resp.json())["error"]


async def test_off_loopback_everything_but_health_needs_the_token():
    backend = RecordingBackend()
    settings = ConsoleSettings(host="0.0.0.0")
    with pytest.raises(ValueError, match="LIVEHOST_CONSOLE_TOKEN"):
        build_console_app(backend, token=None, settings=settings)
    app = build_console_app(backend, token=TOKEN, settings=settings, metrics=HostMetrics(backend.health))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for path in ("/api/health", "/api/events", "/api/kb/products", "/api/schedule", "/preview.flv"):
            assert (await client.get(path)).status == 401, path
        assert (await client.post("/api/chat", json={"text": "hi"})).status == 401
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/metrics")).status == 200
        assert (await client.get("/api/kb/products", headers=AUTH)).status == 200
        # any Host name is fine off loopback (a reverse proxy may sit in front)
        assert (await client.get("/healthz", headers={"Host": "console.example:443"})).status == 200


async def test_admin_disabled_without_token(console):
    app = build_console_app(RecordingBackend(), token=None)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.post("/api/admin/skip", headers=AUTH)
        assert resp.status == 403 and "LIVEHOST_CONSOLE_TOKEN" in (await resp.json())["error"]
        assert (await client.post("/api/login", json={"token": ""})).status == 403


def test_resolve_token_env_then_generated_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSOLE_TEST_TOKEN", "  from-env ")
    assert resolve_token("CONSOLE_TEST_TOKEN", str(tmp_path / "t")) == ("from-env", "env CONSOLE_TEST_TOKEN")
    monkeypatch.delenv("CONSOLE_TEST_TOKEN")
    path = tmp_path / "var" / "console_token"
    token, origin = resolve_token("CONSOLE_TEST_TOKEN", str(path))
    assert len(token) >= 24 and "generated" in origin
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert resolve_token("CONSOLE_TEST_TOKEN", str(path))[0] == token  # stable across restarts
    assert resolve_token("CONSOLE_TEST_TOKEN", None) == (None, "admin disabled: set env CONSOLE_TEST_TOKEN")


@pytest.mark.parametrize("host,expected", [("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("[::1]", True),
                                           ("localhost", True), ("0.0.0.0", False), ("192.168.1.2", False),
                                           ("console.example", False)])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_snapshot_from_the_real_engine_health_object():
    """host.console.backend.snapshot_from_engine reads streamer.health.StreamHealth.snapshot() as it is."""
    import time as _time

    from host.console.backend import snapshot_from_engine
    from streamer.health import SinkHealth, StreamHealth

    health = StreamHealth()
    health.started_at = _time.monotonic() - 12
    health.last_frame_at = _time.monotonic()
    health.media_time = 11.96
    health.counters.frames_sent, health.counters.late_frames, health.counters.held_frames = 299, 4, 2
    health.counters.segments_interrupted = 1
    health.extra.update({"on_air": True, "speaking": "hello", "queued_utterances": lambda: 2, "encode_queue": 1,
                         "fps": 25})
    rtmp = health.add_sink(SinkHealth("rtmp1", "rtmp", target="rtmp://127.0.0.1/live/***"))
    rtmp.set_state("reconnecting")
    rtmp.reconnects, rtmp.bytes = 3, 1000
    rtmp.error("Connection refused")
    health.add_sink(SinkHealth("preview", "http-flv", state="publishing"))

    snap = snapshot_from_engine(health.snapshot(), queues={"triage": 5}, paused=True, current_product="p-x")
    assert (snap.on_air, snap.frames, snap.late_frames, snap.held_frames) == (True, 299, 4, 2)
    assert snap.media_time_s == pytest.approx(11.96) and snap.uptime_s == pytest.approx(12, abs=0.5)
    assert snap.last_frame_age_s is not None and snap.last_frame_age_s < 1
    assert snap.queues == {"utterances": 2, "encode": 1, "triage": 5}
    assert snap.speaking == "hello" and snap.paused and snap.current_product == "p-x" and snap.fps == 25
    assert [(s.name, s.kind, s.state, s.reconnects, s.bytes_out, s.last_error) for s in snap.sinks] == [
        ("rtmp1", "rtmp", "reconnecting", 3, 1000, "Connection refused"), ("preview", "http-flv", "publishing", 0, 0, None)]
    assert snap.extra["segments_interrupted"] == 1 and "sinks" not in snap.extra
    text = HostMetrics(lambda: snap, process=False).exposition().decode()
    assert 'livehost_sink_state{kind="rtmp",sink="rtmp1",state="reconnecting"} 1.0' in text
    assert "livehost_stream_segments_interrupted 1.0" in text


async def test_server_stop_ends_open_feeds_and_preview_relays():
    """Stopping the console with a browser attached to the feed and the preview returns promptly."""
    from host.console.server import ConsoleServer

    async def endless(request):
        resp = web.StreamResponse(headers={"Content-Type": "video/x-flv"})
        await resp.prepare(request)
        while True:
            await resp.write(b"FLV-bytes")
            await asyncio.sleep(0.05)

    upstream_app = web.Application()
    upstream_app.router.add_get("/live.flv", endless)
    async with TestServer(upstream_app, host="127.0.0.1") as upstream:
        backend = RecordingBackend(preview_url=str(upstream.make_url("/live.flv")))
        server = ConsoleServer(build_console_app(backend, token=None), "127.0.0.1", 0)
        url = await server.start()
        assert server.port > 0
        async with aiohttp.ClientSession() as session:
            feed = await session.get(url + "/api/events")
            preview = await session.get(url + "/preview.flv")
            assert (await asyncio.wait_for(preview.content.readexactly(9), 5)) == b"FLV-bytes"
            assert backend.feed.subscribers == 1
            started = time.monotonic()
            await asyncio.wait_for(server.stop(), 10)
            assert time.monotonic() - started < 5
            assert backend.feed.subscribers == 0
            feed.close()
            preview.close()


async def test_port_in_use_is_one_clear_error():
    from host.console.server import ConsoleServer

    first = ConsoleServer(build_console_app(RecordingBackend(), token=None), "127.0.0.1", 0)
    await first.start()
    try:
        second = ConsoleServer(build_console_app(RecordingBackend(), token=None), "127.0.0.1", first.port)
        with pytest.raises(OSError, match="console.host/console.port"):
            await second.start()
    finally:
        await first.stop()


def test_chat_item_from_the_real_danmaku_event_and_verdict():
    from danmaku.events import ChatEvent, EventKind
    from danmaku.moderation.moderator import Moderator

    from host.console.backend import chat_item_from_event

    moderator = Moderator()
    comment = ChatEvent(EventKind.COMMENT, "bilibili", 22637261, uid=1001, uname="小明", text="加微信 abc12345 领券")
    item = chat_item_from_event(comment, moderator.check(comment.text, comment.uid))
    assert (item.kind, item.uid, item.uname, item.source) == ("comment", 1001, "小明", "bilibili")
    assert item.allowed is False and item.reason not in ("", "ok")
    gift = ChatEvent(EventKind.GIFT, "bilibili", 22637261, uid=1002, uname="大户", gift_name="小心心", gift_count=3,
                     gift_value_cny=1.5)
    item = chat_item_from_event(gift)
    assert (item.kind, item.text, item.amount, item.allowed, item.reason) == ("gift", "小心心 x3", 1.5, True, "")


def test_settings_reject_unknown_keys_and_bad_values():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="bind"):
        ConsoleSettings(bind="0.0.0.0")
    with pytest.raises(ValidationError, match="port"):
        ConsoleSettings(port=70000)
    with pytest.raises(ValidationError, match="stall_after_s"):
        ConsoleSettings(stall_after_s=0)
    defaults = ConsoleSettings()
    assert (defaults.host, defaults.port, defaults.token_env) == ("127.0.0.1", 8080, "LIVEHOST_CONSOLE_TOKEN")


async def test_configured_preview_url_overrides_the_backend():
    async def flv(request):
        return web.Response(body=b"FLV-from-config", content_type="video/x-flv")

    upstream_app = web.Application()
    upstream_app.router.add_get("/other.flv", flv)
    async with TestServer(upstream_app, host="127.0.0.1") as upstream:
        settings = ConsoleSettings(preview_url=str(upstream.make_url("/other.flv")))
        backend = RecordingBackend(preview_url="http://127.0.0.1:9/live.flv")
        async with TestClient(TestServer(build_console_app(backend, token=None, settings=settings),
                                         host="127.0.0.1")) as client:
            resp = await client.get("/preview.flv")
            assert resp.status == 200 and await resp.read() == b"FLV-from-config"
            assert (await client.head("/healthz")).status == 200


async def test_feed_publish_from_another_thread_lands_on_the_loop():
    import threading

    from host.console.feed import EventFeed

    feed = EventFeed()
    sub = feed.subscribe()
    first = asyncio.ensure_future(anext(sub))
    await asyncio.sleep(0)
    results = []
    workers = [threading.Thread(target=lambda i=i: results.append(feed.publish(NoticeItem("info", f"t{i}"))))
               for i in range(20)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert results == [None] * 20  # handed over, not published on the worker thread
    got = [(await asyncio.wait_for(first, 5)).payload.message]
    got += [(await asyncio.wait_for(anext(sub), 5)).payload.message for _ in range(19)]
    assert sorted(got) == sorted(f"t{i}" for i in range(20))
    assert [e.seq for e in feed.history()] == list(range(1, 21))
    feed.close()
