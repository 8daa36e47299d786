"""A local bilibili live server for tests: the HTTP endpoints the library calls plus the danmaku websocket.

Speaks the real wire protocol: 16-byte big-endian header (packet length, header length 16, protover,
op, sequence), op 7 auth -> op 8 reply, op 2 heartbeat -> op 3 reply (4-byte popularity), op 5
messages with brotli (protover 3) bodies holding raw JSON (protover 0) sub-packets. INTERACT_WORD_V2
carries a protobuf built by hand here (varints and length-delimited fields), base64 in ``data.pb``.
"""
from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
import zlib
from typing import Any

import brotli
from aiohttp import WSMsgType, web

OP_HEARTBEAT, OP_HEARTBEAT_REPLY, OP_MESSAGE, OP_AUTH, OP_AUTH_REPLY = 2, 3, 5, 7, 8
TOKEN = "local-test-token"
WBI_IMG = "https://i0.hdslb.com/bfs/wbi/7cd084941338484aae1ad9425b84077c.png"
WBI_SUB = "https://i0.hdslb.com/bfs/wbi/4932caff0ff746eab6f01bf08b70ac45.png"


def pack(body: bytes, op: int, protover: int = 0) -> bytes:
    """One packet: header + body."""
    return struct.pack(">IHHII", 16 + len(body), 16, protover, op, 1) + body


def pack_commands(commands: list[dict], protover: int = 3) -> bytes:
    """Several commands in one frame: brotli (protover 3, today's server), zlib (2, older servers) or raw (0)."""
    inner = b"".join(pack(json.dumps(c, ensure_ascii=False).encode("utf-8"), OP_MESSAGE, 0) for c in commands)
    if protover == 3:
        return pack(brotli.compress(inner), OP_MESSAGE, 3)
    if protover == 2:
        return pack(zlib.compress(inner), OP_MESSAGE, 2)
    return inner


