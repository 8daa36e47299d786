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
import logging
import struct
from typing import Any

from bilibili_api import Credential, register_client
from bilibili_api.clients.AioHTTPClient import AioHTTPClient
from bilibili_api.live import LiveDanmaku
from bilibili_api.utils import network

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


class RedirectingAioHTTPClient(AioHTTPClient):
    """The library's aiohttp client with the official hosts rewritten to ``api_base``/``ws_url``."""

    api_base: str = ""
    ws_url: str = ""

    @classmethod
    def rewrite_http(cls, url: str) -> str:
        """Map an official API URL onto ``api_base`` (unchanged when no base is configured)."""
        if cls.api_base:
            for official in OFFICIAL_HTTP_BASES:
                if url.startswith(official):
                    return cls.api_base.rstrip("/") + url[len(official):]
        return url

    async def request(self, method: str = "", url: str = "", *args: Any, **kwargs: Any):  # type: ignore[override]
        return await super().request(method, self.rewrite_http(url), *args, **kwargs)

    async def ws_create(self, url: str = "", params: dict = {}, headers: dict = {}) -> int:  # noqa: B006
        return await super().ws_create(self.ws_url or url, params, headers)


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


def quiet_library_logger(room: int, debug: bool = False) -> None:
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
