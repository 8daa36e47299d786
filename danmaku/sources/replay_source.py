"""Replay a JSONL recording in bilibili's message format ({"t", "cmd", "data"} a line) as a chat source."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danmaku.events import EventKind
from danmaku.sources.base import ChatSource, register_source

if TYPE_CHECKING:
    from danmaku.settings import ChatSettings

log = logging.getLogger(__name__)
_TIMESTAMPED = {EventKind.COMMENT, EventKind.GIFT, EventKind.SUPER_CHAT, EventKind.GUARD, EventKind.ENTER,
                EventKind.FOLLOW, EventKind.SHARE}
MAX_LINE_BYTES = 1_000_000  # a recorded command is a few KB; a longer line is not one


@register_source("replay")
class ReplaySource(ChatSource):
    """Plays ``path`` at ``speed`` (1 = real time, 0 = as fast as possible); bad lines are counted and skipped."""

    def __init__(self, path: str | Path, speed: float = 1.0, room: int = 0, loop: bool = False,
                 buffer_size: int = 2000) -> None:
        super().__init__(buffer_size=buffer_size)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"replay file not found: {self.path} (config key chat.replay.file)")
        self.speed = speed
        self.room = room
        self.loop = loop

    @classmethod
    def from_settings(cls, settings: "ChatSettings", **overrides: Any) -> "ReplaySource":
        """Build from ``[chat.replay]`` (non-None overrides win: file, speed)."""
        cfg = settings.replay.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        if not cfg.file:
            raise ValueError("chat.replay.file must name a JSONL recording")
        return cls(cfg.file, speed=cfg.speed, room=cfg.room, loop=cfg.loop)

    async def _produce(self) -> None:
        shift = 0.0
        while True:
            length = await self._play_once(shift)
            if not self.loop:
                return
            # The next pass happens later in time: rate and duplicate windows must not see it as the past.
            shift += length + 1.0

    async def _play_once(self, shift: float = 0.0) -> float:
        """Play the file once; returns its length in recording seconds."""
        start = time.monotonic()
        last_t = 0.0
        room = self.room
        # Recording time = t + offset, learned from the first payload that carries a timestamp; events
        # without one (likes, viewer counts) get their place in the recording instead of "now".
        epoch_offset: float | None = None
        with self.path.open("rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                record = self._parse_line(raw, lineno)
                if record is None:
                    continue
                t, data = record
                last_t = max(last_t, t)  # t never decreases in a valid file; tolerate it if it does
                if self.speed > 0:
                    delay = start + last_t / self.speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif lineno % 200 == 0:
                    await asyncio.sleep(0)  # let consumers run during a flat-out replay
                room = room or _room_of(data)
                event = self._ingest(data, room, None if epoch_offset is None else epoch_offset + last_t, shift)
                if event is not None and epoch_offset is None and event.kind in _TIMESTAMPED:
                    epoch_offset = event.timestamp - shift - last_t
        await asyncio.sleep(0)  # a short file looping flat out must still let the loop breathe
        return last_t

    def _parse_line(self, raw: bytes, lineno: int) -> tuple[float, Any] | None:
        reason = None
        try:
            if len(raw) > MAX_LINE_BYTES:
                reason = "too_long"
                raise ValueError(f"{len(raw)} bytes")
            obj = json.loads(raw.decode("utf-8"))
            if not isinstance(obj, dict) or "data" not in obj:
                reason = "malformed:record"
                raise ValueError("not an object with 'data'")
            t = obj.get("t", 0.0)
            if isinstance(t, bool) or not isinstance(t, (int, float)) or t < 0:
                reason = "malformed:record"
                raise ValueError(f"bad t {t!r}")
            return float(t), obj["data"]
        except UnicodeDecodeError as exc:
            reason = "malformed:invalid_utf8"
            detail = str(exc)
        except json.JSONDecodeError as exc:
            reason = "malformed:json"
            detail = str(exc)
        except ValueError as exc:
            detail = str(exc)
        self.stats.received += 1
        self.stats.skip(reason or "malformed:record")
        log.warning("replay line skipped", extra={"file": str(self.path), "line": lineno, "reason": reason,
                                                  "detail": detail[:200]})
        return None


def _room_of(data: Any) -> int:
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        room = data["data"].get("roomid")
        if isinstance(room, int) and not isinstance(room, bool):
            return room
    return 0
