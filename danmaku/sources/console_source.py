"""Viewer messages typed in the web console or sent to a local websocket, as a chat source."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from danmaku.events import ChatEvent, EventKind
from danmaku.sources.base import ChatSource, register_source

if TYPE_CHECKING:
    from aiohttp import web

    from danmaku.settings import ChatSettings

log = logging.getLogger(__name__)
PLATFORM = "console"
MAX_POST_CHARS = 2000


@register_source("console")
class ConsoleSource(ChatSource):
    """Lives as long as the host; ``post()`` injects one viewer comment (never an admin: see admin_http)."""

    def __init__(self, default_uname: str = "console", buffer_size: int = 1000) -> None:
        super().__init__(buffer_size=buffer_size)
        self.default_uname = default_uname

    @classmethod
    def from_settings(cls, settings: "ChatSettings", **overrides: Any) -> "ConsoleSource":
        """Build from ``[chat.console]``."""
        return cls(default_uname=overrides.get("uname") or settings.console.uname)

    async def _produce(self) -> None:
        await asyncio.Event().wait()  # posts arrive through post(); run until cancelled

    def post(self, text: Any, uname: Any = None, uid: Any = 0) -> ChatEvent | None:
        """Add one comment as a viewer; malformed input is counted, logged and refused (returns None)."""
        self.stats.received += 1
        if not isinstance(text, str) or not text.strip():
            self.stats.skip("malformed:console")
            return None
        if len(text) > MAX_POST_CHARS:
            self.stats.skip("too_long")
            return None
        if isinstance(uid, bool) or not isinstance(uid, int):
            self.stats.skip("malformed:console")
            return None
        name = uname if isinstance(uname, str) and uname.strip() else self.default_uname
        event = ChatEvent(kind=EventKind.COMMENT, platform=PLATFORM, room=0, uid=uid, uname=name[:100],
                          text=text, timestamp=time.time(), raw={"text": text, "uname": name, "uid": uid})
        self._emit(event)
        return event


def console_routes(source: ConsoleSource, prefix: str = "/chat") -> list["web.RouteDef"]:
    """aiohttp routes: POST {prefix}/post ({"text", "uname"?, "uid"?}) and websocket {prefix}/ws (same JSON or plain text)."""
    from aiohttp import WSMsgType, web

    async def post(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            source.stats.received += 1
            source.stats.skip("malformed:console")
            return web.json_response({"ok": False, "error": "body must be JSON {\"text\": ...}"}, status=400)
        if not isinstance(body, dict):
            body = {}
        event = source.post(body.get("text"), body.get("uname"), body.get("uid", 0))
        if event is None:
            return web.json_response({"ok": False, "error": "text must be a non-empty string"}, status=400)
        return web.json_response({"ok": True})

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                body = json.loads(msg.data)
            except json.JSONDecodeError:
                body = {"text": msg.data}
            if not isinstance(body, dict):
                body = {"text": msg.data}
            event = source.post(body.get("text"), body.get("uname"), body.get("uid", 0))
            await ws.send_json({"ok": event is not None})
        return ws

    return [web.post(f"{prefix}/post", post), web.get(f"{prefix}/ws", websocket)]
