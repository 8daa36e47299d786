"""Schedules on APScheduler with a persistent SQLite job table, driven by a controlled clock."""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import apscheduler.executors.base
import apscheduler.schedulers.base
import pytest

from scripts_library.scheduler import ScheduleError, ScriptScheduler, UnknownJob, job_specs
from scripts_library.script_file import load_library
from scripts_library.settings import ScriptsSettings

FIXTURES = Path("/work/shared/fixtures")
TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 11, 16, 20, 0, 5, tzinfo=TZ)  # the zh replay's evening, a few seconds past the hour


class FakeClock:
    """The scheduler's clock: APScheduler 3 reads ``datetime.now(tz)`` in two modules; both see this time."""

    def __init__(self, start: datetime):
        self.t = start
        clock = self

        class _Now(datetime):
            @classmethod
            def now(cls, tz=None):  # noqa: ANN001
                return clock.t.astimezone(tz) if tz else clock.t.replace(tzinfo=None)

        self._patches = [mock.patch.object(apscheduler.schedulers.base, "datetime", _Now),
                         mock.patch.object(apscheduler.executors.base, "datetime", _Now)]

    def now(self) -> datetime:
        return self.t

    def __enter__(self) -> "FakeClock":
        for p in self._patches:
            p.start()
        return self

    def __exit__(self, *exc) -> None:
        for p in reversed(self._patches):
            p.stop()


@pytest.fixture
def clock():
    with FakeClock(START) as c:
        yield c


@pytest.fixture
def library():
    return load_library(FIXTURES / "shop_zh" / "scripts")


def _scheduler(db: Path, clock: FakeClock, grace: int = 900) -> ScriptScheduler:
    return ScriptScheduler(f"sqlite:///{db}", timezone="Asia/Shanghai", misfire_grace_s=grace, now=clock.now).open()


def _advance(scheduler: ScriptScheduler, clock: FakeClock, until: datetime, step_s: float = 20) -> list[tuple[datetime, str]]:
    """Move the clock like the host's loop does: to the scheduler's next wake-up, or ``step_s`` (the poll)."""
    fired = []
    wait = 0.0
    while clock.t < until:
        clock.t = min(clock.t + timedelta(seconds=min(step_s, wait if wait is not None else step_s)), until)
        events, wait = scheduler.run_due_and_wait()
        fired += [(clock.t, e.job_id) for e in events]
    return fired


def test_interval_and_cron_jobs_fire_on_time(tmp_path, clock, library):
    settings = ScriptsSettings(carousel_every_min=10)
    scheduler = _scheduler(tmp_path / "host.db", clock)
    scheduler.sync(job_specs(library, settings))
    fired = _advance(scheduler, clock, START + timedelta(hours=2), step_s=30)
    scheduler.close()
    by_job: dict[str, list[datetime]] = {}
    for t, job in fired:
        by_job.setdefault(job, []).append(t)
    # every: 15m, counted from start; the loop wakes exactly at each due time
    assert by_job["script:p-watch-s3"] == [START + timedelta(minutes=15 * k) for k in range(1, 9)]
    # cron "0 */1 * * *" -> 21:00 and 22:00; cron "30 */2 * * *" -> 20:30 and 22:30 is outside the window
    assert [t.strftime("%H:%M") for t in by_job["script:p-powerbank-m10"]] == ["21:00", "22:00"]
    assert [t.strftime("%H:%M:%S") for t in by_job["script:p-lamp-l5"]] == ["20:30:00"]
    assert len(by_job["script:idle"]) == 40  # every 3m over 2 h
    assert len(by_job["carousel"]) == 12


def test_restart_keeps_the_schedule(tmp_path, clock, library):
    db = tmp_path / "host.db"
    first = _scheduler(db, clock)
    first.sync(job_specs(library, ScriptsSettings()))
    fired = _advance(first, clock, START + timedelta(minutes=20))
    assert [j for _, j in fired].count("script:p-watch-s3") == 1  # at 20:15:05
    first.close()

    clock.t = START + timedelta(minutes=22)  # down for two minutes
    second = _scheduler(db, clock)
    summary = second.sync(job_specs(library, ScriptsSettings()))
    assert len(summary["kept"]) == 7 and not summary["added"] and not summary["replaced"]
    jobs = {j.id: j for j in second.jobs()}
    # the 15-minute rhythm continues from the first start (20:30:05), not from the restart (20:37)
    assert jobs["script:p-watch-s3"].next_run_time == START + timedelta(minutes=30)
    fired = _advance(second, clock, START + timedelta(minutes=31))
    assert [t for t, j in fired if j == "script:p-watch-s3"] == [START + timedelta(minutes=30)]
    second.close()


