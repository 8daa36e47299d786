"""Typed admin commands and their parser ("/say TEXT", "/mute UID [minutes]", ...)."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import Enum

from danmaku.moderation.text_keys import strip_invisible


class CommandName(str, Enum):
    """Every command an admin can give."""

    SAY = "say"
    SKIP = "skip"
    PAUSE = "pause"
    RESUME = "resume"
    MUTE = "mute"
    UNMUTE = "unmute"
    BAN = "ban"
    UNBAN = "unban"
    PRODUCT = "product"
    STATUS = "status"
    RELOAD = "reload"


USAGE = {
    CommandName.SAY: "/say TEXT",
    CommandName.SKIP: "/skip",
    CommandName.PAUSE: "/pause",
    CommandName.RESUME: "/resume",
    CommandName.MUTE: "/mute UID [minutes]",
    CommandName.UNMUTE: "/unmute UID",
    CommandName.BAN: "/ban WORD",
    CommandName.UNBAN: "/unban WORD",
    CommandName.PRODUCT: "/product ID",
    CommandName.STATUS: "/status",
    CommandName.RELOAD: "/reload",
}
# Commands the director (host/) carries out; the rest are done here (moderation, status, reload).
DIRECTOR_COMMANDS = frozenset({CommandName.SAY, CommandName.SKIP, CommandName.PAUSE, CommandName.RESUME,
                               CommandName.PRODUCT})
_PRODUCT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_SAY_CHARS = 500


class CommandError(ValueError):
    """A /command that cannot run as written (unknown name, bad arguments); the message says the usage."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who gave a command: ``source`` is chat, console or http."""

    source: str
    uid: int = 0
    uname: str = ""
    platform: str = ""
    is_room_admin: bool = False

    @classmethod
    def console(cls, name: str = "console") -> "Actor":
        """The operator at the web console."""
        return cls(source="console", uname=name)

    @classmethod
    def http(cls, name: str = "http") -> "Actor":
        """A caller of the admin HTTP API (authenticated by its bearer token)."""
        return cls(source="http", uname=name)


@dataclass(frozen=True, slots=True)
class AdminCommand:
    """One parsed command; only the fields its name uses are set."""

    name: CommandName
    raw: str
    actor: Actor
    text: str = ""  # /say
    uid: int = 0  # /mute, /unmute
    minutes: float | None = None  # /mute (None = config default)
    word: str = ""  # /ban, /unban
    product_id: str = ""  # /product
    timestamp: float = field(default_factory=time.time)

    def args(self) -> dict:
        """The arguments that apply to this command (for the audit and the HTTP API)."""
        out: dict = {}
        if self.name is CommandName.SAY:
            out["text"] = self.text
        elif self.name in (CommandName.MUTE, CommandName.UNMUTE):
            out["uid"] = self.uid
            if self.minutes is not None:
                out["minutes"] = self.minutes
        elif self.name in (CommandName.BAN, CommandName.UNBAN):
            out["word"] = self.word
        elif self.name is CommandName.PRODUCT:
            out["product_id"] = self.product_id
        return out


def looks_like_command(text: str, prefix: str = "/") -> bool:
    """True when ``text`` starts with the prefix (after invisible characters and spaces)."""
    return isinstance(text, str) and strip_invisible(text).lstrip().replace("／", "/").startswith(prefix)


def parse_command(text: str, actor: Actor, prefix: str = "/") -> AdminCommand | None:
    """Parse ``text``; None when it is not a command at all, CommandError when it is a bad one."""
    if not looks_like_command(text, prefix):
        return None
    body = strip_invisible(text).strip().replace("／", "/")[len(prefix):]
    head, _, rest = body.partition(" ")
    rest = rest.strip()
    try:
        name = CommandName(head.lower())
    except ValueError:
        raise CommandError(f"unknown command {prefix}{head[:30]}; known: "
                           + ", ".join(prefix + n.value for n in CommandName)) from None
    usage = "usage: " + USAGE[name]
    kw: dict = {}
    if name is CommandName.SAY:
        if not rest:
            raise CommandError(usage)
        if len(rest) > MAX_SAY_CHARS:
            raise CommandError(f"/say text is limited to {MAX_SAY_CHARS} characters")
        kw["text"] = rest
    elif name in (CommandName.MUTE, CommandName.UNMUTE):
        parts = rest.split()
        if not parts or not parts[0].isdigit() or len(parts) > (2 if name is CommandName.MUTE else 1):
            raise CommandError(usage)
        kw["uid"] = int(parts[0])
        if len(parts) == 2:
            try:
                minutes = float(parts[1])
            except ValueError:
                raise CommandError(usage) from None
            if not 0 < minutes <= 525_600:
                raise CommandError("minutes must be between 0 and 525600")
            kw["minutes"] = minutes
    elif name in (CommandName.BAN, CommandName.UNBAN):
        if not rest or len(rest) > 50:
            raise CommandError(usage)
        kw["word"] = rest
    elif name is CommandName.PRODUCT:
        if not _PRODUCT_ID.match(rest):
            raise CommandError(usage)
        kw["product_id"] = rest
    elif rest:
        raise CommandError(usage)
    return AdminCommand(name=name, raw=text, actor=actor, **kw)
