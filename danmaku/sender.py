"""Optional replies into the room as danmaku (``chat.sender.enabled``, off by default).

bilibili's limits shape it: a danmaku holds ~20 characters for ordinary users (split at punctuation),
messages need ~1.5 s between them, code 10031 means "too fast" (back off and retry), 1003212 means
"too long" (split shorter and retry), and the same text twice in a row is rejected (we never try).
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from danmaku.settings import BilibiliSourceSettings, SenderSettings

log = logging.getLogger(__name__)
CODE_TOO_FAST = 10031
CODE_TOO_LONG = 1003212
_BREAKS = re.compile(r"(?<=[。！？!?；;…])")
_SOFT_BREAKS = re.compile(r"(?<=[，,、：:\s])")


class SendError(Exception):
    """The platform refused a message; ``code`` is its error code (0 when unknown)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def split_for_danmaku(text: str, max_chars: int = 20) -> list[str]:
    """Pieces of at most ``max_chars``: at sentence ends first, then at commas/spaces, then hard cuts."""
    text = " ".join(text.split())
    pieces: list[str] = []
    for sentence in filter(None, (s.strip() for s in _BREAKS.split(text))):
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        current = ""
        for part in filter(None, _SOFT_BREAKS.split(sentence)):
            while len(part) > max_chars:
                if current:
                    pieces.append(current.strip())
                    current = ""
                pieces.append(part[:max_chars].strip())
                part = part[max_chars:]
            if len(current) + len(part) > max_chars:
                pieces.append(current.strip())
                current = part
            else:
                current += part
        if current.strip():
            pieces.append(current.strip())
    return [p for p in pieces if p]


class DanmakuSender:
    """Sends text as one or more danmaku, paced, with the platform's error codes handled."""

    def __init__(self, post: Callable[[str], Awaitable[Any]], max_chars: int = 20, min_interval_s: float = 1.5,
                 too_fast_backoff_s: float = 5.0, max_retries: int = 3) -> None:
        self.post = post
        self.max_chars = max_chars
        self.min_interval_s = min_interval_s
        self.too_fast_backoff_s = too_fast_backoff_s
        self.max_retries = max_retries
        self._last_text: str | None = None
        self._last_sent = float("-inf")
        self._lock = asyncio.Lock()
        self.counts: dict[str, int] = {"sent": 0, "too_fast": 0, "too_long": 0, "repeat_skipped": 0, "failed": 0}

    @classmethod
    def for_bilibili(cls, settings: "SenderSettings", room: "BilibiliSourceSettings",
                     env: dict[str, str] | None = None) -> "DanmakuSender":
        """A sender posting through bilibili-api-python with the credential from the env vars in config."""
        from bilibili_api import live
        from bilibili_api.exceptions import ResponseCodeException
        from bilibili_api.utils.danmaku import Danmaku

        from danmaku.sources.bilibili_client import configure_endpoints, credential_from_env

        env = dict(os.environ if env is None else env)
        credential = credential_from_env(env, room.sessdata_env, room.bili_jct_env, room.buvid3_env)
        if not credential.has_sessdata() or not credential.has_bili_jct():
            raise ValueError(f"chat.sender needs a logged-in account: set {room.sessdata_env} and {room.bili_jct_env}")
        configure_endpoints(room.api_base, room.ws_url, timeout_s=room.connect_timeout_s)
        live_room = live.LiveRoom(room.room, credential=credential)

        async def post(text: str) -> None:
            try:
                await live_room.send_danmaku(Danmaku(text))
            except ResponseCodeException as exc:
                raise SendError(exc.code, exc.msg) from None

        return cls(post, settings.max_chars, settings.min_interval_s, settings.too_fast_backoff_s, settings.max_retries)

    async def send(self, text: str) -> list[str]:
        """Send ``text``; returns the pieces that went out (in order)."""
        out: list[str] = []
        async with self._lock:
            queue = split_for_danmaku(text, self.max_chars)
            while queue:
                piece = queue.pop(0)
                if piece == self._last_text:
                    self.counts["repeat_skipped"] += 1
                    continue
                result = await self._send_piece(piece)
                if isinstance(result, list):  # too long: the shorter pieces go first
                    queue[:0] = result
                elif result:
                    out.append(piece)
        return out

    async def _send_piece(self, piece: str) -> bool | list[str]:
        backoff = self.too_fast_backoff_s
        for attempt in range(self.max_retries + 1):
            wait = self._last_sent + self.min_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self.post(piece)
            except SendError as exc:
                self._last_sent = time.monotonic()
                if exc.code == CODE_TOO_FAST and attempt < self.max_retries:
                    self.counts["too_fast"] += 1
                    log.info("danmaku too fast; backing off", extra={"backoff_s": backoff})
                    await asyncio.sleep(backoff)
                    backoff *= 2
                    continue
                if exc.code == CODE_TOO_LONG and len(piece) > 1:
                    self.counts["too_long"] += 1
                    shorter = split_for_danmaku(piece, max(1, len(piece) // 2))
                    if len(shorter) == 1:
                        half = len(piece) // 2
                        shorter = [piece[:half], piece[half:]]
                    return shorter
                self.counts["failed"] += 1
                log.warning("danmaku not sent", extra={"code": exc.code, "error": str(exc)[:200]})
                return False
            except Exception as exc:
                self._last_sent = time.monotonic()
                self.counts["failed"] += 1
                log.warning("danmaku not sent", extra={"error": repr(exc)[:200]})
                return False
            self._last_sent = time.monotonic()
            self._last_text = piece
            self.counts["sent"] += 1
            return True
        self.counts["failed"] += 1
        return False