def test_three_hour_outage_fires_each_missed_job_at_most_once(tmp_path, clock, library):
    db = tmp_path / "host.db"
    settings = ScriptsSettings(carousel_every_min=10)
    first = _scheduler(db, clock, grace=900)
    first.sync(job_specs(library, settings))
    _advance(first, clock, START + timedelta(minutes=10))
    first.close()

    clock.t = START + timedelta(hours=3, minutes=10)  # 23:10:05 after three hours down
    second = _scheduler(db, clock, grace=900)
    second.sync(job_specs(library, settings))
    burst = second.run_due()
    counts = Counter(e.job_id for e in burst)
    assert counts and max(counts.values()) == 1, counts
    # the last missed run of the 3-minute idle job was under 3 minutes ago: within grace, so it fires once;
    # the cron job of 22:30 was missed by 40 min (> 15 min grace): skipped, not replayed
    assert counts["script:idle"] == 1
    assert "script:p-lamp-l5" not in counts
    assert second.missed >= 1
    # every fire is the most recent missed run (coalesced), never an old one
    for event in burst:
        assert clock.t - event.scheduled_at <= timedelta(seconds=900)
    # afterwards the normal rhythm resumes without another burst
    after = _advance(second, clock, clock.t + timedelta(minutes=3))
    assert Counter(j for _, j in after)["script:idle"] == 1
    second.close()


def test_pause_resume_and_run_now_survive_restart(tmp_path, clock, library):
    db = tmp_path / "host.db"
    first = _scheduler(db, clock)
    first.sync(job_specs(library, ScriptsSettings()))
    info = first.pause("script:p-watch-s3")
    assert info.paused
    assert "script:p-watch-s3" not in [j for _, j in _advance(first, clock, START + timedelta(minutes=40))]
    event = first.run_now("script:p-watch-s3")  # runs once now, schedule untouched (still paused)
    assert (event.kind, event.target, event.manual) == ("script", "p-watch-s3", True)
    first.close()

    second = _scheduler(db, clock)
    second.sync(job_specs(library, ScriptsSettings()))
    assert {j.id: j.paused for j in second.jobs()}["script:p-watch-s3"] is True  # paused across the restart
    with pytest.raises(UnknownJob):
        second.request_run("script:p-watch-s3")
    resumed = second.resume("script:p-watch-s3")
    assert resumed.next_run_time > clock.t  # no catch-up for the paused period
    second.request_run("script:p-earbuds-a2")  # what `scripts jobs run` does from another process
    assert [j for _, j in _advance(second, clock, clock.t + timedelta(seconds=20))] == ["script:p-earbuds-a2"]
    with pytest.raises(UnknownJob):
        second.pause("no-such-job")
    second.close()


def test_config_jobs_one_off_and_removed_scripts(tmp_path, clock, library):
    db = tmp_path / "host.db"
    at = (START + timedelta(minutes=5)).replace(tzinfo=None)  # naive: read in scripts.timezone
    settings = ScriptsSettings.model_validate({"jobs": [
        {"id": "promo", "script": "p-stand-f1", "at": at.isoformat()},
        {"id": "nightly", "script": "p-lamp-l5", "cron": "0 22 * * *"},
    ]})
    scheduler = _scheduler(db, clock)
    scheduler.sync(job_specs(library, settings))
    fired = _advance(scheduler, clock, START + timedelta(minutes=6))
    assert ("config:promo" in [j for _, j in fired]) and "config:promo" not in {j.id for j in scheduler.jobs()}
    # a restart does not bring the fired one-off back; a script that disappeared loses its job
    smaller = load_library(FIXTURES / "shop_zh" / "scripts")
    del smaller.scripts["p-kidswatch-k2"]
    summary = scheduler.sync(job_specs(smaller, settings))
    assert summary["expired"] == ["config:promo"] and summary["removed"] == ["script:p-kidswatch-k2"]
    scheduler.close()
    bad = ScriptsSettings.model_validate({"jobs": [{"id": "x", "script": "p-nope", "every": "5m"}]})
    with pytest.raises(ScheduleError, match=r"scripts\.jobs\[0\]\.script"):
        job_specs(library, bad)


