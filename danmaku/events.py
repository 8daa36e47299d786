"""The typed chat event every source produces (the contract the rest of the host consumes)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class EventKind(str, Enum):
    """What happened in the room."""

    COMMENT = "comment"
    GIFT = "gift"
    SUPER_CHAT = "super_chat"
    GUARD = "guard"
    ENTER = "enter"
    FOLLOW = "follow"
    SHARE = "share"
    LIKE = "like"
    VIEWER_COUNT = "viewer_count"


@dataclass(frozen=True, slots=True)
class Medal:
    """A fan medal shown next to a name; ``room`` may be another streamer's room."""

    name: str
    level: int
    room: int = 0
    anchor: str = ""


@dataclass(slots=True)
class ChatEvent:
    """One normalized event from a chat source.

    Fields that do not apply to a kind keep their zero value (``gift_count`` is 0 for a comment).
    ``raw`` is the platform payload, kept for the event log only: never read it to make decisions.
    """

    kind: EventKind
    platform: str
    room: int
    uid: int = 0
    uname: str = ""
    text: str = ""
    medal: Medal | None = None
    timestamp: float = field(default_factory=time.time)  # unix seconds of the event on the platform
    is_room_admin: bool = False  # platform says the sender is a room admin (bilibili info[2][2])
    gift_name: str = ""
    gift_count: int = 0
    gift_value_cny: float = 0.0  # total of this event (unit price * count); 0 for free gifts
    gift_combo_id: str = ""
    super_chat_price_cny: float = 0.0
    guard_level: int = 0  # 1 governor, 2 admiral, 3 captain; on comments: the sender's current level
    guard_months: int = 0
    viewer_count: int = 0
    viewer_count_kind: str = ""  # "online" (ONLINE_RANK_COUNT) or "watched" (WATCHED_CHANGE, cumulative)
    raw: Any = None

    def to_dict(self, with_raw: bool = False) -> dict:
        """A JSON-ready dict (enum as its value); ``raw`` only on request."""
        data = asdict(self)
        data["kind"] = self.kind.value
        if not with_raw:
            data.pop("raw", None)
        return data
