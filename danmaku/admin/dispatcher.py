"""Authorize and carry out admin commands; audit every attempt.

Policy (decided here, documented in docs/danmaku.md):
- uids listed in ``chat.admin.uids`` may run every command, from any platform source;
- bilibili room admins (the platform's own flag, info[2][2] == 1, which viewers cannot forge) may run
  ``chat.admin.room_admin_commands`` (default: moderation commands and /status, not /say or /pause)
  when ``chat.admin.trust_room_admins`` is true;
- the console and the HTTP API are authenticated by themselves (the console app, the bearer token) and
  may run every command;
- anyone else: never executed, audited as ``denied``.
Moderation commands (mute, unmute, ban, unban, reload) and /status run here; say, skip, pause, resume
and product go to the handler the director registers, or, when none is registered, to ``forward``
(the pipeline puts them into the triage queue's admin class).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from danmaku.admin.audit import AuditLog, AuditRecord
from danmaku.admin.commands import (DIRECTOR_COMMANDS, Actor, AdminCommand, CommandError, CommandName,
                                    looks_like_command, parse_command)
from danmaku.events import ChatEvent, EventKind

if TYPE_CHECKING:
    from danmaku.moderation import Moderator
    from danmaku.settings import AdminSettings

log = logging.getLogger(__name__)
Handler = Callable[[AdminCommand], Awaitable[Any] | Any]


@dataclass(frozen=True, slots=True)
class AdminResult:
    """What happened: ``result`` as in the audit, ``message`` for the person who asked."""

    command: AdminCommand | None
    authorized: bool
    result: str
    message: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form (for the HTTP API)."""
        cmd = self.command
        return {"command": cmd.name.value if cmd else None, "args": cmd.args() if cmd else {},
                "authorized": self.authorized, "result": self.result, "message": self.message}


class AdminPolicy:
    """Who may run what (see module docstring)."""

    def __init__(self, uids: list[int] | None = None, trust_room_admins: bool = True,
                 room_admin_commands: list[str] | None = None) -> None:
        self.uids = set(uids or [])
        self.trust_room_admins = trust_room_admins
        names = room_admin_commands if room_admin_commands is not None else ["mute", "unmute", "skip", "ban",
                                                                               "unban", "status"]
        self.room_admin_commands = {CommandName(n) for n in names}

    @classmethod
    def from_settings(cls, settings: "AdminSettings") -> "AdminPolicy":
        """Build from ``[chat.admin]``."""
        try:
            return cls(settings.uids, settings.trust_room_admins, settings.room_admin_commands)
        except ValueError as exc:
            raise ValueError(f"chat.admin.room_admin_commands: {exc}") from None

    def may_command(self, actor: Actor) -> bool:
        """Could this actor run any command at all (decides whether bad syntax is explained or denied)."""
        return (actor.source in ("console", "http") or (actor.uid != 0 and actor.uid in self.uids)
                or (self.trust_room_admins and actor.is_room_admin and actor.platform == "bilibili"))

    def allows(self, actor: Actor, name: CommandName) -> bool:
        """May ``actor`` run ``name``?"""
        if actor.source in ("console", "http"):
            return True
        if actor.uid != 0 and actor.uid in self.uids:
            return True
        return (self.trust_room_admins and actor.is_room_admin and actor.platform == "bilibili"
                and name in self.room_admin_commands)


class AdminDispatcher:
    """Parses, authorizes, executes and audits admin commands from every entry point."""

    def __init__(self, policy: AdminPolicy, audit: AuditLog, moderator: "Moderator | None" = None,
                 prefix: str = "/", default_mute_minutes: float = 60.0) -> None:
        self.policy = policy
        self.audit = audit
        self.moderator = moderator
        self.prefix = prefix
        self.default_mute_minutes = default_mute_minutes
        self.handlers: dict[CommandName, Handler] = {}
        self.forward: Handler | None = None  # director commands without a handler go here
        self.status_providers: dict[str, Callable[[], Any]] = {}

    def register(self, name: CommandName | str, handler: Handler) -> None:
        """Let the director carry out ``name`` (replaces the default for that command)."""
        self.handlers[CommandName(name)] = handler

    def is_command(self, text: str) -> bool:
        """Does ``text`` start with the command prefix?"""
        return looks_like_command(text, self.prefix)

    async def handle_chat(self, event: ChatEvent) -> AdminResult | None:
        """A chat comment that is a /command: authorize and run it. None when it is not a command."""
        if event.kind is not EventKind.COMMENT or not self.is_command(event.text):
            return None
        return await self.execute_text(event.text, self.actor_for(event))

    @staticmethod
    def actor_for(event: ChatEvent) -> Actor:
        """The actor behind a chat comment."""
        return Actor(source="chat", uid=event.uid, uname=event.uname, platform=event.platform,
                     is_room_admin=event.is_room_admin)

    async def execute_text(self, text: str, actor: Actor) -> AdminResult:
        """Parse ``text`` as a command from ``actor`` and run it if allowed; always audited."""
        try:
            cmd = parse_command(text, actor, self.prefix)
        except CommandError as exc:
            if not self.policy.may_command(actor):
                return self._audit(None, text, actor, False, "denied", "not an admin")
            return self._audit(None, text, actor, True, "invalid", str(exc))
        if cmd is None:
            return self._audit(None, text, actor, self.policy.may_command(actor), "invalid",
                               f"commands start with {self.prefix}")
        return await self.execute(cmd)

    async def execute(self, cmd: AdminCommand) -> AdminResult:
        """Run an already parsed command if its actor is allowed; always audited."""
        if not self.policy.allows(cmd.actor, cmd.name):
            return self._audit(cmd, cmd.raw, cmd.actor, False, "denied",
                               "not an admin" if not self.policy.may_command(cmd.actor) else "room admins may not run this")
        try:
            result, message = await self._run(cmd)
        except Exception as exc:
            log.exception("admin command failed", extra={"command": cmd.name.value})
            return self._audit(cmd, cmd.raw, cmd.actor, True, "failed", f"{type(exc).__name__}: {exc}")
        return self._audit(cmd, cmd.raw, cmd.actor, True, result, message)

    async def _run(self, cmd: AdminCommand) -> tuple[str, str]:
        handler = self.handlers.get(cmd.name)
        if handler is not None:
            out = handler(cmd)
            if asyncio.iscoroutine(out):
                out = await out
            return "ok", "" if out is None else str(out)
        name, mod = cmd.name, self.moderator
        if name is CommandName.MUTE and mod is not None:
            minutes = cmd.minutes if cmd.minutes is not None else self.default_mute_minutes
            mod.mute(cmd.uid, minutes)
            return "ok", f"muted {cmd.uid} for {minutes:g} min"
        if name is CommandName.UNMUTE and mod is not None:
            return "ok", f"unmuted {cmd.uid}" if mod.unmute(cmd.uid) else f"{cmd.uid} was not muted"
        if name is CommandName.BAN and mod is not None:
            mod.ban(cmd.word)
            return "ok", "word banned"
        if name is CommandName.UNBAN and mod is not None:
            return "ok", "word unbanned" if mod.unban(cmd.word) else "word was not banned"
        if name is CommandName.RELOAD and mod is not None:
            return "ok", f"{mod.reload()} banned words loaded"
        if name is CommandName.STATUS:
            return "ok", str(self.status())
        if name in DIRECTOR_COMMANDS and self.forward is not None:
            out = self.forward(cmd)
            if asyncio.iscoroutine(out):
                await out
            return "queued", "for the director"
        return "unavailable", f"no handler for /{name.value}"

    def status(self) -> dict:
        """Status from every registered provider (sources, triage, moderation...)."""
        out: dict = {}
        for key, provider in self.status_providers.items():
            try:
                out[key] = provider()
            except Exception as exc:
                out[key] = f"error: {exc}"
        if self.moderator is not None:
            out.setdefault("moderation", dict(self.moderator.counts))
            out.setdefault("muted", sorted(self.moderator.muted))
        return out

    def _audit(self, cmd: AdminCommand | None, raw: str, actor: Actor, authorized: bool, result: str,
               detail: str) -> AdminResult:
        record = AuditRecord(ts=time.time(), actor_source=actor.source, actor_uid=actor.uid,
                             actor_name=actor.uname, command=cmd.name.value if cmd else "",
                             args=cmd.args() if cmd else {}, raw=raw[:500], authorized=authorized,
                             result=result, detail=detail[:500])
        self.audit.append(record)
        return AdminResult(cmd, authorized, result, detail)
