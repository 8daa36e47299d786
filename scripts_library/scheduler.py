"""ScriptScheduler: script schedules on APScheduler 3 with a persistent job table in the project's database.

Jobs come from script front matter (``every``/``cron``/``at``) and from ``[[scripts.jobs]]``; the
carousel's rotation is a job too. They live in their own table (``scripts.jobs_table``) so that a
restart keeps the schedule (next run times, paused jobs). Runs missed while the host was down are
coalesced into one, and skipped when older than ``misfire_grace_s``: never replayed in a burst.

APScheduler runs inside our own loop (``run_due()`` processes due jobs once, with an inline
executor), so a test can drive it with a controlled clock and the host can run it as one asyncio
task; fired jobs come back as ``FireEvent``s on the event loop's thread.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable, Literal
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scripts_library.script_file import Schedule, ScriptLibrary
from scripts_library.settings import ScriptsSettings

log = logging.getLogger(__name__)

JobKind = Literal["script", "idle", "carousel"]
JOB_FUNCTION = "scripts_library.scheduler:scheduled_fire"


def scheduled_fire(kind: str, target: str) -> tuple[str, str]:
    """Body of every stored job (referenced by name in the job table); the scheduler turns it into a FireEvent."""
    return kind, target


class ScheduleError(Exception):
    """A schedule in the config or a script cannot be used (message names the key or file:line)."""


class UnknownJob(LookupError):
    """No job with that id in the job table (`python main.py scripts jobs list` shows the ids)."""


@dataclass(frozen=True)
class JobSpec:
    """A wanted job: what fires (``kind``/``target``) and when (``schedule``); ``source`` names where it came from."""

    id: str
    kind: JobKind
    target: str
    schedule: Schedule
    source: str

    def trigger(self, tz: ZoneInfo, now: datetime) -> BaseTrigger:
        """The APScheduler trigger; intervals start one interval after ``now``."""
        if self.schedule.kind == "every":
            seconds = self.schedule.interval_seconds()
            return IntervalTrigger(seconds=seconds, start_date=now + timedelta(seconds=seconds), timezone=tz)
        if self.schedule.kind == "cron":
            return CronTrigger.from_crontab(self.schedule.value, timezone=tz)
        run_date = datetime.fromisoformat(self.schedule.value)
        if run_date.tzinfo is None:
            run_date = run_date.replace(tzinfo=tz)
        return DateTrigger(run_date=run_date, timezone=tz)


@dataclass(frozen=True)
class FireEvent:
    """A job fired: ``kind`` script -> queue ``target``; idle -> one idle line; carousel -> rotate."""

    job_id: str
    kind: JobKind
    target: str
    scheduled_at: datetime | None
    manual: bool = False


@dataclass(frozen=True)
class JobInfo:
    """One row of `scripts jobs list`."""

    id: str
    kind: str
    target: str
    trigger: str
    next_run_time: datetime | None
    misfire_grace_s: int | None = None

    @property
    def paused(self) -> bool:
        return self.next_run_time is None


def job_specs(library: ScriptLibrary, settings: ScriptsSettings) -> list[JobSpec]:
    """Jobs wanted by the scripts' front matter, ``[[scripts.jobs]]`` and the carousel setting."""
    specs: list[JobSpec] = []
    for script in library.scripts.values():
        if script.schedule is not None:
            kind: JobKind = "idle" if script.is_idle_pool else "script"
            specs.append(JobSpec(f"script:{script.id}", kind, script.id, script.schedule,
                                 f"{script.path}:{script.schedule.line}"))
    for n, job in enumerate(settings.jobs):
        script = library.get(job.script)
        if script is None:
            raise ScheduleError(f"config key 'scripts.jobs[{n}].script': no script '{job.script}' in "
                                f"{library.directory or '(scripts.dir is empty)'}")
        if job.every is not None:
            schedule = Schedule("every", job.every, 0)
        elif job.cron is not None:
            schedule = Schedule("cron", job.cron, 0)
        else:
            schedule = Schedule("at", job.at.isoformat(), 0)
        specs.append(JobSpec(f"config:{job.id}", "idle" if script.is_idle_pool else "script", script.id, schedule,
                             f"scripts.jobs[{n}]"))
    if settings.carousel_every_min > 0:
        specs.append(JobSpec("carousel", "carousel", "", Schedule("every", f"{settings.carousel_every_min}m", 0),
                             "scripts.carousel_every_min"))
    return specs


class _SteppedScheduler(BaseScheduler):
    """APScheduler without its own thread: ``run_due()`` processes due jobs once and says how long to wait."""

    def __init__(self, on_wakeup: Callable[[], None] | None = None, **options):
        super().__init__(**options)
        self.on_wakeup = on_wakeup

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def wakeup(self) -> None:
        if self.on_wakeup is not None:
            self.on_wakeup()

    def run_due(self) -> float | None:
        return self._process_jobs()


