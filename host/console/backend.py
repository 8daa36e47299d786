"""What the console needs from the running host: a small typed protocol that host/app.py implements.

The console never reaches into the director, the store or the engine itself; it calls these methods
and renders what they return. Every record here is a plain dataclass so it serializes with
``dataclasses.asdict`` and tests can build them without the rest of the project.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

# Admin commands, the same set chat admins and the HTTP admin API accept (issue 4).
AdminAction = Literal[
    "say", "skip", "pause", "resume", "mute", "unmute", "ban", "unban", "product", "reload", "status"
]
ADMIN_ACTIONS: tuple[str, ...] = AdminAction.__args__  # type: ignore[attr-defined]

# Which keys each action reads from ``args``; checked by the console before the backend is called, so a
# malformed request gets one clear 400. The names are danmaku.admin.commands.AdminCommand's fields, so
# the host can build the command with ``AdminCommand(name=CommandName(action), ..., **args)``.
ADMIN_ARGS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "say": {"text": str},
    "skip": {},
    "pause": {},
    "resume": {},
    "mute": {"uid": int, "minutes": (int, float)},
    "unmute": {"uid": int},
    "ban": {"word": str},
    "unban": {"word": str},
    "product": {"product_id": str},
    "reload": {},
    "status": {},
}
ADMIN_REQUIRED: dict[str, tuple[str, ...]] = {
    "say": ("text",),
    "mute": ("uid",),
    "unmute": ("uid",),
    "ban": ("word",),
    "unban": ("word",),
    "product": ("product_id",),
}

ScheduleAction = Literal["pause", "resume", "run_now"]
# The stream engine's sink states (streamer/health.py); "publishing" is the only healthy one.
SinkState = Literal["idle", "connecting", "publishing", "reconnecting", "stopped", "failed"]


@dataclass
class SinkStatus:
    """One output of the stream engine as the health figures see it."""

    name: str
    kind: str  # "rtmp" | "file" | "http-flv"
    state: str  # one of SinkState
    reconnects: int = 0
    queue_depth: int = 0
    dropped_packets: int = 0
    bytes_out: int = 0
    last_error: str | None = None


@dataclass
class HealthSnapshot:
    """The host's figures at one instant; cheap to build (read counters, no I/O)."""

    on_air: bool
    frames: int  # video frames sent since start
    late_frames: int  # frames whose content was not ready in time (idle/held frame sent instead)
    media_time_s: float  # pts of the last frame, in seconds
    uptime_s: float
    last_frame_age_s: float | None = None  # seconds since the clock last emitted a frame; None = unknown
    held_frames: int = 0
    fps: float = 0.0  # configured frame rate
    sinks: list[SinkStatus] = field(default_factory=list)
    queues: dict[str, int] = field(default_factory=dict)  # e.g. {"director": 3, "render_ahead": 12}
    paused: bool = False
    speaking: str | None = None  # text of the utterance on air
    current_product: str | None = None
    muted_users: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # more figures; numeric ones become metrics too


# Engine snapshot keys shown as first-class fields above; every other scalar goes to ``extra``.
_ENGINE_FIELDS = {"frames_sent", "late_frames", "held_frames", "media_time_s", "uptime_s", "last_frame_age_s",
                  "on_air", "speaking", "fps", "queued_utterances", "encode_queue", "sinks"}


def snapshot_from_engine(stream: dict[str, Any], *, queues: dict[str, int] | None = None, paused: bool = False,
                         current_product: str | None = None, muted_users: int = 0) -> HealthSnapshot:
    """Build a HealthSnapshot from ``StreamEngine.health.snapshot()`` plus the host's own figures."""
    sinks = [
        SinkStatus(name=name, kind=str(s.get("kind", "")), state=str(s.get("state", "")),
                   reconnects=int(s.get("reconnects", 0)), queue_depth=int(s.get("queue_depth", 0)),
                   dropped_packets=int(s.get("dropped_packets", 0)), bytes_out=int(s.get("bytes", 0)),
                   last_error=s.get("last_error") or None)
        for name, s in (stream.get("sinks") or {}).items()
    ]
    all_queues = {"utterances": int(stream.get("queued_utterances") or 0), "encode": int(stream.get("encode_queue") or 0)}
    all_queues.update(queues or {})
    extra = {k: v for k, v in stream.items()
             if k not in _ENGINE_FIELDS and (v is None or isinstance(v, (int, float, str, bool)))}
    return HealthSnapshot(
        on_air=bool(stream.get("on_air", False)),
        frames=int(stream.get("frames_sent", 0)),
        late_frames=int(stream.get("late_frames", 0)),
        held_frames=int(stream.get("held_frames", 0)),
        media_time_s=float(stream.get("media_time_s", 0.0)),
        uptime_s=float(stream.get("uptime_s", 0.0)),
        last_frame_age_s=stream.get("last_frame_age_s"),
        fps=float(stream.get("fps") or 0.0),
        sinks=sinks,
        queues=all_queues,
        paused=paused,
        speaking=stream.get("speaking"),
        current_product=current_product,
        muted_users=muted_users,
        extra=extra,
    )


@dataclass
class PostResult:
    """What happened to a message posted from the viewer box."""

    accepted: bool
    reason: str = ""  # moderation reason or why it was refused
    event_id: str | None = None


