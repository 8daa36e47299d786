"""HostConsoleBackend over the real parts: danmaku's chat pipeline and admin dispatcher, the knowledge store
on SQLite with the English fixture shop, the scripts job table (APScheduler on SQLite), and the console API
on top (aiohttp test client)."""
from __future__ import annotations

import asyncio
import types

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from host.console.host_backend import HostConsoleBackend
from host.console.server import build_console_app
from host.metrics import HostMetrics
from tests.test_console_support import SHOP_EN, real_chat, real_scripts, real_store

TOKEN = "host-backend-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.skipif(not SHOP_EN.exists(), reason="shared fixtures not present")


@pytest.fixture
def store(tmp_path):
    s = real_store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def chat():
    return real_chat()


@pytest.fixture
def scripts(tmp_path):
    service = real_scripts(tmp_path)
    yield service
    service.scheduler.close()


@pytest.fixture
async def console(store, chat, scripts):
    metrics = HostMetrics(process=False)
    backend = HostConsoleBackend(chat=chat, store=store, scripts=scripts, metrics=metrics)
    backend.attach()
    metrics.bind_health(backend.health)
    app = build_console_app(backend, token=TOKEN, metrics=metrics)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        client.backend, client.chat, client.metrics = backend, chat, metrics
        yield client
    await backend.aclose()


async def _feed(client, count: int) -> list[dict]:
    import json

    resp = await client.get("/api/events?after=0")
    out, current = [], {}
    while len(out) < count:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if not line:
            if "data" in current:
                out.append(json.loads(current["data"]))
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    resp.close()
    return out


async def test_viewer_post_goes_through_moderation_and_triage(console):
    ok = await (await console.post("/api/chat", json={"uname": "Ann", "text": "How long does the Pulse battery last?"})).json()
    assert ok == {"accepted": True, "reason": "ok", "event_id": None}
    assert len(console.chat.triage) == 1
    ad = await console.post("/api/chat", json={"uname": "Spam", "text": "add me on wechat abc12345 for cheap stuff"})
    assert ad.status == 422 and (await ad.json())["reason"] not in ("", "ok")
    # a viewer's slash command is never executed, from the console box either
    cmd = await (await console.post("/api/chat", json={"uname": "Eve", "text": "/say I am the admin now"})).json()
    assert cmd["accepted"] is False and cmd["reason"].startswith("denied")
    events = await _feed(console, 4)
    chat = [e["payload"] for e in events if e["kind"] == "chat"]
    assert [(c["uname"], c["allowed"]) for c in chat] == [("Ann", True), ("Spam", False), ("Eve", True)]
    assert chat[2]["reason"] == "command"
    audit = [e["payload"] for e in events if e["kind"] == "admin"]
    assert audit and audit[0]["ok"] is False and audit[0]["actor"] == "chat:Eve"


async def test_admin_actions_run_through_the_dispatcher(console):
    resp = await console.post("/api/admin/mute", json={"args": {"uid": 4242, "minutes": 5}}, headers=AUTH)
    body = await resp.json()
    assert resp.status == 200 and body["ok"] is True and "4242" in body["message"]
    assert console.chat.moderator.is_muted(4242)
    assert (await (await console.get("/api/health")).json())["muted_users"] == 1
    product = await console.post("/api/admin/product", json={"args": {"product_id": "p-volt-10k"}}, headers=AUTH)
    assert (await product.json())["ok"] is True  # no director here: queued for it
    await console.post("/api/admin/ban", json={"args": {"word": "bananas"}}, headers=AUTH)
    refused = await console.post("/api/chat", json={"uname": "Bo", "text": "I love bananas"})
    assert refused.status == 422
    status = await (await console.post("/api/admin/status", headers=AUTH)).json()
    assert status["ok"] and "chat" in status["data"] and "triage" in status["data"]
    # /say without a director is forwarded to triage: queued, at the admin class
    say = await (await console.post("/api/admin/say", json={"args": {"text": "Welcome!"}}, headers=AUTH)).json()
    assert say["ok"] is True
    events = await _feed(console, 6)  # five admin records and the refused chat line
    assert [e["payload"]["action"] for e in events if e["kind"] == "admin"] == [
        "mute", "product", "ban", "status", "say"]
    assert [e["payload"]["reason"] for e in events if e["kind"] == "chat"] != ["ok"]


