"""Triage for the director: a bounded priority queue of what deserves an answer, freshest first.

Classes, highest first: admin command > super chat / guard > gift thanks > question > comment >
presence (enter, follow, share, like). Each class has a staleness limit; near-duplicate questions
(and identical comments) coalesce into one item with a count; gifts aggregate per user into one
thanks per window with the total. When full, the lowest class loses its oldest item (a new item of
a class that is not lower than anything queued is dropped instead), so the size never passes ``capacity``.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from danmaku.events import ChatEvent, EventKind
from danmaku.moderation.text_keys import make_keys

if TYPE_CHECKING:
    from danmaku.admin.commands import AdminCommand
    from danmaku.settings import TriageSettings

MAX_EVENTS_PER_ITEM = 10
_ZH_QUESTION = re.compile(r"[吗呢么嘛]|怎么|怎样|如何|多少|多久|多大|多重|几|哪|什么|为什么|能不能|可不可以|是不是|有没有|会不会|要不要|能否|可以.*吗")
_EN_QUESTION = re.compile(r"^\s*(what|how|when|where|why|who|which|can|could|does|do|did|is|are|will|would|should|any|may)\b", re.I)
_FILLERS = str.maketrans("", "", "吗呢啊呀吧嘛哈哦么")


class TriageClass(IntEnum):
    """Priority classes; a lower value is served first."""

    ADMIN = 0
    PAID = 1
    GIFT = 2
    QUESTION = 3
    COMMENT = 4
    PRESENCE = 5


@dataclass
class TriageItem:
    """One thing for the director to react to (possibly several coalesced events)."""

    cls: TriageClass
    created: float  # queue clock (monotonic) when it entered
    ready_at: float  # gifts wait for their aggregation window; everything else is ready at once
    uid: int = 0
    uname: str = ""
    text: str = ""  # moderated clean text (comment, question, super chat)
    kind: EventKind | None = None
    command: "AdminCommand | None" = None
    events: list[ChatEvent] = field(default_factory=list)
    count: int = 1  # events merged into this item
    askers: list[str] = field(default_factory=list)  # names of everyone who asked a coalesced question
    gift_total_cny: float = 0.0
    gifts: dict[str, int] = field(default_factory=dict)  # gift name -> count
    key: str = ""
    _bigrams: frozenset = frozenset()
    removed: bool = False


def is_question(text: str) -> bool:
    """A cheap, language-aware guess whether a comment asks something."""
    t = text.strip()
    if not t:
        return False
    return "?" in t or "？" in t or bool(_ZH_QUESTION.search(t)) or bool(_EN_QUESTION.match(t))


def _bigrams(key: str) -> frozenset:
    return frozenset(key[i:i + 2] for i in range(len(key) - 1)) if len(key) > 1 else frozenset([key])


class TriageQueue:
    """The bounded queue (see module docstring). Not thread-safe: use it from one event loop."""

    def __init__(self, capacity: int = 200, stale_s: dict[TriageClass, float] | None = None,
                 gift_window_s: float = 8.0, coalesce_window_s: float = 60.0, coalesce_similarity: float = 0.75,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.stale_s = {c: 60.0 for c in TriageClass}
        self.stale_s.update(stale_s or {})
        self.gift_window_s = gift_window_s
        self.coalesce_window_s = coalesce_window_s
        self.coalesce_similarity = coalesce_similarity
        self.clock = clock
        self._classes: dict[TriageClass, collections.deque[TriageItem]] = {c: collections.deque() for c in TriageClass}
        self._size = 0
        self._open_gifts: dict[int, TriageItem] = {}
        self._by_key: dict[tuple[TriageClass, str], TriageItem] = {}
        self._wakeup: asyncio.Event | None = None
        self.peak_size = 0
        self.counts: collections.Counter = collections.Counter()  # queued, coalesced, aggregated, stale, evicted, dropped_full

    @classmethod
    def from_settings(cls, s: "TriageSettings", clock: Callable[[], float] = time.monotonic) -> "TriageQueue":
        """Build from ``[chat.triage]``."""
        stale = {TriageClass.ADMIN: s.stale_admin_s, TriageClass.PAID: s.stale_paid_s, TriageClass.GIFT: s.stale_gift_s,
                 TriageClass.QUESTION: s.stale_question_s, TriageClass.COMMENT: s.stale_comment_s,
                 TriageClass.PRESENCE: s.stale_presence_s}
        return cls(s.capacity, stale, s.gift_window_s, s.coalesce_window_s, s.coalesce_similarity, clock)

    def __len__(self) -> int:
        return self._size

    # -- putting --------------------------------------------------------------------------------------
    def put_command(self, command: "AdminCommand") -> bool:
        """Queue an authorized admin command for the director."""
        now = self.clock()
        item = TriageItem(TriageClass.ADMIN, now, now, uid=command.actor.uid, uname=command.actor.uname,
                          text=command.text, command=command)
        return self._add(item)

    def put_event(self, event: ChatEvent, clean_text: str | None = None, speak_name: bool = True) -> bool:
        """Queue a moderated event (``clean_text`` from the Moderator); False when it was not queued.

        ``speak_name=False`` keeps the sender's name off the item (a name carrying an ad or an insult).
        """
        if not speak_name:
            event = dataclasses.replace(event, uname="")
        now = self.clock()
        text = event.text if clean_text is None else clean_text
        kind = event.kind
        if kind is EventKind.VIEWER_COUNT:
            return False
        if kind in (EventKind.SUPER_CHAT, EventKind.GUARD):
            return self._add(self._item(TriageClass.PAID, now, event, text))
        if kind is EventKind.GIFT:
            return self._gift(event, now)
        if kind is EventKind.COMMENT:
            cls = TriageClass.QUESTION if is_question(text) else TriageClass.COMMENT
            return self._comment(cls, event, text, now)
        return self._add(self._item(TriageClass.PRESENCE, now, event, text))

    def _item(self, cls: TriageClass, now: float, event: ChatEvent, text: str) -> TriageItem:
        return TriageItem(cls, now, now, uid=event.uid, uname=event.uname, text=text, kind=event.kind,
                          events=[event], askers=[event.uname] if event.uname else [])

    def _gift(self, event: ChatEvent, now: float) -> bool:
        open_item = self._open_gifts.get(event.uid)
        if open_item is not None and not open_item.removed:
            self._merge(open_item, event)
            open_item.gift_total_cny = round(open_item.gift_total_cny + event.gift_value_cny, 3)
            open_item.gifts[event.gift_name] = open_item.gifts.get(event.gift_name, 0) + event.gift_count
            self.counts["aggregated"] += 1
            return True
        item = self._item(TriageClass.GIFT, now, event, "")
        item.ready_at = now + self.gift_window_s
        item.gift_total_cny = event.gift_value_cny
        item.gifts = {event.gift_name: event.gift_count}
        if self._add(item):
            self._open_gifts[event.uid] = item
            return True
        return False

    def _comment(self, cls: TriageClass, event: ChatEvent, text: str, now: float) -> bool:
        key = make_keys(text).whole.translate(_FILLERS)
        existing = self._by_key.get((cls, key)) if key else None
        if existing is None and cls is TriageClass.QUESTION and len(key) >= 4:
            existing = self._similar_question(key, now)
        if existing is not None and not existing.removed and now - existing.created <= self.coalesce_window_s:
            self._merge(existing, event)
            self.counts["coalesced"] += 1
            return True
        item = self._item(cls, now, event, text)
        item.key = key
        item._bigrams = _bigrams(key) if cls is TriageClass.QUESTION else frozenset()
        if not self._add(item):
            return False
        if key:
            self._by_key[(cls, key)] = item
        return True

    def _similar_question(self, key: str, now: float) -> TriageItem | None:
        grams = _bigrams(key)
        best, best_score = None, 0.0
        for item in self._classes[TriageClass.QUESTION]:
            if now - item.created > self.coalesce_window_s or not item._bigrams:
                continue
            score = len(grams & item._bigrams) / len(grams | item._bigrams)
            if score > best_score:
                best, best_score = item, score
        return best if best_score >= self.coalesce_similarity else None

    def _merge(self, item: TriageItem, event: ChatEvent) -> None:
        item.count += 1
        if len(item.events) < MAX_EVENTS_PER_ITEM:
            item.events.append(event)
        if event.uname and event.uname not in item.askers and len(item.askers) < MAX_EVENTS_PER_ITEM:
            item.askers.append(event.uname)

    def _add(self, item: TriageItem) -> bool:
        self._purge_stale(self.clock())
        if self._size >= self.capacity and not self._make_room(item.cls):
            self.counts["dropped_full"] += 1
            return False
        self._classes[item.cls].append(item)
        self._size += 1
        self.peak_size = max(self.peak_size, self._size)
        self.counts["queued"] += 1
        if self._wakeup is not None:
            self._wakeup.set()
        return True

    def _make_room(self, incoming: TriageClass) -> bool:
        for cls in sorted(TriageClass, reverse=True):
            victims = self._classes[cls]
            if not victims:
                continue
            if cls > incoming or (cls == incoming and cls >= TriageClass.QUESTION):
                self._remove(victims[0])
                self.counts["evicted"] += 1
                return True
            return False
        return False

    def _remove(self, item: TriageItem) -> None:
        self._classes[item.cls].remove(item)
        item.removed = True
        self._size -= 1
        if item.cls is TriageClass.GIFT and self._open_gifts.get(item.uid) is item:
            del self._open_gifts[item.uid]
        if item.key and self._by_key.get((item.cls, item.key)) is item:
            del self._by_key[(item.cls, item.key)]

    def _purge_stale(self, now: float) -> None:
        for cls, items in self._classes.items():
            limit = self.stale_s[cls]
            while items and now - items[0].ready_at > limit:
                self._remove(items[0])
                self.counts["stale"] += 1

    # -- getting --------------------------------------------------------------------------------------
    def get_nowait(self) -> TriageItem | None:
        """The most urgent ready item, or None."""
        now = self.clock()
        self._purge_stale(now)
        for cls in TriageClass:
            for item in self._classes[cls]:
                if item.ready_at <= now:
                    self._remove(item)
                    return item
                if cls is not TriageClass.GIFT:
                    break
        return None

    def next_ready_in(self) -> float | None:
        """Seconds until an unready gift becomes ready (None when nothing is waiting)."""
        waiting = [i.ready_at for i in self._classes[TriageClass.GIFT]]
        return max(0.0, min(waiting) - self.clock()) if waiting else None

    async def get(self, timeout: float | None = None) -> TriageItem | None:
        """Wait for the next item (None after ``timeout`` seconds)."""
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            wait = self.next_ready_in()
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wait = left if wait is None else min(wait, left)
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    def snapshot(self) -> dict[str, Any]:
        """Sizes and counters (for /status and the benchmark)."""
        return {"size": self._size, "capacity": self.capacity, "peak_size": self.peak_size,
                "by_class": {c.name.lower(): len(q) for c, q in self._classes.items()}, **dict(self.counts)}