def varint(n: int) -> bytes:
    """Protobuf base-128 varint."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_varint_field(number: int, value: int) -> bytes:
    return varint(number << 3 | 0) + varint(value)


def pb_bytes_field(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def interact_word_v2(uid: int, uname: str, msg_type: int, room: int, ts: int, medal: tuple[str, int] | None = None) -> dict:
    """An INTERACT_WORD_V2 command with the InteractWord protobuf encoded by hand."""
    pb = (pb_varint_field(1, uid) + pb_bytes_field(2, uname.encode("utf-8")) + pb_varint_field(5, msg_type)
          + pb_varint_field(6, room) + pb_varint_field(7, ts))
    if medal:
        fans = pb_varint_field(1, 1) + pb_varint_field(2, medal[1]) + pb_bytes_field(3, medal[0].encode("utf-8"))
        pb += pb_bytes_field(9, fans)
    return {"cmd": "INTERACT_WORD_V2", "data": {"dmscore": 12, "pb": base64.b64encode(pb).decode("ascii")}}


def danmu_msg(uid: int, uname: str, text: str, ts_ms: int | None = None, admin: int = 0,
              medal: tuple[int, str, str, int] | None = None, guard: int = 0) -> dict:
    """A DANMU_MSG command shaped like the live server's (16-element info array)."""
    ts_ms = int(time.time() * 1000) if ts_ms is None else ts_ms
    meta = [0, 1, 25, 16777215, ts_ms, 12345, 0, "abcd1234", 0, 0, 0, "", 0, "{}", "{}",
            {"mode": 0, "extra": "{}", "user": {"uid": uid, "base": {"name": uname}}}]
    medal_list = [medal[0], medal[1], medal[2], medal[3], 398668, "", 0, 0, 0, 0, 0, 0, 0] if medal else []
    info = [meta, text, [uid, uname, admin, 0, 0, 10000, 1, ""], medal_list, [10, 0, 9868950, ">50000", 0],
            ["", ""], 0, guard, None, {"ts": ts_ms // 1000, "ct": "ABCDEF12"}, 0, 0, None, None, 0, 0]
    return {"cmd": "DANMU_MSG:4:0:2:2:2:0", "info": info}


class BiliLiveServer:
    """Start with ``await server.start()``; ``api_base`` and ``ws_url`` point the source at it."""

    def __init__(self, real_room: int = 22637261, anchor_uid: int = 7706705, minimal: bool = False) -> None:
        self.minimal = minimal  # only the room endpoints (getRoomPlayInfo, getDanmuInfo) and the websocket
        self.real_room = real_room
        self.anchor_uid = anchor_uid
        self.heartbeat_replies = True
        self.auth_replies = True  # False: accept the socket, swallow the auth packet (a wedged server)
        self.auths: list[dict] = []
        self.http_calls: list[str] = []
        self.sent_danmaku: list[dict] = []
        self.send_responses: list[dict] = []  # scripted replies for /msg/send, then code 0
        self._sockets: set[web.WebSocketResponse] = set()
        self._authed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/sub"

    async def start(self, port: int = 0) -> "BiliLiveServer":
        app = web.Application()
        app.router.add_get("/xlive/web-room/v1/index/getRoomPlayInfo", self._room_play_info)
        app.router.add_get("/xlive/web-room/v1/index/getDanmuInfo", self._danmu_info)
        if not self.minimal:
            app.router.add_get("/x/web-interface/nav", self._nav)
            app.router.add_get("/x/frontend/finger/spi", self._spi)
            app.router.add_post("/x/internal/gaia-gateway/ExClimbWuzhi", self._ok)
            app.router.add_get("/xlive/rdata-interface/v1/heartbeat/webHeartBeat", self._ok)
        app.router.add_post("/msg/send", self._msg_send)
        app.router.add_get("/sub", self._ws)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    # -- HTTP -------------------------------------------------------------------------------------
    def _json(self, request: web.Request, data: Any, code: int = 0) -> web.Response:
        self.http_calls.append(request.path)
        return web.json_response({"code": code, "message": "0", "ttl": 1, "data": data})

    async def _room_play_info(self, request: web.Request) -> web.Response:
        return self._json(request, {"room_id": self.real_room, "short_id": 0, "uid": self.anchor_uid,
                                    "live_status": 1})

    async def _danmu_info(self, request: web.Request) -> web.Response:
        assert request.query.get("id") == str(self.real_room), request.query
        host = {"host": "127.0.0.1", "port": self.port, "wss_port": self.port, "ws_port": self.port}
        return self._json(request, {"group": "live", "business_id": 0, "refresh_row_factor": 0.125,
                                    "refresh_rate": 100, "max_delay": 5000, "token": TOKEN, "host_list": [host]})

    async def _nav(self, request: web.Request) -> web.Response:
        return self._json(request, {"isLogin": False, "wbi_img": {"img_url": WBI_IMG, "sub_url": WBI_SUB}}, code=-101)

    async def _spi(self, request: web.Request) -> web.Response:
        return self._json(request, {"b_3": "LOCAL-BUVID3-infoc", "b_4": "LOCAL-BUVID4"})

    async def _ok(self, request: web.Request) -> web.Response:
        return self._json(request, {})

    async def _msg_send(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.sent_danmaku.append({**form, "_at": time.monotonic()})
        if self.send_responses:
            reply = self.send_responses.pop(0)
            self.http_calls.append(request.path)
            return web.json_response({"msg": reply.get("message", ""), "data": [], **reply})
        return self._json(request, [])

    # -- websocket --------------------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or len(msg.data) < 16:
                    continue
                _length, _hl, _ver, op, _seq = struct.unpack(">IHHII", msg.data[:16])
                body = msg.data[16:]
                if op == OP_AUTH:
                    auth = json.loads(body)
                    self.auths.append(auth)
                    if not self.auth_replies:
                        continue
                    ok = auth.get("key") == TOKEN and auth.get("roomid") == self.real_room
                    await ws.send_bytes(pack(json.dumps({"code": 0 if ok else -101}).encode(), OP_AUTH_REPLY, 1))
                    if ok:
                        self._authed.set()
                elif op == OP_HEARTBEAT and self.heartbeat_replies:
                    await ws.send_bytes(pack(struct.pack(">I", 1), OP_HEARTBEAT_REPLY, 1))
        finally:
            self._sockets.discard(ws)
        return ws

    @property
    def connected(self) -> int:
        return len(self._sockets)

    async def wait_for_auth(self, count: int, timeout: float = 15.0) -> float:
        """Wait until ``count`` authentications happened in total; returns the seconds waited."""
        start = time.monotonic()
        while len(self.auths) < count:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"only {len(self.auths)} auths after {timeout}s (wanted {count})")
            await asyncio.sleep(0.02)
        return time.monotonic() - start

    async def send_commands(self, commands: list[dict], protover: int = 3) -> None:
        """Send the commands in one frame to every open socket."""
        frame = pack_commands(commands, protover)
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_bytes(frame)

    async def send_raw(self, frame: bytes) -> None:
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_bytes(frame)

    async def close_sockets(self) -> None:
        """Close every websocket from the server side (a normal close handshake)."""
        for ws in list(self._sockets):
            await ws.close()
