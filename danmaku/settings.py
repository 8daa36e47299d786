"""Configuration section for danmaku/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

AdminCommandName = Literal["say", "skip", "pause", "resume", "mute", "unmute", "ban", "unban", "product", "status",
                           "reload"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BilibiliSourceSettings(_Section):
    """``[chat.bilibili]``: the live room and how to reach it."""

    room: int = Field(0, ge=0)  # display room id; 0 = not configured
    api_base: str = ""  # replaces https://api.live.bilibili.com, https://api.bilibili.com and live-trace
    ws_url: str = ""  # replaces the host list from getDanmuInfo, e.g. ws://127.0.0.1:8765/sub
    sessdata_env: str = "BILI_SESSDATA"  # credential env vars (optional; anonymous when unset)
    bili_jct_env: str = "BILI_JCT"
    buvid3_env: str = "BILI_BUVID3"
    heartbeat_interval_s: float = Field(20.0, gt=0)  # our own op-2 heartbeats (the library sends one 30 s after each reply)
    watchdog_s: float = Field(45.0, gt=0)  # no frame at all for this long -> reconnect (the library gives up at ~60 s)
    connect_timeout_s: float = Field(20.0, gt=0)  # HTTP + websocket + auth must finish within this
    reconnect_initial_s: float = Field(0.5, ge=0)
    reconnect_max_s: float = Field(30.0, gt=0)  # capped exponential backoff, retried forever
    buffer_size: int = Field(2000, ge=1)

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (or empty for bilibili's own hosts)")
        return value

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError("must be a ws:// or wss:// URL (or empty for getDanmuInfo's hosts)")
        return value


class ReplaySourceSettings(_Section):
    """``[chat.replay]``: a JSONL recording in bilibili's format ({"t", "cmd", "data"} a line)."""

    file: str = ""
    speed: float = Field(1.0, ge=0)  # 1 = real time, 10 = ten times faster, 0 = as fast as possible
    room: int = Field(0, ge=0)
    loop: bool = False


class ConsoleSourceSettings(_Section):
    """``[chat.console]``: messages typed as a viewer in the web console or sent to its websocket."""

    uname: str = "console"  # default name when a post has none


class ModerationSettings(_Section):
    """``[chat.moderation]``: what incoming chat (and the host's own text) must pass."""

    banned_words_files: list[str] = []  # extra lists; format in docs/danmaku.md
    use_default_list: bool = True  # danmaku/data/banned_words.txt
    max_chars: int = Field(300, ge=10)  # longer text is cut (at a sentence end when possible)
    hard_max_chars: int = Field(2000, ge=10)  # longer than this is refused outright
    rate_limit_count: int = Field(6, ge=1)  # per user, within rate_limit_window_s
    rate_limit_window_s: float = Field(20.0, gt=0)
    duplicate_window_s: float = Field(60.0, ge=0)  # same user, same normalized text -> duplicate
    homophones: bool = True
    auto_reload_s: float = Field(5.0, ge=0)  # re-read changed list files this often (0 = only on /reload)
    log_file: str = ""  # JSONL of every refusal; empty = log only


class AdminSettings(_Section):
    """``[chat.admin]``: who may run /commands and how they are audited."""

    uids: list[int] = []  # platform uids with every command
    trust_room_admins: bool = True  # bilibili room admins (info[2][2]==1) get room_admin_commands
    room_admin_commands: list[AdminCommandName] = ["mute", "unmute", "skip", "ban", "unban", "status"]
    prefix: str = Field("/", min_length=1, max_length=3)
    http_token_env: str = "LIVEHOST_ADMIN_TOKEN"  # bearer token for the admin HTTP API; unset = API disabled
    audit_file: str = "var/admin_audit.jsonl"  # empty = in memory only
    default_mute_minutes: float = Field(60.0, gt=0)


class TriageSettings(_Section):
    """``[chat.triage]``: the bounded queue the director reads."""

    capacity: int = Field(200, ge=1)
    stale_admin_s: float = Field(600.0, gt=0)
    stale_paid_s: float = Field(300.0, gt=0)  # super chat, guard
    stale_gift_s: float = Field(120.0, gt=0)
    stale_question_s: float = Field(90.0, gt=0)
    stale_comment_s: float = Field(30.0, gt=0)
    stale_presence_s: float = Field(15.0, gt=0)  # enter, follow, share, like
    gift_window_s: float = Field(8.0, ge=0)  # one thanks per user per window, with the total
    coalesce_window_s: float = Field(60.0, ge=0)
    coalesce_similarity: float = Field(0.75, gt=0, le=1)


class SenderSettings(_Section):
    """``[chat.sender]``: optional replies into the room as danmaku (off by default)."""

    enabled: bool = False
    max_chars: int = Field(20, ge=1)
    min_interval_s: float = Field(1.5, ge=0)
    too_fast_backoff_s: float = Field(5.0, ge=0)
    max_retries: int = Field(3, ge=0)


class ChatSettings(_Section):
    """``[chat]``: chat sources, moderation, admin commands, triage."""

    source: Literal["bilibili", "console", "replay"] = "console"
    bilibili: BilibiliSourceSettings = BilibiliSourceSettings()
    replay: ReplaySourceSettings = ReplaySourceSettings()
    console: ConsoleSourceSettings = ConsoleSourceSettings()
    moderation: ModerationSettings = ModerationSettings()
    admin: AdminSettings = AdminSettings()
    triage: TriageSettings = TriageSettings()
    sender: SenderSettings = SenderSettings()
