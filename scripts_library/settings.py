"""Configuration section for scripts_library/ (validated from TOML; unknown keys are errors)."""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EVERY_PATTERN = re.compile(r"^\s*(\d+)\s*([smh])\s*$")


class ScheduledJobSettings(BaseModel):
    """One `[[scripts.jobs]]` entry: play a script on a schedule (exactly one of every/cron/at)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    script: str
    every: str | None = None  # "<int>s|m|h", e.g. "15m"
    cron: str | None = None  # 5-field crontab, e.g. "0 20 * * *"
    at: datetime | None = None  # one-off, ISO 8601; naive times use scripts.timezone

    @field_validator("every")
    @classmethod
    def _every_format(cls, value: str | None) -> str | None:
        if value is not None:
            match = EVERY_PATTERN.match(value)
            if not match:
                raise ValueError("expected '<int>s', '<int>m' or '<int>h', e.g. '15m'")
            if int(match.group(1)) <= 0:
                raise ValueError("the interval must be positive")
        return value

    @field_validator("cron")
    @classmethod
    def _cron_format(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"not a 5-field crontab expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _exactly_one_schedule(self) -> "ScheduledJobSettings":
        given = [k for k in ("every", "cron", "at") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of every, cron, at")
        return self


class ScriptsSettings(BaseModel):
    """Scripts, schedules, carousel and idle filler (docs/scripts.md)."""

    model_config = ConfigDict(extra="forbid")

    # Where the Markdown scripts live ("" = no scripts: the host only answers chat).
    dir: str = ""
    # "auto" picks zh or en per script from its text; used to speak {time}.
    language: str = Field(default="auto", pattern=r"^(auto|zh|en)$")
    # Schedules: persistent APScheduler job store in the project's database (own table).
    schedule_enabled: bool = True
    database_url: str = "sqlite:///var/host.db"
    jobs_table: str = Field(default="scripts_jobs", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timezone: str = "Asia/Shanghai"
    # A job missed by more than this (host down) is skipped; missed runs are coalesced into one.
    misfire_grace_s: int = Field(default=900, ge=1)
    # How often the running host re-reads the job table (picks up `scripts jobs` CLI changes).
    poll_s: float = Field(default=30.0, gt=0)
    jobs: list[ScheduledJobSettings] = []
    # Carousel: rotate the current product every N minutes (0 = only on admin /product ID).
    carousel_every_min: int = Field(default=0, ge=0)
    carousel_products: list[str] = []  # empty = every product that has a script, in file order
    # Scheduled scripts and carousel turns skip products whose stock is 0 (admin /product still works).
    skip_sold_out: bool = True
    # Idle filler.
    idle_gap_s: float = Field(default=5.0, gt=0)  # longest silence before an idle line
    idle_lead_s: float = Field(default=1.0, ge=0)  # fire this much earlier (pickup + synthesis)
    idle_no_repeat_min: float = Field(default=10.0, ge=0)  # same line never twice within this
    idle_llm: bool = False  # also let the LLM write lines about the current product
    idle_llm_share: float = Field(default=0.3, ge=0, le=1)
    idle_llm_buffer: int = Field(default=2, ge=1, le=20)
    # A script line handed out but never confirmed is given up after this long.
    line_timeout_s: float = Field(default=120.0, gt=0)
    # Pre-rendering: how many upcoming lines to synthesize ahead, and the cache size.
    prerender_ahead: int = Field(default=2, ge=0, le=16)
    prerender_cache: int = Field(default=8, ge=1, le=256)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like 'Asia/Shanghai')") from None
        return value

    @model_validator(mode="after")
    def _lead_below_gap(self) -> "ScriptsSettings":
        if self.idle_lead_s >= self.idle_gap_s:
            raise ValueError("idle_lead_s must be smaller than idle_gap_s")
        ids = [job.id for job in self.jobs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate scripts.jobs id(s): {', '.join(dupes)}")
        return self
