"""The bilibili live room as a chat source: LiveDanmaku under a supervisor that reconnects forever.

bilibili-api-python 17 never dispatches DISCONNECT, returns from ``connect()`` as on a normal stop when
the server closes the socket, gives up after one heartbeat timeout when there is a single host, and
treats a frame it cannot parse as a fatal error. So every ``connect()`` runs on a fresh instance
inside a watchdog: when it returns, raises, stays silent longer than ``watchdog_s`` or does not
authenticate within ``connect_timeout_s``, it is torn down and a new one starts after a capped
exponential backoff (reset after every successful authentication).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from danmaku.sources.base import ChatSource, register_source

if TYPE_CHECKING:
    from danmaku.settings import BilibiliSourceSettings, ChatSettings

log = logging.getLogger(__name__)

# Library event types that are connection bookkeeping, not room events.
_BOOKKEEPING = {"VERIFICATION_SUCCESSFUL", "VIEW"}


@register_source("bilibili")
class BilibiliSource(ChatSource):
    """Events of one bilibili live room (display room id)."""

    def __init__(self, settings: "BilibiliSourceSettings", env: dict[str, str] | None = None) -> None:
        super().__init__(buffer_size=settings.buffer_size)
        if settings.room <= 0:
            raise ValueError("chat.bilibili.room must be set to the live room id (e.g. 22637261)")
        self.settings = settings
        self.room = settings.room
        self._env = dict(os.environ if env is None else env)
        self._generation = 0
        self._last_frame = 0.0
        self._established = False
        self.connections = 0  # successful authentications, for tests and status
        self.connection: Any = None  # the current SupervisedLiveDanmaku (None between attempts)

    @classmethod
    def from_settings(cls, settings: "ChatSettings", **overrides: Any) -> "BilibiliSource":
        """Build from ``[chat.bilibili]`` (non-None overrides win: room, api_base, ws_url)."""
        cfg = settings.bilibili.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        return cls(cfg)

    async def _produce(self) -> None:
        from danmaku.sources.bilibili_client import (RedirectingAioHTTPClient, SupervisedLiveDanmaku,
                                                     close_client_for_this_loop, configure_endpoints,
                                                     credential_from_env)

        s = self.settings
        configure_endpoints(s.api_base, s.ws_url, timeout_s=s.connect_timeout_s)

        def report(reason: str) -> None:
            self.stats.received += 1
            self.stats.skip(reason)
            self._log_skip(reason, "websocket packet dropped before the library's parser")

        RedirectingAioHTTPClient.frame_report = staticmethod(report)
        backoff = s.reconnect_initial_s
        self.stats.mark_down()
        try:
            while True:
                self._generation += 1
                generation = self._generation
                self._established = False
                credential = credential_from_env(self._env, s.sessdata_env, s.bili_jct_env, s.buvid3_env)
                dm = SupervisedLiveDanmaku(self.room, credential=credential)
                dm.add_event_listener("ALL", lambda info, g=generation: self._on_library_event(g, info))
                dm.add_event_listener("TIMEOUT", lambda _info, g=generation: self._on_library_timeout(g))
                self.connection = dm
                try:
                    reason = await self._supervise(dm)
                finally:  # also when the source is cancelled: the library's heartbeat tasks must not outlive it
                    self.connection = None
                    await dm.release()
                was_established = self._established
                self._established = False
                self._generation += 1  # late dispatches from the old instance are ignored from here on
                self.stats.mark_down()
                if was_established:
                    backoff = s.reconnect_initial_s
                log.warning("bilibili connection lost; reconnecting",
                            extra={"room": self.room, "reason": reason, "retry_in_s": round(backoff, 2)})
                await asyncio.sleep(backoff)
                backoff = min(max(backoff * 2, 0.5), s.reconnect_max_s)
                self.stats.reconnects += 1
        finally:
            self.stats.mark_down()
            try:
                await close_client_for_this_loop()
            except Exception:
                pass

    async def _supervise(self, dm: Any) -> str:
        """Run one ``connect()``; return why it ended."""
        s = self.settings
        task = asyncio.create_task(dm.connect(), name="bilibili-connect")
        started = time.monotonic()
        self._last_frame = started
        last_heartbeat = started
        tick = max(0.05, min(1.0, s.heartbeat_interval_s / 2, s.watchdog_s / 4))
        reason = "closed_by_server"
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=tick)
                if done:
                    exc = None if task.cancelled() else task.exception()
                    if exc is not None:
                        reason = f"error:{type(exc).__name__}"
                        log.warning("bilibili connect failed",
                                    extra={"room": self.room, "error": repr(exc)[:300]})
                    elif not self._established:
                        reason = "connect_failed"
                    return reason
                now = time.monotonic()
                if not self._established:
                    if now - started > s.connect_timeout_s:
                        return "connect_timeout"
                    continue
                if now - self._last_frame > s.watchdog_s:
                    return "watchdog"
                if now - last_heartbeat >= s.heartbeat_interval_s:
                    last_heartbeat = now
                    try:
                        await dm.send_heartbeat()
                    except Exception as exc:  # the socket is gone; the recv side will notice
                        log.debug("heartbeat send failed", extra={"error": repr(exc)})
        finally:
            if not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    def _on_library_event(self, generation: int, info: Any) -> None:
        if generation != self._generation:
            return  # an instance that is being torn down
        self._last_frame = time.monotonic()
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "VERIFICATION_SUCCESSFUL":
            self._established = True
            self.connections += 1
            outage = self.stats.mark_up()
            log.info("bilibili room connected", extra={"room": self.room, "connections": self.connections,
                                                       "outage_s": round(outage, 2)})
            return
        if kind in _BOOKKEEPING:
            return
        payload = info.get("data") if isinstance(info, dict) else None
        self._ingest(payload, self.room)

    def _on_library_timeout(self, generation: int) -> None:
        if generation == self._generation:
            log.warning("bilibili heartbeat timeout reported by the library", extra={"room": self.room})