async def test_run_loop_fires_on_the_event_loop(tmp_path):
    """The asyncio loop form, in real time: a 1-second job fires while the loop keeps running."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "promo.md").write_text("---\nproduct_id: p-x\ntitle: promo\n---\nHello.\n", encoding="utf-8")
    library = load_library(tmp_path / "scripts")
    settings = ScriptsSettings.model_validate({"jobs": [{"id": "fast", "script": "promo", "every": "1s"}]})
    scheduler = ScriptScheduler(f"sqlite:///{tmp_path / 'sub' / 'host.db'}").open()
    scheduler.sync(job_specs(library, settings))
    fired = []
    loop_thread = []

    def on_fire(event):
        import threading

        fired.append(event)
        loop_thread.append(threading.current_thread() is threading.main_thread())

    task = asyncio.create_task(scheduler.run(on_fire, poll_s=0.2))
    for _ in range(60):
        await asyncio.sleep(0.1)
        if fired:
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    scheduler.close()
    assert fired and fired[0].job_id == "config:fast" and all(loop_thread)
    assert (tmp_path / "sub" / "host.db").exists()


def test_jobs_cli_across_processes(tmp_path):
    """`scripts jobs` in separate processes on one SQLite file: sync, pause, list, run; the host sees it."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    db = tmp_path / "var" / "host.db"
    config = tmp_path / "host.toml"
    config.write_text(f'[scripts]\ndir = "{FIXTURES / "shop_zh" / "scripts"}"\ndatabase_url = "sqlite:///{db}"\n'
                      '[[scripts.jobs]]\nid = "promo"\nscript = "p-watch-s3"\ncron = "0 20 * * *"\n', encoding="utf-8")

    def cli(*args):
        return subprocess.run([sys.executable, "main.py", "scripts", "jobs", *args, "--config", str(config)],
                              cwd=repo, capture_output=True, text=True, timeout=120)

    synced = cli("sync")
    assert synced.returncode == 0 and "added=8" in synced.stdout, synced.stderr
    assert cli("pause", "config:promo").returncode == 0
    refused = cli("run", "config:promo")
    assert refused.returncode == 1 and "paused" in refused.stderr
    assert cli("run", "script:p-stand-f1").returncode == 0
    listed = cli("list")
    promo_row = next(row for row in listed.stdout.splitlines() if row.startswith("config:promo"))
    assert "paused" in promo_row

    host = ScriptScheduler(f"sqlite:///{db}").open()  # the host process, later
    jobs = {j.id: j for j in host.jobs()}
    assert jobs["config:promo"].paused and len(jobs) == 8
    assert [e.job_id for e in host.run_due()] == ["script:p-stand-f1"]  # made due by `jobs run`
    host.close()


def test_bad_database_url_is_one_clear_error(tmp_path):
    with pytest.raises(ScheduleError, match=r"scripts\.database_url.*not a database URL"):
        ScriptScheduler("not a url").open()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScheduleError, match=r"cannot open the job table .*scripts\.database_url.*cannot create folder"):
        ScriptScheduler(f"sqlite:///{tmp_path / 'file' / 'host.db'}").open()  # parent is a file


def test_cron_uses_the_configured_time_zone(tmp_path, clock):
    (tmp_path / "p-watch-s3.md").write_text("---\nproduct_id: p-watch-s3\ntitle: S3\n---\nHi\n", encoding="utf-8")
    library = load_library(tmp_path)  # one unscheduled script: only the config job below
    settings = ScriptsSettings.model_validate({"timezone": "America/New_York", "jobs": [
        {"id": "evening", "script": "p-watch-s3", "cron": "0 20 * * *"}]})
    scheduler = ScriptScheduler(f"sqlite:///{tmp_path / 'host.db'}", timezone=settings.timezone,
                                now=clock.now).open()
    scheduler.sync(job_specs(library, settings))
    [evening] = scheduler.jobs()
    # 20:00 in New York on 16 Nov 2024 (EST, UTC-5) is 09:00 on the 17th in Shanghai
    assert evening.next_run_time == datetime(2024, 11, 17, 9, 0, tzinfo=TZ)
    assert evening.next_run_time.utcoffset() == timedelta(hours=-5)
    fired = _advance(scheduler, clock, datetime(2024, 11, 17, 9, 1, tzinfo=TZ), step_s=600)
    assert (datetime(2024, 11, 17, 9, 0, tzinfo=TZ), "config:evening") in fired
    scheduler.close()


def test_changed_schedule_is_replaced_and_grace_updated(tmp_path, clock):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    path = scripts / "p-watch-s3.md"
    path.write_text("---\nproduct_id: p-watch-s3\ntitle: S3\nevery: 15m\n---\nHi\n", encoding="utf-8")
    scheduler = _scheduler(tmp_path / "host.db", clock)
    scheduler.sync(job_specs(load_library(scripts), ScriptsSettings()))
    clock.t += timedelta(minutes=5)
    path.write_text("---\nproduct_id: p-watch-s3\ntitle: S3\nevery: 10m\n---\nHi\n", encoding="utf-8")
    summary = scheduler.sync(job_specs(load_library(scripts), ScriptsSettings()))
    assert summary["replaced"] == ["script:p-watch-s3"]
    [job] = scheduler.jobs()
    assert job.next_run_time == clock.t + timedelta(minutes=10) and job.trigger == "interval[0:10:00]"
    scheduler.close()
    regraced = _scheduler(tmp_path / "host.db", clock, grace=60)
    assert regraced.sync(job_specs(load_library(scripts), ScriptsSettings()))["kept"] == ["script:p-watch-s3"]
    assert regraced.jobs()[0].misfire_grace_s == 60
    regraced.close()