@dataclass
class AdminResult:
    """Result of one admin command (audited by the backend)."""

    ok: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProductEdit:
    """A product as the console edits it; field names follow knowledge.yaml."""

    id: str
    name: str
    price: float | None = None
    list_price: float | None = None
    stock: int | None = None
    aliases: list[str] = field(default_factory=list)
    selling_points: list[str] = field(default_factory=list)
    promotions: list[str] = field(default_factory=list)
    specs: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


@dataclass
class FaqEdit:
    """An FAQ as the console edits it; field names follow knowledge.yaml."""

    id: str
    question: str
    answer: str
    product_id: str | None = None


@dataclass
class ScheduleEntry:
    """One scheduled job (product script, idle filler, carousel step)."""

    id: str
    name: str
    trigger: str  # human-readable, e.g. "cron 0 */2 * * *" or "every 300 s"
    next_run: float | None = None  # epoch seconds; None while paused
    paused: bool = False
    last_run: float | None = None


# ---- the live feed -------------------------------------------------------------------------------


@dataclass
class ChatItem:
    """A chat event as received, with the moderation verdict attached."""

    kind: str  # danmaku.events.EventKind value: "comment" | "super_chat" | "gift" | "guard" | "enter" | ...
    uid: int | str | None
    uname: str
    text: str
    allowed: bool
    reason: str = ""  # moderation reason ("ok", "banned_word", "ad", "rate_limit", ...)
    clean_text: str = ""
    source: str = ""  # "bilibili" | "console" | "replay"
    amount: float = 0.0


def chat_item_from_event(event: Any, verdict: Any | None = None) -> ChatItem:
    """A feed item from a danmaku.events.ChatEvent and its moderation Verdict (None: not moderated, e.g. a gift)."""
    kind = getattr(event.kind, "value", event.kind)
    text = event.text
    if not text and event.gift_name:
        text = f"{event.gift_name} x{event.gift_count}" if event.gift_count else event.gift_name
    amount = float(event.super_chat_price_cny or event.gift_value_cny or 0.0)
    return ChatItem(
        kind=str(kind), uid=event.uid or None, uname=event.uname, text=text,
        allowed=True if verdict is None else bool(verdict.allowed),
        reason="" if verdict is None else verdict.reason,
        clean_text=text if verdict is None else verdict.clean_text,
        source=event.platform, amount=amount,
    )


@dataclass
class UtteranceItem:
    """An utterance's life: queued, on air, done or interrupted (with what was actually played)."""

    id: str
    state: Literal["queued", "speaking", "done", "interrupted", "dropped"]
    text: str
    priority: str = ""  # "admin" | "super_chat" | "gift" | "answer" | "script" | "idle"
    to_uname: str | None = None
    played_text: str | None = None


@dataclass
class AdminItem:
    """An admin command and its result, for the audit view."""

    actor: str
    action: str
    args: dict[str, Any]
    ok: bool
    message: str = ""


@dataclass
class NoticeItem:
    """Anything else the operator should see: sink down/up, reloads, errors."""

    level: Literal["info", "warning", "error"]
    message: str


FeedPayload = ChatItem | UtteranceItem | AdminItem | NoticeItem
FEED_KINDS: dict[type, str] = {ChatItem: "chat", UtteranceItem: "utterance", AdminItem: "admin", NoticeItem: "notice"}


@dataclass
class FeedEvent:
    """One entry of the live feed; ``seq`` increases by one per event (resume with Last-Event-ID)."""

    seq: int
    at: float  # epoch seconds
    kind: str  # "chat" | "utterance" | "admin" | "notice"
    payload: FeedPayload


@runtime_checkable
class ConsoleBackend(Protocol):
    """Implemented by the running host (host/app.py); every method is called from the event loop."""

    @property
    def preview_url(self) -> str | None:
        """Upstream HTTP-FLV URL of the engine's preview sink (proxied by the console), None if off."""
        ...

    def health(self) -> HealthSnapshot:
        """Current figures; must not block (read counters only)."""
        ...

    def events(self, after: int | None = None) -> AsyncIterator[FeedEvent]:
        """Feed events with seq > after (history first, then live). host.console.feed.EventFeed does this."""
        ...

    # Optional: ``feed`` (an EventFeed) lets the console tell a returning browser how many events it missed.

    async def post_viewer_message(self, uname: str, text: str) -> PostResult:
        """Inject a message as if a viewer typed it (the `console` chat source)."""
        ...

    async def admin(self, action: str, args: dict[str, Any], actor: str) -> AdminResult:
        """Run one admin command (see ADMIN_ARGS for the keys of ``args``)."""
        ...

    async def list_products(self) -> list[ProductEdit]: ...

    async def save_product(self, product: ProductEdit) -> ProductEdit:
        """Create or replace by id; raise ValueError with a message for invalid data."""
        ...

    async def delete_product(self, product_id: str) -> bool:
        """False when no such product."""
        ...

    async def list_faqs(self) -> list[FaqEdit]: ...

    async def save_faq(self, faq: FaqEdit) -> FaqEdit:
        """Create or replace by id; raise ValueError with a message for invalid data."""
        ...

    async def delete_faq(self, faq_id: str) -> bool: ...

    async def list_schedule(self) -> list[ScheduleEntry]: ...

    async def schedule_action(self, job_id: str, action: str) -> ScheduleEntry:
        """pause | resume | run_now; raise KeyError for an unknown job."""
        ...
