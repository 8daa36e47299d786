"""Source -> admin commands -> moderation -> triage: the chat half of the host, wired in one place."""
from __future__ import annotations

import collections
import logging
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danmaku.admin import AdminDispatcher, AdminPolicy, AuditLog, JsonlAuditLog
from danmaku.events import ChatEvent, EventKind
from danmaku.moderation import Moderator
from danmaku.triage import TriageQueue

if TYPE_CHECKING:
    from danmaku.settings import ChatSettings
    from danmaku.sources.base import ChatSource

log = logging.getLogger(__name__)
_TEXT_KINDS = (EventKind.COMMENT, EventKind.SUPER_CHAT)
_NAME_CACHE = 5000


class ChatPipeline:
    """Feeds every event of ``source`` through commands, moderation and triage.

    Hooks for the knowledge store: ``on_event(event)`` for every normalized event,
    ``moderator.on_verdict`` for verdicts, ``dispatcher.audit.on_record`` for the admin audit.
    ``viewer_count`` keeps the latest ONLINE_RANK_COUNT (``watched_count`` the cumulative WATCHED_CHANGE).
    """

    def __init__(self, source: "ChatSource | None", moderator: Moderator, dispatcher: AdminDispatcher,
                 triage: TriageQueue) -> None:
        self.source = source
        self.moderator = moderator
        self.dispatcher = dispatcher
        self.triage = triage
        self.on_event: list[Callable[[ChatEvent], Any]] = []
        self.on_outcome: list[Callable[[ChatEvent, str], Any]] = []  # after each event: what happened to it
        self.counts: collections.Counter = collections.Counter()  # "events" plus exactly one outcome per event
        self.notes: collections.Counter = collections.Counter()  # side facts: paid_text_refused, name_withheld
        self.viewer_count = 0
        self.watched_count = 0
        self._names: collections.OrderedDict[str, bool] = collections.OrderedDict()
        if dispatcher.forward is None:
            dispatcher.forward = triage.put_command
        dispatcher.status_providers.setdefault("triage", triage.snapshot)
        dispatcher.status_providers.setdefault("chat", self.snapshot)

    @classmethod
    def from_settings(cls, settings: "ChatSettings", source: "ChatSource | None" = None,
                      audit: AuditLog | None = None) -> "ChatPipeline":
        """Everything from ``[chat]``; ``audit`` overrides the JSONL audit (e.g. the knowledge store's)."""
        moderator = Moderator.from_settings(settings.moderation)
        if audit is None:
            a = settings.admin
            audit = JsonlAuditLog(Path(a.audit_file)) if a.audit_file else AuditLog()
        dispatcher = AdminDispatcher(AdminPolicy.from_settings(settings.admin), audit, moderator,
                                     prefix=settings.admin.prefix,
                                     default_mute_minutes=settings.admin.default_mute_minutes)
        return cls(source, moderator, dispatcher, TriageQueue.from_settings(settings.triage))

    async def run(self) -> None:
        """Consume the source until it ends (a replay) or the task is cancelled (live sources)."""
        if self.source is None:
            raise RuntimeError("ChatPipeline.run needs a source")
        async for event in self.source.events():
            await self.process(event)

    async def process(self, event: ChatEvent) -> str:
        """Handle one event; returns what happened (queued, command:<result>, skipped:<reason>, ...)."""
        outcome = await self._process(event)
        for hook in self.on_outcome:
            try:
                hook(event, outcome)
            except Exception:
                log.exception("chat outcome hook failed")
        return outcome

    async def _process(self, event: ChatEvent) -> str:
        self.counts["events"] += 1
        for hook in self.on_event:
            try:
                hook(event)
            except Exception:
                log.exception("chat event hook failed")
        if event.kind is EventKind.VIEWER_COUNT:
            if event.viewer_count_kind == "watched":
                self.watched_count = event.viewer_count
            else:
                self.viewer_count = event.viewer_count
            return self._count("viewer_count")
        if event.kind is EventKind.COMMENT and self.dispatcher.is_command(event.text):
            if not self.dispatcher.policy.may_command(self.dispatcher.actor_for(event)):
                # A viewer's slash command is denied and audited, but a muted or flooding viewer is not
                # allowed to fill the audit with it.
                verdict = self.moderator.check(event.text, _rate_key(event), at=event.timestamp)
                if verdict.reason in ("muted", "rate_limited", "duplicate"):
                    return self._count(f"skipped:{verdict.reason}")
            result = await self.dispatcher.handle_chat(event)
            return self._count(f"command:{result.result}" if result else "command:none")
        if event.uid and self.moderator.is_muted(event.uid) and event.kind not in (EventKind.SUPER_CHAT,
                                                                                   EventKind.GUARD, EventKind.GIFT):
            return self._count("skipped:muted")
        clean = event.text
        if event.kind in _TEXT_KINDS:
            verdict = self.moderator.check(event.text, _rate_key(event), at=event.timestamp,
                                           limits=event.kind is EventKind.COMMENT)
            if not verdict.allowed:
                if event.kind is EventKind.COMMENT:
                    return self._count(f"skipped:{verdict.reason}")
                clean = ""  # a paid message is still thanked; its refused text is never read out
                self.notes["paid_text_refused"] += 1
            else:
                clean = verdict.clean_text
        # The host reads names aloud: a name carrying an ad or an insult is never repeated.
        speak_name = not event.uname or self._name_ok(event.uname)
        if not speak_name:
            self.notes["name_withheld"] += 1
        queued = self.triage.put_event(event, clean, speak_name=speak_name)
        return self._count("queued" if queued else "not_queued")

    def _name_ok(self, name: str) -> bool:
        ok = self._names.get(name)
        if ok is None:
            ok = self.moderator.check_outgoing(name).allowed
            self._names[name] = ok
            if len(self._names) > _NAME_CACHE:
                self._names.popitem(last=False)
        return ok

    def _count(self, what: str) -> str:
        self.counts[what] += 1
        return what

    def snapshot(self) -> dict:
        """Counters for /status."""
        out = {"pipeline": dict(self.counts), "notes": dict(self.notes), "viewer_count": self.viewer_count, "watched_count": self.watched_count}
        if self.source is not None:
            out["source"] = {"kind": self.source.kind, **self.source.stats.snapshot()}
        return out


def _rate_key(event: ChatEvent) -> int:
    """The key for per-user limits: the uid, or (bilibili sends uid 0 to anonymous connections) a stable
    negative number derived from the name, so masked viewers are still rate-limited one by one."""
    if event.uid or not event.uname:
        return event.uid
    return -(zlib.crc32(event.uname.encode("utf-8")) + 1)
