"""Turn bilibili live command objects ({"cmd": ..., "data"/"info": ...}) into ChatEvents.

Everything from the platform is untrusted: each field is type-checked, oversized strings are refused,
and a payload that does not fit raises ``SkipPayload`` with a short reason the source counts.
"""
from __future__ import annotations

import base64
import logging
import time
from typing import Any

from danmaku.events import ChatEvent, EventKind, Medal

log = logging.getLogger(__name__)

PLATFORM = "bilibili"
# bilibili caps a danmaku at a few dozen characters and a Super Chat at ~100; anything far larger is not chat.
MAX_TEXT_CHARS = 4000
MAX_NAME_CHARS = 100
GOLD_PER_CNY = 1000.0

INTERACT_KINDS = {1: EventKind.ENTER, 2: EventKind.FOLLOW, 3: EventKind.SHARE,
                  4: EventKind.FOLLOW, 5: EventKind.FOLLOW}  # 4 special follow, 5 mutual follow


class SkipPayload(Exception):
    """The payload cannot (or need not) become an event; ``reason`` is the counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _field(container: Any, key: Any, cmd: str) -> Any:
    try:
        return container[key]
    except (KeyError, IndexError, TypeError):
        raise SkipPayload(f"malformed:{cmd}", f"missing {key!r}") from None


def _int(value: Any, what: str, cmd: str) -> int:
    # bool is an int subclass but never a valid id/count; numeric strings occur in real payloads.
    if isinstance(value, bool):
        raise SkipPayload(f"malformed:{cmd}", f"{what} is a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        return int(value)
    raise SkipPayload(f"malformed:{cmd}", f"{what} is not an integer ({type(value).__name__})")


def _num(value: Any, what: str, cmd: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SkipPayload(f"malformed:{cmd}", f"{what} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise SkipPayload(f"malformed:{cmd}", f"{what} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")) or number < 0:
        raise SkipPayload(f"malformed:{cmd}", f"{what} out of range")
    return number


def _str(value: Any, what: str, cmd: str, limit: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(value, str):
        raise SkipPayload(f"malformed:{cmd}", f"{what} is not a string ({type(value).__name__})")
    if len(value) > limit:
        raise SkipPayload("too_long", f"{cmd} {what} has {len(value)} chars")
    # Lone surrogates (valid JSON escapes, invalid Unicode) would break every later encode().
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _dict(value: Any, what: str, cmd: str) -> dict:
    if not isinstance(value, dict):
        raise SkipPayload(f"malformed:{cmd}", f"{what} is not an object")
    return value


def normalize_command(payload: Any, room: int, now: float | None = None) -> ChatEvent:
    """Normalize one bilibili command object; raise ``SkipPayload`` when it is not usable."""
    if not isinstance(payload, dict):
        raise SkipPayload("malformed:not_an_object")
    cmd = payload.get("cmd")
    if not isinstance(cmd, str):
        raise SkipPayload("malformed:no_cmd")
    # DANMU_MSG arrives with suffixes such as "DANMU_MSG:4:0:2:2:2:0".
    base_cmd = "DANMU_MSG" if cmd.startswith("DANMU_MSG") else cmd
    handler = _HANDLERS.get(base_cmd)
    if handler is None:
        raise SkipPayload("unknown_cmd", cmd[:60])
    now = time.time() if now is None else now
    event = handler(payload, room, now, base_cmd)
    event.raw = payload
    return event


def _danmu_msg(p: dict, room: int, now: float, cmd: str) -> ChatEvent:
    info = _field(p, "info", cmd)
    if not isinstance(info, list):
        raise SkipPayload(f"malformed:{cmd}", "info is not a list")
    text = _str(_field(info, 1, cmd), "text", cmd)
    sender = _field(info, 2, cmd)
    uid = _int(_field(sender, 0, cmd), "uid", cmd)
    uname = _str(_field(sender, 1, cmd), "uname", cmd, MAX_NAME_CHARS)
    is_admin = len(sender) > 2 and sender[2] == 1
    medal = None
    if len(info) > 3 and isinstance(info[3], list) and len(info[3]) >= 4 and info[3][1]:
        m = info[3]
        medal = Medal(name=_str(m[1], "medal name", cmd, MAX_NAME_CHARS), level=_int(m[0], "medal level", cmd),
                      anchor=_str(m[2], "medal anchor", cmd, MAX_NAME_CHARS) if isinstance(m[2], str) else "",
                      room=_int(m[3], "medal room", cmd))
    ts = now
    meta = info[0] if isinstance(info[0], list) else []
    if len(meta) > 4 and isinstance(meta[4], (int, float)) and not isinstance(meta[4], bool) and meta[4] > 0:
        ts = meta[4] / 1000.0
    guard = info[7] if len(info) > 7 and isinstance(info[7], int) and not isinstance(info[7], bool) else 0
    return ChatEvent(kind=EventKind.COMMENT, platform=PLATFORM, room=room, uid=uid, uname=uname, text=text,
                     medal=medal, timestamp=ts, is_room_admin=is_admin, guard_level=guard)


def _medal_info(mi: Any, cmd: str) -> Medal | None:
    if not isinstance(mi, dict) or not mi.get("medal_name"):
        return None
    return Medal(name=_str(mi["medal_name"], "medal name", cmd, MAX_NAME_CHARS),
                 level=_int(mi.get("medal_level", 0), "medal level", cmd),
                 room=_int(mi.get("anchor_roomid", 0) or 0, "medal room", cmd),
                 anchor=_str(mi.get("anchor_uname", "") or "", "medal anchor", cmd, MAX_NAME_CHARS))


def _send_gift(p: dict, room: int, now: float, cmd: str) -> ChatEvent:
    d = _dict(_field(p, "data", cmd), "data", cmd)
    count = _int(_field(d, "num", cmd), "num", cmd)
    coin_type = d.get("coin_type", "gold")
    if "total_coin" in d:
        total = _num(d["total_coin"], "total_coin", cmd)
    else:
        total = _num(_field(d, "price", cmd), "price", cmd) * count
    value = round(total / GOLD_PER_CNY, 3) if coin_type == "gold" else 0.0  # silver gifts are free
    ts = _num(d["timestamp"], "timestamp", cmd) if "timestamp" in d else now
    return ChatEvent(kind=EventKind.GIFT, platform=PLATFORM, room=room,
                     uid=_int(_field(d, "uid", cmd), "uid", cmd),
                     uname=_str(_field(d, "uname", cmd), "uname", cmd, MAX_NAME_CHARS),
                     medal=_medal_info(d.get("medal_info"), cmd), timestamp=ts,
                     gift_name=_str(_field(d, "giftName", cmd), "giftName", cmd, MAX_NAME_CHARS),
                     gift_count=count, gift_value_cny=value,
                     gift_combo_id=_str(d.get("batch_combo_id", "") or "", "batch_combo_id", cmd, 200))


def _super_chat(p: dict, room: int, now: float, cmd: str) -> ChatEvent:
    d = _dict(_field(p, "data", cmd), "data", cmd)
    user = _dict(_field(d, "user_info", cmd), "user_info", cmd)
    ts = _num(d["start_time"], "start_time", cmd) if "start_time" in d else now
    return ChatEvent(kind=EventKind.SUPER_CHAT, platform=PLATFORM, room=room,
                     uid=_int(_field(d, "uid", cmd), "uid", cmd),
                     uname=_str(_field(user, "uname", cmd), "uname", cmd, MAX_NAME_CHARS),
                     text=_str(_field(d, "message", cmd), "message", cmd),
                     medal=_medal_info(d.get("medal_info"), cmd), timestamp=ts,
                     super_chat_price_cny=_num(_field(d, "price", cmd), "price", cmd))


def _guard_buy(p: dict, room: int, now: float, cmd: str) -> ChatEvent:
    d = _dict(_field(p, "data", cmd), "data", cmd)
    months = _int(d.get("num", 1), "num", cmd)
    price = _num(d.get("price", 0), "price", cmd)
    ts = _num(d["start_time"], "start_time", cmd) if "start_time" in d else now
    return ChatEvent(kind=EventKind.GUARD, platform=PLATFORM, room=room,
                     uid=_int(_field(d, "uid", cmd), "uid", cmd),
                     uname=_str(_field(d, "username", cmd), "username", cmd, MAX_NAME_CHARS), timestamp=ts,
                     gift_name=_str(d.get("gift_name", "") or "", "gift_name", cmd, MAX_NAME_CHARS),
                     gift_count=months, gift_value_cny=round(price * months / GOLD_PER_CNY, 3),
                     guard_level=_int(_field(d, "guard_level", cmd), "guard_level", cmd), guard_months=months)


def _interact(d: dict, room: int, now: float, cmd: str) -> ChatEvent:
    msg_type = _int(_field(d, "msg_type", cmd), "msg_type", cmd)
    kind = INTERACT_KINDS.get(msg_type)
    if kind is None:
        raise SkipPayload("unknown_interact_type", str(msg_type))
    ts = _num(d["timestamp"], "timestamp", cmd) if d.get("timestamp") else now
    medal = None
    fm = d.get("fans_medal") or d.get("fans_medal_info")
    if isinstance(fm, dict) and fm.get("medal_name"):
        medal = Medal(name=_str(fm["medal_name"], "medal name", cmd, MAX_NAME_CHARS),
                      level=_int(fm.get("medal_level", 0), "medal level", cmd),
                      room=_int(fm.get("anchor_roomid", 0) or 0, "medal room", cmd))
    return ChatEvent(kind=kind, platform=PLATFORM, room=room, uid=_int(_field(d, "uid", cmd), "uid", cmd),
                     uname=_str(_field(d, "uname", cmd), "uname", cmd, MAX_NAME_CHARS), medal=medal, timestamp=ts)


def _interact_word(p: dict, room: int, now: float, cmd: str) -> ChatEvent:
    return _interact(_dict(_field(p, "data", cmd), "data", cmd), room, now, cmd)


def _interact_word_v2(p: dict, room: int, now: float, cmd: str) -> ChatEvent:
    d = _dict(_field(p, "data", cmd), "data", cmd)
    decoded = d.get("pb_decoded")
    if not decoded:
        # A recorded payload (replay) carries only the base64 protobuf; the live library decodes it for us.
        pb = _str(_field(d, "pb", cmd), "pb", cmd, 64_000)
        from bilibili_api.live import parse_interact_word_v2

        try:
            decoded = parse_interact_word_v2(base64.b64decode(pb, validate=True))
        except Exception as exc:  # truncated varints, bad base64, junk: all the same to us
            raise SkipPayload(f"malformed:{cmd}", f"protobuf: {exc}") from None
    decoded = _dict(decoded, "pb_decoded", cmd)
    return _interact(decoded, room, now, cmd)


def _like(p: dict, room: int, now: float, cmd: str) -> ChatEvent:
    d = _dict(_field(p, "data", cmd), "data", cmd)
    return ChatEvent(kind=EventKind.LIKE, platform=PLATFORM, room=room, uid=_int(_field(d, "uid", cmd), "uid", cmd),
                     uname=_str(_field(d, "uname", cmd), "uname", cmd, MAX_NAME_CHARS),
                     text=_str(d.get("like_text", "") or "", "like_text", cmd, MAX_NAME_CHARS), timestamp=now)


def _watched(p: dict, room: int, now: float, cmd: str) -> ChatEvent:
    d = _dict(_field(p, "data", cmd), "data", cmd)
    return ChatEvent(kind=EventKind.VIEWER_COUNT, platform=PLATFORM, room=room, timestamp=now,
                     viewer_count=_int(_field(d, "num", cmd), "num", cmd), viewer_count_kind="watched",
                     text=_str(d.get("text_large", "") or "", "text_large", cmd, MAX_NAME_CHARS))


def _online_count(p: dict, room: int, now: float, cmd: str) -> ChatEvent:
    d = _dict(_field(p, "data", cmd), "data", cmd)
    return ChatEvent(kind=EventKind.VIEWER_COUNT, platform=PLATFORM, room=room, timestamp=now,
                     viewer_count=_int(_field(d, "count", cmd), "count", cmd), viewer_count_kind="online")


_HANDLERS = {
    "DANMU_MSG": _danmu_msg,
    "SEND_GIFT": _send_gift,
    "SUPER_CHAT_MESSAGE": _super_chat,
    "GUARD_BUY": _guard_buy,
    "INTERACT_WORD": _interact_word,
    "INTERACT_WORD_V2": _interact_word_v2,
    "LIKE_INFO_V3_CLICK": _like,
    "WATCHED_CHANGE": _watched,
    "ONLINE_RANK_COUNT": _online_count,
}
SUPPORTED_COMMANDS = frozenset(_HANDLERS)