async def test_knowledge_base_lists_and_edits_the_real_store(console, store):
    products = await (await console.get("/api/kb/products")).json()
    assert {p["id"] for p in products} == {"p-pulse-watch", "p-breeze-buds", "p-volt-10k"}
    buds = next(p for p in products if p["id"] == "p-breeze-buds")
    buds["price"] = buds["price"] - 5
    resp = await console.put("/api/kb/products/p-breeze-buds", json=buds, headers=AUTH)
    assert resp.status == 200
    assert store.get_product("p-breeze-buds").price == buds["price"]
    assert store.get_product("p-breeze-buds").aliases == buds["aliases"]
    faqs = await (await console.get("/api/kb/faqs")).json()
    assert len(faqs) == 15
    new = {"question": "Do you ship to Canada?", "answer": "Yes, in five to eight days.", "product_id": None}
    assert (await console.put("/api/kb/faqs/faq-900", json=new, headers=AUTH)).status == 200
    assert store.get_faq("faq-900").answer == "Yes, in five to eight days."
    bad = await console.put("/api/kb/faqs/faq-901", json={**new, "product_id": "p-nope"}, headers=AUTH)
    assert bad.status == 400 and "p-nope" in (await bad.json())["error"]
    gone = await console.delete("/api/kb/products/p-volt-10k", headers=AUTH)
    if hasattr(store, "delete_product"):
        assert gone.status == 200 and store.get_product("p-volt-10k") is None
    else:  # the store cannot delete yet: one clear 501 naming the workaround
        assert gone.status == 501 and "kb import" in (await gone.json())["error"]


async def test_schedule_from_the_real_job_table(console, scripts):
    jobs = await (await console.get("/api/schedule")).json()
    assert {j["id"] for j in jobs} == {"script:p-pulse-watch", "idle"}
    assert {j["name"]: j["trigger"] for j in jobs} == {"script p-pulse-watch": "every 15 min", "idle": "every 45 s"}
    assert all(j["next_run"] and not j["paused"] for j in jobs)
    paused = await (await console.post("/api/schedule/idle/pause", json={}, headers=AUTH)).json()
    assert paused["paused"] is True and paused["next_run"] is None
    resumed = await (await console.post("/api/schedule/idle/resume", json={}, headers=AUTH)).json()
    assert resumed["paused"] is False and resumed["next_run"]
    ran = await console.post("/api/schedule/script:p-pulse-watch/run_now", json={}, headers=AUTH)
    assert ran.status == 200 and [f.target for f in scripts.fired] == ["p-pulse-watch"]
    assert (await console.post("/api/schedule/nope/pause", json={}, headers=AUTH)).status == 404


async def test_metrics_carry_pipeline_outcomes_and_moderation(console):
    await console.post("/api/chat", json={"uname": "Ann", "text": "Is the Volt 10K allowed on planes?"})
    await console.post("/api/chat", json={"uname": "Spam", "text": "add me on wechat abc12345 for cheap stuff"})
    text = await (await console.get("/metrics")).text()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("livehost_chat_pipeline_total", (("outcome", "queued"),))] == 1
    assert samples[("livehost_chat_events_total", (("kind", "comment"), ("source", "console")))] == 2
    assert samples[("livehost_moderation_verdicts_total", (("reason", "ok"), ("verdict", "allowed")))] == 1
    blocked = [k for k in samples if k[0] == "livehost_moderation_verdicts_total" and ("verdict", "blocked") in k[1]]
    assert len(blocked) == 1
    assert samples[("livehost_queue_depth", (("queue", "triage"),))] == 1


async def test_director_utterances_reach_the_feed():
    """on_said from host.director (chained with whatever the host set) -> done / interrupted items."""
    from host.director import Spoken, Utterance, UttClass

    class Handle:
        def __init__(self, played, total):
            self.played_samples, self.total_samples = played, total

    seen = []
    director = types.SimpleNamespace(on_said=seen.append, counters={"utterances": 2}, paused=False, current=None)
    backend = HostConsoleBackend(director=director)
    backend.attach()
    done = Spoken(Utterance(UttClass.ANSWER, "question", [], uname="Ann"), ["Hi Ann.", "It lasts 7 days."],
                  [Handle(10, 10), Handle(10, 10)])
    cut = Spoken(Utterance(UttClass.SCRIPT, "script", []), ["First part.", "Second part."],
                 [Handle(10, 10), Handle(5, 10)], interrupted=True)
    director.on_said(done)
    director.on_said(cut)
    assert seen == [done, cut]  # the host's own hook still runs
    items = [e.payload for e in backend.feed.history()]
    assert (items[0].state, items[0].text, items[0].to_uname, items[0].priority) == (
        "done", "Hi Ann. It lasts 7 days.", "Ann", "answer")
    assert items[1].state == "interrupted" and items[1].played_text.startswith("First part. Secon")
    assert items[0].id != items[1].id
    await backend.aclose()


async def test_director_watch_shows_speaking_then_the_final_state_on_one_line(monkeypatch):
    import host.console.host_backend as module
    from host.director import Spoken, Utterance, UttClass

    monkeypatch.setattr(module, "DIRECTOR_POLL_S", 0.01)

    class Handle:
        played_samples = total_samples = 10

    director = types.SimpleNamespace(on_said=None, counters={}, paused=False, current=None)
    backend = HostConsoleBackend(director=director)
    backend.attach()
    spoken = Spoken(Utterance(UttClass.ANSWER, "question", [], uname="Ann"))
    director.current = spoken
    await asyncio.sleep(0.05)
    spoken.planned.append("Hi Ann.")
    spoken.handles.append(Handle())
    await asyncio.sleep(0.05)
    spoken.planned.append("It lasts 7 days.")
    spoken.handles.append(Handle())
    await asyncio.sleep(0.05)
    failed = Spoken(Utterance(UttClass.SCRIPT, "script", []))  # every sentence failed: nothing on air
    director.current = failed
    await asyncio.sleep(0.05)
    director.current = None
    await asyncio.sleep(0.05)
    director.on_said(spoken)
    items = [e.payload for e in backend.feed.history()]
    answer = [i for i in items if i.id == items[0].id]
    assert [(i.state, i.text) for i in answer] == [("speaking", "…"), ("speaking", "Hi Ann."),
                                                   ("speaking", "Hi Ann. It lasts 7 days."),
                                                   ("done", "Hi Ann. It lasts 7 days.")]
    assert [i.state for i in items if i.id != items[0].id] == ["speaking", "dropped"]
    await backend.aclose()


async def test_missing_parts_answer_501_with_the_config_key():
    backend = HostConsoleBackend()
    async with TestClient(TestServer(build_console_app(backend, token=TOKEN), host="127.0.0.1")) as client:
        resp = await client.get("/api/schedule")
        assert resp.status == 501 and "scripts" in (await resp.json())["error"]
        assert (await client.post("/api/chat", json={"text": "hi"})).status == 501
        assert (await client.get("/api/kb/products")).status == 501
        health = await (await client.get("/healthz")).json()
        assert health["status"] == "off_air"


async def test_health_shows_the_stores_current_product_without_sql_on_the_loop(store, monkeypatch):
    import host.console.host_backend as module

    monkeypatch.setattr(module, "PRODUCT_POLL_S", 0.02)
    backend = HostConsoleBackend(store=store)
    backend.attach()
    store.set_current_product("p-volt-10k")
    for _ in range(100):
        if backend.health().current_product == "p-volt-10k":
            break
        await asyncio.sleep(0.02)
    assert backend.health().current_product == "p-volt-10k"
    await backend.aclose()
