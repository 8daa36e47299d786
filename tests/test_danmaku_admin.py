"""Admin commands: parsing, authorization, audit, and the bearer-token HTTP API."""
from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web

from danmaku.admin import (Actor, AdminDispatcher, AdminPolicy, AuditLog, CommandError, CommandName, JsonlAuditLog,
                           parse_command)
from danmaku.events import ChatEvent, EventKind
from danmaku.moderation import Moderator

ADMIN = Actor(source="chat", uid=10001, uname="房管小李", platform="bilibili", is_room_admin=True)


def test_parse_every_command() -> None:
    cases = {
        "/say 大家好，这里是管理员插播": (CommandName.SAY, {"text": "大家好，这里是管理员插播"}),
        "/skip": (CommandName.SKIP, {}),
        "/pause": (CommandName.PAUSE, {}),
        " /resume ": (CommandName.RESUME, {}),
        "/mute 3456789": (CommandName.MUTE, {"uid": 3456789}),
        "/mute 3456789 15": (CommandName.MUTE, {"uid": 3456789, "minutes": 15.0}),
        "/unmute 3456789": (CommandName.UNMUTE, {"uid": 3456789}),
        "/ban 山寨货": (CommandName.BAN, {"word": "山寨货"}),
        "/unban 山寨货": (CommandName.UNBAN, {"word": "山寨货"}),
        "/product p-earbuds-a2": (CommandName.PRODUCT, {"product_id": "p-earbuds-a2"}),
        "/status": (CommandName.STATUS, {}),
        "/RELOAD": (CommandName.RELOAD, {}),
        "／pause": (CommandName.PAUSE, {}),  # full-width slash from a Chinese keyboard
        "\u200b/skip": (CommandName.SKIP, {}),
    }
    for text, (name, args) in cases.items():
        cmd = parse_command(text, ADMIN)
        assert cmd is not None and cmd.name is name and cmd.args() == args, text
    assert parse_command("你好", ADMIN) is None
    for bad in ["/say", "/mute abc", "/mute 1 2 3", "/mute 1 -5", "/unmute", "/product", "/product ../../etc",
                "/pause now", "/dance", "/ban " + "x" * 51]:
        with pytest.raises(CommandError):
            parse_command(bad, ADMIN)


def make_dispatcher(tmp_path=None, **policy) -> tuple[AdminDispatcher, Moderator]:
    moderator = Moderator()
    audit = JsonlAuditLog(tmp_path / "audit.jsonl") if tmp_path else AuditLog()
    policy.setdefault("uids", [10001])
    return AdminDispatcher(AdminPolicy(**policy), audit, moderator), moderator


def comment(uid: int, text: str, admin: bool = False, platform: str = "bilibili") -> ChatEvent:
    return ChatEvent(kind=EventKind.COMMENT, platform=platform, room=1, uid=uid, uname=f"u{uid}", text=text,
                     is_room_admin=admin)


async def test_same_text_from_non_admin_never_runs(tmp_path) -> None:
    d, moderator = make_dispatcher(tmp_path)
    said = []
    d.register("say", lambda cmd: said.append(cmd.text))
    r = await d.handle_chat(comment(555, "/say 我是管理员"))
    assert (r.authorized, r.result) == (False, "denied") and said == []
    r = await d.handle_chat(comment(555, "/mute 10001"))
    assert r.result == "denied" and not moderator.is_muted(10001)
    r = await d.handle_chat(comment(555, "/nonsense"))
    assert r.result == "denied"  # a non-admin learns nothing about the syntax
    r = await d.handle_chat(comment(10001, "/say 大家好"))
    assert (r.authorized, r.result) == (True, "ok") and said == ["大家好"]
    r = await d.handle_chat(comment(10001, "/mute 555 5"))
    assert r.result == "ok" and moderator.is_muted(555)
    r = await d.handle_chat(comment(10001, "/mute oops"))
    assert (r.authorized, r.result) == (True, "invalid") and "usage" in r.message
    assert await d.handle_chat(comment(10001, "just chatting")) is None
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(x["actor_uid"], x["result"]) for x in records] == [(555, "denied"), (555, "denied"), (555, "denied"),
                                                                (10001, "ok"), (10001, "ok"), (10001, "invalid")]
    assert all({"ts", "actor_source", "command", "raw", "authorized", "result"} <= set(x) for x in records)


async def test_room_admin_flag_policy() -> None:
    d, moderator = make_dispatcher(uids=[])
    assert (await d.handle_chat(comment(7, "/mute 99", admin=True))).result == "ok"
    assert (await d.handle_chat(comment(7, "/say hi", admin=True))).result == "denied"
    # The flag only counts where the platform sets it: a console viewer cannot claim it.
    assert (await d.handle_chat(comment(7, "/mute 98", admin=True, platform="console"))).result == "denied"
    d2, _ = make_dispatcher(uids=[], trust_room_admins=False)
    assert (await d2.handle_chat(comment(7, "/mute 99", admin=True))).result == "denied"


async def test_moderation_commands_and_forwarding() -> None:
    d, moderator = make_dispatcher()
    forwarded = []
    d.forward = forwarded.append
    console = Actor.console()
    assert (await d.execute_text("/ban 山寨货", console)).result == "ok"
    assert not moderator.check("山 寨 货").allowed
    assert (await d.execute_text("/unban 山寨货", console)).result == "ok"
    assert moderator.check("山寨货").allowed
    assert (await d.execute_text("/reload", console)).result == "ok"
    assert (await d.execute_text("/pause", console)).result == "queued" and forwarded[0].name is CommandName.PAUSE
    d.status_providers["source"] = lambda: {"connected": True}
    r = await d.execute_text("/status", console)
    assert r.result == "ok" and "connected" in r.message
    d.register("skip", lambda cmd: (_ for _ in ()).throw(RuntimeError("director busy")))
    r = await d.execute_text("/skip", console)
    assert r.result == "failed" and "director busy" in r.message
    d.forward = None
    assert (await d.execute_text("/resume", console)).result == "unavailable"


@pytest.fixture
async def admin_api():
    d, moderator = make_dispatcher()
    d.forward = lambda cmd: None
    app = web.Application()
    from danmaku.admin.http_api import admin_routes

    app.add_routes(admin_routes(d, "TEST_ADMIN_TOKEN", env={"TEST_ADMIN_TOKEN": "s3cret"}))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
        yield session, d, moderator
    await runner.cleanup()


async def test_http_api_requires_bearer_token(admin_api) -> None:
    session, d, moderator = admin_api
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        async with session.post("/admin/command", json={"command": "/mute 5"}, headers=headers) as resp:
            assert resp.status == 401
    assert not moderator.is_muted(5)
    auth = {"Authorization": "Bearer s3cret", "X-Admin-Name": "ops"}
    async with session.post("/admin/command", json={"command": "/mute 5 10"}, headers=auth) as resp:
        body = await resp.json()
        assert resp.status == 200 and body["result"] == "ok" and body["args"] == {"uid": 5, "minutes": 10.0}
    assert moderator.is_muted(5)
    async with session.post("/admin/command", json={"command": "/say 插播"}, headers=auth) as resp:
        assert resp.status == 200 and (await resp.json())["result"] == "queued"
    async with session.post("/admin/command", json={"command": "/dance"}, headers=auth) as resp:
        assert resp.status == 400 and "unknown command" in (await resp.json())["message"]
    async with session.post("/admin/command", data=b"\xff not json", headers=auth) as resp:
        assert resp.status == 400
    async with session.get("/admin/status", headers=auth) as resp:
        assert resp.status == 200 and "muted" in (await resp.json())["status"]
    async with session.get("/admin/audit?n=2", headers=auth) as resp:
        records = (await resp.json())["records"]
        assert [r["raw"] for r in records] == ["/say 插播", "/dance"]
        assert records[0]["actor_source"] == "http" and records[0]["actor_name"] == "ops"
    async with session.get("/admin/audit", headers={}) as resp:
        assert resp.status == 401


async def test_http_api_disabled_without_token_env() -> None:
    from danmaku.admin.http_api import admin_routes

    d, _ = make_dispatcher()
    app = web.Application()
    app.add_routes(admin_routes(d, "UNSET_TOKEN_VAR", env={}))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/admin/command", json={"command": "/pause"},
                                    headers={"Authorization": "Bearer "}) as resp:
                assert resp.status == 503 and "UNSET_TOKEN_VAR" in (await resp.json())["error"]
    finally:
        await runner.cleanup()
