"""Console source (HTTP and websocket), the source registry, and `chat tail` end to end."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from danmaku.events import EventKind
from danmaku.settings import ChatSettings
from danmaku.sources.base import create_source
from danmaku.sources.console_source import ConsoleSource, console_routes
from tests.bili_server import BiliLiveServer, danmu_msg

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(60)


async def test_console_posts_over_http_and_websocket() -> None:
    source = ConsoleSource()
    app = web.Application()
    app.add_routes(console_routes(source))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    events = []

    async def consume() -> None:
        async for e in source.events():
            events.append(e)

    task = asyncio.create_task(consume())
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            async with session.post("/chat/post", json={"text": "手表多少钱", "uname": "测试观众"}) as resp:
                assert resp.status == 200
            async with session.post("/chat/post", json={"text": ""}) as resp:
                assert resp.status == 400
            async with session.post("/chat/post", data=b"\xff\xfe") as resp:
                assert resp.status == 400
            async with session.ws_connect("/chat/ws") as ws:
                await ws.send_str(json.dumps({"text": "websocket hello", "uid": 5}))
                assert (await ws.receive_json())["ok"]
                await ws.send_str("plain text works too")
                assert (await ws.receive_json())["ok"]
                await ws.send_str(json.dumps({"text": 42}))
                assert not (await ws.receive_json())["ok"]
        for _ in range(100):
            if len(events) >= 3:
                break
            await asyncio.sleep(0.02)
        assert [(e.kind, e.platform, e.uname, e.text) for e in events] == [
            (EventKind.COMMENT, "console", "测试观众", "手表多少钱"),
            (EventKind.COMMENT, "console", "console", "websocket hello"),
            (EventKind.COMMENT, "console", "console", "plain text works too")]
        assert events[1].uid == 5 and not events[0].is_room_admin
        assert source.stats.skipped["malformed:console"] == 3
    finally:
        task.cancel()
        await runner.cleanup()


def test_registry_errors_name_the_key() -> None:
    settings = ChatSettings()
    with pytest.raises(ValueError, match="chat.bilibili.room"):
        create_source("bilibili", settings)
    with pytest.raises(ValueError, match="chat.replay.file"):
        create_source("replay", settings)
    with pytest.raises(ValueError, match="chat.source"):
        create_source("youtube", settings)
    assert create_source("console", settings).kind == "console"


async def _run_cli(*args: str, timeout: float = 40) -> tuple[int, list[dict], str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "main.py", *args, cwd=str(REPO),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, [json.loads(line) for line in out.decode().splitlines()], err.decode()


async def test_chat_tail_bilibili_against_local_server() -> None:
    srv = await BiliLiveServer().start()

    async def feed() -> None:
        await srv.wait_for_auth(1, timeout=30)
        await asyncio.sleep(0.3)
        await srv.send_commands([danmu_msg(1, "甲", "第一条"), danmu_msg(2, "乙", "第二条"), danmu_msg(3, "丙", "第三条")])

    feeder = asyncio.create_task(feed())
    try:
        # No --ws-url: the host list from the local getDanmuInfo is used (plain ws, as api_base is http).
        rc, events, err = await _run_cli("chat", "tail", "--source", "bilibili", "--room", "22637261",
                                         "--api-base", srv.api_base, "--count", "2", "--timeout", "30")
        assert rc == 0, err
        assert [(e["kind"], e["uname"], e["text"]) for e in events] == [("comment", "甲", "第一条"), ("comment", "乙", "第二条")]
        await feeder
    finally:
        feeder.cancel()
        await srv.stop()


async def test_chat_tail_replay_and_timeout(tmp_path: Path) -> None:
    fixture = Path("/work/shared/fixtures/shop_zh/danmaku_replay.jsonl")
    if fixture.exists():
        rc, events, err = await _run_cli("chat", "tail", "--source", "replay", "--file", str(fixture), "--speed", "0",
                                         "--count", "5")
        assert rc == 0, err
        assert len(events) == 5 and events[0]["kind"] == "enter" and events[0]["room"] == 22637261
    rc, events, err = await _run_cli("chat", "tail", "--source", "bilibili", "--room", "1",
                                     "--api-base", "http://127.0.0.1:9", "--count", "1", "--timeout", "2")
    assert rc == 1 and "0 event(s) within 2s" in err
    rc, _events, err = await _run_cli("chat", "tail", "--source", "replay", "--file", str(tmp_path / "none.jsonl"))
    assert rc == 2 and "none.jsonl" in err


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    from configs.loader import ConfigError, load_config

    cases = {
        '[chat.bilibili]\napi_base = "127.0.0.1:8000"\n': "chat.bilibili.api_base",
        '[chat.bilibili]\nws_url = "http://x/sub"\n': "chat.bilibili.ws_url",
        '[chat.admin]\nroom_admin_commands = ["mute", "dance"]\n': "chat.admin.room_admin_commands",
        '[chat.replay]\nspeed = -1\n': "chat.replay.speed",
        '[chat]\nsource = "youtube"\n': "chat.source",
        '[chat.triage]\ncapacity = 0\n': "chat.triage.capacity",
        '[chat.moderation]\nunknown = 1\n': "chat.moderation.unknown",
    }
    for text, key in cases.items():
        path = tmp_path / "c.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(path)
    path = tmp_path / "ok.toml"
    path.write_text('[chat]\nsource = "bilibili"\n[chat.bilibili]\nroom = 22637261\nws_url = "wss://relay.example/sub"\n',
                    encoding="utf-8")
    assert load_config(path).chat.bilibili.room == 22637261


async def test_chat_tail_console_listens_locally() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listen = f"127.0.0.1:{port}"

    async def post() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.post(f"http://{listen}/chat/post", json={"text": "来自控制台", "uname": "运营"}) as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)

    poster = asyncio.create_task(post())
    rc, events, err = await _run_cli("chat", "tail", "--source", "console", "--listen", listen, "--count", "1",
                                     "--timeout", "30")
    await poster
    assert rc == 0, err
    assert [(e["platform"], e["uname"], e["text"]) for e in events] == [("console", "运营", "来自控制台")]
