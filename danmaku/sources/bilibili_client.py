"""Adapter around bilibili-api-python 17: endpoint redirection and a LiveDanmaku we can supervise.

Why this file exists:
- The library builds every URL from constants (https://api.live.bilibili.com, https://api.bilibili.com,
  https://live-trace.bilibili.com) and always dials ``wss://<host>:<port>/sub`` from getDanmuInfo. Its
  public hook for changing transport is ``register_client``: we register an aiohttp client subclass that
  rewrites those URLs (config ``api_base`` / ``ws_url``), so relays and local test servers work.
  The selected client is process-wide: one ``api_base``/``ws_url`` pair per process.
- ``LiveDanmaku`` keeps its heartbeat tasks and websocket in private (name-mangled) attributes and does
  not cancel them when the connection dies with an error; ``SupervisedLiveDanmaku`` reaches them in
  exactly two places (``send_heartbeat`` and ``release``), so nothing else here depends on internals.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import struct
import zlib
from collections.abc import Callable
from typing import Any

import brotli

from bilibili_api import Credential, register_client
from bilibili_api.clients.AioHTTPClient import AioHTTPClient
from bilibili_api.live import LiveDanmaku
from bilibili_api.utils import network
from bilibili_api.utils.network import BiliAPIResponse

log = logging.getLogger(__name__)

CLIENT_NAME = "livehost-aiohttp"
OFFICIAL_HTTP_BASES = (
    "https://api.live.bilibili.com",
    "https://api.bilibili.com",
    "https://live-trace.bilibili.com",
)
# op 2 heartbeat with the body the web client sends; header: length, header length 16, protover 1, op, seq.
HEARTBEAT_BODY = b"[object Object]"
HEARTBEAT_PACKET = struct.pack(">IHHII", 16 + len(HEARTBEAT_BODY), 16, 1, 2, 1) + HEARTBEAT_BODY


HEADER = struct.Struct(">IHHII")  # packet length, header length, protover, op, sequence
OP_HEARTBEAT_REPLY, OP_MESSAGE, OP_AUTH_REPLY = 3, 5, 8
_PB_COMMANDS = ("INTERACT_WORD_V2", "ONLINE_RANK_V3")  # the library decodes data.pb outside its try


def sanitize_frame(frame: bytes, report: Callable[[str], None]) -> bytes | None:
    """Make one websocket frame safe for the library's parser.

    Returns the frame to hand on, ``None`` to swallow it (every packet in it was bad), or ``b""`` (which
    the library fails on, so the connection is replaced) when the frame's structure is broken. Bad single
    packets are dropped and reported, so one malformed message does not cost the connection; zlib
    (protover 2) bodies, which the library cannot read, are inflated. Structure matters because a packet
    length below 16 would spin the library's unpack loop forever.
    """
    if len(frame) < HEADER.size:
        report("malformed:frame")
        return b""
    _length, _hl, ver, op, _seq = HEADER.unpack_from(frame)
    if ver == 1 and op == OP_HEARTBEAT_REPLY:
        return frame if len(frame) >= 20 else _broken(report)
    if ver in (2, 3):
        try:
            inner = zlib.decompress(frame[16:]) if ver == 2 else brotli.decompress(frame[16:])
        except (zlib.error, brotli.error):
            return _broken(report)
    else:
        inner = frame
    kept: list[bytes] = []
    offset, changed = 0, ver in (2, 3)
    while offset < len(inner):
        if offset + HEADER.size > len(inner):
            return _broken(report)
        length, _hl, pver, pop, _seq = HEADER.unpack_from(inner, offset)
        if length < HEADER.size or offset + length > len(inner):
            return _broken(report)
        packet = inner[offset:offset + length]
        offset += length
        reason = _packet_problem(packet[16:], pver, pop)
        if reason:
            report(reason)
            log.debug("bilibili packet dropped", extra={"reason": reason, "bytes": len(packet)})
            changed = True
            continue
        kept.append(packet)
    if not changed:
        return frame
    if not kept:
        return None
    # A concatenation of raw packets is a valid frame for the library (it walks packets from offset 0).
    return b"".join(kept)


def _broken(report: Callable[[str], None]) -> bytes:
    report("malformed:frame")
    log.warning("bilibili frame with broken structure: reconnecting")
    return b""


def _packet_problem(body: bytes, ver: int, op: int) -> str | None:
    """Why the library would choke on this packet (None if it will not).

    Mirrors bilibili-api-python 17: protover 0/2 bodies are always parsed as JSON, protover 1 op 3 is a
    4-byte popularity, op 8 must be an object with "code", op 5 an object, and nothing else is read.
    """
    if op == OP_HEARTBEAT_REPLY:
        return None if ver == 1 and len(body) == 4 else "malformed:packet"
    needs_json = ver in (0, 2) or (ver == 1 and op == OP_AUTH_REPLY)
    if not needs_json:
        return "malformed:packet" if op in (OP_MESSAGE, OP_AUTH_REPLY) else None
    try:
        obj = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return "malformed:invalid_utf8"
    except (json.JSONDecodeError, RecursionError):
        return "malformed:json"
    if op == OP_AUTH_REPLY:
        return None if isinstance(obj, dict) and "code" in obj else "malformed:packet"
    if op != OP_MESSAGE:
        return None
    if not isinstance(obj, dict):
        return "malformed:not_an_object"
    cmd = obj.get("cmd")
    if "cmd" in obj and not isinstance(cmd, str):
        return "malformed:no_cmd"
    if cmd in _PB_COMMANDS:
        data = obj.get("data")
        pb = data.get("pb") if isinstance(data, dict) else None
        if not isinstance(pb, str) or (cmd == "INTERACT_WORD_V2" and "dmscore" not in data):
            return f"malformed:{cmd}"
        try:
            base64.b64decode(pb)
        except (binascii.Error, ValueError):
            return f"malformed:{cmd}"
    return None


def _stand_in(path: str) -> dict | None:
    """Benign answers for the anti-spider endpoints a relay or test server may not implement."""
    if path.endswith("/x/web-interface/nav"):  # wbi keys: a relay does not check the signature
        return {"code": -101, "message": "stand-in", "data": {"isLogin": False, "wbi_img": {
            "img_url": "https://i0.hdslb.com/bfs/wbi/7cd084941338484aae1ad9425b84077c.png",
            "sub_url": "https://i0.hdslb.com/bfs/wbi/4932caff0ff746eab6f01bf08b70ac45.png"}}}
    if path.endswith("/x/frontend/finger/spi"):
        import uuid

        return {"code": 0, "data": {"b_3": f"{str(uuid.uuid4()).upper()}infoc", "b_4": str(uuid.uuid4()).upper()}}
    if path.endswith(("/x/internal/gaia-gateway/ExClimbWuzhi", "/heartbeat/webHeartBeat")):
        return {"code": 0, "message": "stand-in", "data": {}}
    return None


class RedirectingAioHTTPClient(AioHTTPClient):
    """The library's aiohttp client with the official hosts rewritten to ``api_base``/``ws_url``.

    Incoming websocket frames also pass through ``sanitize_frame``; ``frame_report`` (set by the source)
    counts what was dropped.
    """

    api_base: str = ""
    ws_url: str = ""
    frame_report: Callable[[str], None] = staticmethod(lambda reason: None)

    @classmethod
    def rewrite_http(cls, url: str) -> str:
        """Map an official API URL onto ``api_base`` (unchanged when no base is configured)."""
        if cls.api_base:
            for official in OFFICIAL_HTTP_BASES:
                if url.startswith(official):
                    return cls.api_base.rstrip("/") + url[len(official):]
        return url

    async def request(self, method: str = "", url: str = "", *args: Any, **kwargs: Any):  # type: ignore[override]
        target = self.rewrite_http(url)
        resp = await super().request(method, target, *args, **kwargs)
        if target != url and resp.code != 200:
            # A relay/test server that implements only the room endpoints: answer the anti-spider
            # bookkeeping (wbi keys, buvid, activation, web heartbeat) locally instead of failing.
            stand_in = _stand_in(target.split("?", 1)[0])
            if stand_in is not None:
                log.info("endpoint missing on api_base; using a local stand-in", extra={"url": target})
                return BiliAPIResponse(code=200, headers={}, cookies={}, raw=json.dumps(stand_in).encode(), url=target)
        return resp

    async def ws_create(self, url: str = "", params: dict = {}, headers: dict = {}) -> int:  # noqa: B006
        if self.ws_url:
            url = self.ws_url
        elif self.api_base.startswith("http://") and url.startswith("wss://"):
            # A plain-HTTP relay or test server serves plain websockets on the hosts it lists.
            url = "ws://" + url[len("wss://"):]
        return await super().ws_create(url, params, headers)

    async def ws_recv(self, cnt: int):  # type: ignore[override]
        while True:
            data, flag = await super().ws_recv(cnt)
            if flag.value != 0x2 or not isinstance(data, (bytes, bytearray)):
                return data, flag
            clean = sanitize_frame(bytes(data), type(self).frame_report)
            if clean is not None:
                return clean, flag


def configure_endpoints(api_base: str = "", ws_url: str = "", timeout_s: float = 20.0) -> None:
    """Select the redirecting client for the whole process and point it at ``api_base``/``ws_url``."""
    RedirectingAioHTTPClient.api_base = api_base
    RedirectingAioHTTPClient.ws_url = ws_url
    if network.get_selected_client()[0] != CLIENT_NAME:
        register_client(CLIENT_NAME, RedirectingAioHTTPClient)
    network.request_settings.set("timeout", timeout_s)


async def close_client_for_this_loop() -> None:
    """Close the aiohttp session the library opened for the running loop (avoids unclosed-session noise)."""
    loop = asyncio.get_running_loop()
    pool = network.session_pool.get(CLIENT_NAME, {})
    client = pool.pop(loop, None)
    if client is not None:
        await client.close()


def credential_from_env(env: dict[str, str], sessdata_env: str, bili_jct_env: str, buvid3_env: str) -> Credential:
    """A Credential from the environment variables named in config (anonymous when they are unset)."""
    return Credential(sessdata=env.get(sessdata_env) or None, bili_jct=env.get(bili_jct_env) or None,
                      buvid3=env.get(buvid3_env) or None)


def quiet_library_logger(room: int) -> None:
    """Stop LiveDanmaku from attaching its own stderr handler; its messages go through our logging."""
    logger = logging.getLogger(f"LiveDanmaku_{room}")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


class SupervisedLiveDanmaku(LiveDanmaku):
    """One connection attempt; the supervisor makes a fresh instance for every attempt.

    A fresh instance per attempt is what keeps events exactly-once: the library registers handlers
    inside its connect loop, so reusing an instance would stack them.
    """

    def __init__(self, room: int, credential: Credential | None = None) -> None:
        quiet_library_logger(room)
        # max_retry=0: the library must not retry by itself (it would silently give up later); we do.
        super().__init__(room, credential=credential, max_retry=0, retry_after=0)
        self.logger.setLevel(logging.DEBUG if logging.getLogger().isEnabledFor(logging.DEBUG) else logging.CRITICAL)

    async def send_heartbeat(self) -> None:
        """Send an op-2 heartbeat now (keeps replies flowing so our watchdog can be short)."""
        ws = getattr(self, "_LiveDanmaku__ws", None)
        if ws is None:
            return
        await network.get_client().ws_send(ws, HEARTBEAT_PACKET)

    async def release(self, close_timeout_s: float = 2.0) -> None:
        """Cancel the library's heartbeat tasks, drop handlers and close the socket (bounded wait)."""
        self.remove_all_event_listener()
        for task in list(getattr(self, "_LiveDanmaku__tasks", [])):
            task.cancel()
        ws = getattr(self, "_LiveDanmaku__ws", None)
        if ws is None:
            return
        try:
            await asyncio.wait_for(network.get_client().ws_close(ws), close_timeout_s)
        except (asyncio.TimeoutError, Exception):  # already closed, or the peer is wedged
            pass