def _signature(trigger: BaseTrigger) -> str:
    # str() of a trigger names its fields (interval length, cron fields, run date) but not the interval's
    # start date, so a restart with the same schedule keeps the stored next run time.
    return f"{trigger}@{getattr(trigger, 'timezone', '')}"


class ScriptScheduler:
    """Persistent schedules for scripts, idle lines and the carousel; admin list/pause/resume/run now."""

    def __init__(
        self,
        database_url: str = "sqlite:///var/host.db",
        table: str = "scripts_jobs",
        timezone: str = "Asia/Shanghai",
        misfire_grace_s: int = 900,
        now: Callable[[], datetime] | None = None,
    ):
        self.timezone = ZoneInfo(timezone)
        self._url = database_url
        self._table = table
        self._grace = misfire_grace_s
        self._now = now or (lambda: datetime.now(self.timezone))
        self._scheduler: _SteppedScheduler | None = None
        self._fired: list[FireEvent] = []
        self._fired_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self.missed = 0

    # -- lifecycle --------------------------------------------------------------------------------
    def open(self) -> "ScriptScheduler":
        """Connect to the job table (created if missing)."""
        if self._scheduler is not None:
            return self
        url = _database_url(self._url)
        try:
            scheduler = _SteppedScheduler(
                jobstores={"default": SQLAlchemyJobStore(url=url, tablename=self._table)},
                executors={"default": DebugExecutor()},
                job_defaults={"coalesce": True, "misfire_grace_time": self._grace, "max_instances": 1},
                timezone=self.timezone,
            )
            scheduler.add_listener(self._on_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
            scheduler.start()
        except Exception as exc:
            raise ScheduleError(f"cannot open the job table '{self._table}' at {self._url} "
                                f"(config key scripts.database_url): {str(exc).splitlines()[0]}") from None
        self._scheduler = scheduler
        return self

    @property
    def is_open(self) -> bool:
        return self._scheduler is not None

    def close(self) -> None:
        """Release the database connection (the jobs stay in the table)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    def __enter__(self) -> "ScriptScheduler":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the wanted jobs ---------------------------------------------------------------------------
    def sync(self, specs: Iterable[JobSpec]) -> dict[str, list[str]]:
        """Make the job table match ``specs``: unchanged jobs keep their next run time and paused state."""
        scheduler = self._open_scheduler()
        now = self._now()
        wanted = {spec.id: spec for spec in specs}
        stored = {job.id: job for job in scheduler.get_jobs()}
        summary: dict[str, list[str]] = {"kept": [], "added": [], "replaced": [], "removed": [], "expired": []}
        for job_id, job in stored.items():
            if job_id not in wanted:
                scheduler.remove_job(job_id)
                summary["removed"].append(job_id)
        for job_id, spec in wanted.items():
            trigger = spec.trigger(self.timezone, now)
            args = (spec.kind, spec.target)
            old = stored.get(job_id)
            if old is not None and _signature(old.trigger) == _signature(trigger) and tuple(old.args) == args:
                if old.misfire_grace_time != self._grace or not old.coalesce:
                    scheduler.modify_job(job_id, misfire_grace_time=self._grace, coalesce=True)
                summary["kept"].append(job_id)
                continue
            next_run = trigger.get_next_fire_time(None, now)
            if spec.schedule.kind == "at" and (next_run is None or next_run <= now):
                # Already fired (fired one-offs leave the table) or its time passed while we were down.
                if old is not None:
                    scheduler.remove_job(job_id)
                summary["expired"].append(job_id)
                continue
            scheduler.add_job(JOB_FUNCTION, trigger=trigger, args=args, id=job_id, name=spec.source,
                              replace_existing=True, next_run_time=next_run)
            summary["replaced" if old is not None else "added"].append(job_id)
        log.info("schedule synced", extra={k: len(v) for k, v in summary.items()})
        return summary

    # -- running ------------------------------------------------------------------------------------
    def run_due(self) -> list[FireEvent]:
        """Fire every due job once (blocking: database I/O); returns what fired, in order."""
        events, _wait = self.run_due_and_wait()
        return events

    def run_due_and_wait(self) -> tuple[list[FireEvent], float | None]:
        """``run_due()`` plus the seconds until the next job is due (None: no job scheduled)."""
        wait = self._open_scheduler().run_due()
        with self._fired_lock:
            events, self._fired = self._fired, []
        return events, wait

    async def run(self, on_fire: Callable[[FireEvent], None], poll_s: float = 30.0) -> None:
        """Run until cancelled: fire due jobs (database work in a thread), call ``on_fire`` on the loop's thread."""
        scheduler = self._open_scheduler()
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        wake = self._wake
        scheduler.on_wakeup = lambda: loop.call_soon_threadsafe(wake.set)
        try:
            while True:
                wake.clear()
                try:
                    events, wait = await asyncio.to_thread(self.run_due_and_wait)
                except Exception as exc:  # database hiccup: keep the host running, retry at the next poll
                    log.warning("processing scheduled jobs failed", extra={"error": repr(exc)})
                    events, wait = [], poll_s
                for event in events:
                    try:
                        on_fire(event)
                    except Exception:
                        log.exception("scheduled job handler failed", extra={"job": event.job_id})
                timeout = poll_s if wait is None else min(max(wait, 0.0), poll_s)
                try:
                    await asyncio.wait_for(wake.wait(), timeout)
                except TimeoutError:
                    pass
        finally:
            scheduler.on_wakeup = None

    # -- admin ----------------------------------------------------------------------------------------
    def jobs(self) -> list[JobInfo]:
        """Every job in the table, soonest first, paused last."""
        infos = [JobInfo(job.id, job.args[0], job.args[1], str(job.trigger), job.next_run_time, job.misfire_grace_time)
                 for job in self._open_scheduler().get_jobs()]
        return sorted(infos, key=lambda j: (j.next_run_time is None, j.next_run_time or datetime.min.replace(tzinfo=self.timezone), j.id))

    def pause(self, job_id: str) -> JobInfo:
        """Stop a job firing until resumed (survives restarts)."""
        self._open_scheduler().modify_job(self._job(job_id).id, next_run_time=None)
        log.info("job paused", extra={"job": job_id})
        return self._info(job_id)

    def resume(self, job_id: str) -> JobInfo:
        """Resume a paused job from its next regular fire time (no catch-up of the paused period)."""
        job = self._job(job_id)
        next_run = job.trigger.get_next_fire_time(None, self._now())
        if next_run is None:
            self._open_scheduler().remove_job(job_id)
            raise UnknownJob(f"job '{job_id}' has no future run time left (one-off in the past); removed")
        self._open_scheduler().modify_job(job_id, next_run_time=next_run)
        log.info("job resumed", extra={"job": job_id, "next_run": next_run.isoformat()})
        return self._info(job_id)

    def run_now(self, job_id: str) -> FireEvent:
        """A FireEvent for ``job_id`` now, for the caller to dispatch; the job's own schedule is untouched."""
        job = self._job(job_id)
        log.info("job run now", extra={"job": job_id})
        return FireEvent(job_id, job.args[0], job.args[1], self._now(), manual=True)

    def request_run(self, job_id: str) -> JobInfo:
        """From another process (CLI): make the job due now; the running host fires it at its next poll."""
        job = self._job(job_id)
        if job.next_run_time is None:
            raise UnknownJob(f"job '{job_id}' is paused; resume it first")
        self._open_scheduler().modify_job(job_id, next_run_time=self._now())
        return self._info(job_id)

    # -- internals ------------------------------------------------------------------------------------
    def _open_scheduler(self) -> _SteppedScheduler:
        if self._scheduler is None:
            self.open()
        assert self._scheduler is not None
        return self._scheduler

    def _job(self, job_id: str):
        job = self._open_scheduler().get_job(job_id)
        if job is None:
            raise UnknownJob(f"no job '{job_id}' (see `python main.py scripts jobs list`)")
        return job

    def _info(self, job_id: str) -> JobInfo:
        return next(j for j in self.jobs() if j.id == job_id)

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_EXECUTED and isinstance(event.retval, tuple):
            kind, target = event.retval
            with self._fired_lock:
                self._fired.append(FireEvent(event.job_id, kind, target, event.scheduled_run_time))
            log.debug("job fired", extra={"job": event.job_id, "scheduled": event.scheduled_run_time.isoformat()})
        elif event.code == EVENT_JOB_MISSED:
            self.missed += 1
            log.info("job run skipped: missed by more than scripts.misfire_grace_s", extra={
                "job": event.job_id, "scheduled": event.scheduled_run_time.isoformat()})
        elif event.code == EVENT_JOB_ERROR:
            log.warning("job failed", extra={"job": event.job_id, "error": repr(event.exception)})


def _database_url(url: str):
    """The URL to connect with: SQLite gets its folder created; plain postgresql:// uses psycopg 3 (shipped)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ScheduleError(f"config key 'scripts.database_url': not a database URL: {url!r} "
                            "(e.g. sqlite:///var/host.db or postgresql+psycopg://user@host/db)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ScheduleError(f"cannot open the job table at {url} (config key scripts.database_url): "
                                f"cannot create folder {folder}: {exc.strerror}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed
