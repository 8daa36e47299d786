"""Rehearsal: play the configured scripts, schedules and idle filler against a simulated clock.

`python main.py scripts rehearse` shows an operator, in a second, what an hour on air would sound like
with the current `[scripts]` settings: how often each script runs, how many idle lines are said, the
longest silence, and whether idle lines run out. Chat answers arrive at random (seeded) and cut script
lines the way Super Chats do. Speech length is estimated from the text.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from scripts_library.scheduler import FireEvent, job_specs
from scripts_library.service import ScriptsService
from scripts_library.settings import ScriptsSettings


@dataclass(frozen=True)
class Aired:
    """One thing on air during the rehearsal (seconds from its start)."""

    start: float
    end: float
    kind: str  # script | idle | generated | answer
    text: str
    script_id: str | None = None
    segment_index: int = 0


@dataclass
class RehearsalReport:
    """What happened during the rehearsal (times in seconds from its start)."""

    seconds: float
    timeline: list[Aired] = field(default_factory=list)
    fired: list[tuple[float, str]] = field(default_factory=list)  # job fires
    longest_silence_s: float = 0.0
    idle_exhausted: int = 0
    cut_lines: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for aired in self.timeline if aired.kind == kind)

    def airtime(self, kind: str) -> float:
        return sum(a.end - a.start for a in self.timeline if a.kind == kind)

    def script_runs(self) -> list[str]:
        """Script ids in the order their runs started on air."""
        return [a.script_id for a in self.timeline if a.kind == "script" and a.segment_index == 0]

    def summary(self) -> str:
        """A few lines for the operator."""
        total = self.seconds or 1.0
        lines = [f"rehearsed {self.seconds / 60:.0f} min: longest silence {self.longest_silence_s:.1f} s, "
                 f"{len(self.fired)} job fires, {self.cut_lines} script lines cut by answers"]
        for kind in ("script", "idle", "generated", "answer"):
            lines.append(f"  {kind:<9} {self.count(kind):>4} lines  {self.airtime(kind) / total:6.1%} of air time")
        if self.idle_exhausted:
            lines.append(f"  idle lines ran out {self.idle_exhausted} times (product talk filled in); add idle lines "
                         "or lower scripts.idle_no_repeat_min")
        return "\n".join(lines)


def speaking_seconds(text: str) -> float:
    """Rough spoken length: ~4.5 Chinese characters or ~2.7 English words per second."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    words = len(text.split()) if cjk == 0 else 0
    return max(1.0, cjk / 4.5 + words / 2.7)


class Rehearsal:
    """A ScriptsService on a simulated clock, with an in-memory current product and no database."""

    def __init__(self, settings: ScriptsSettings, product_lookup, viewer_count: int | None = 40, seed: int = 1,
                 start: datetime | None = None):
        self.settings = settings
        self.seed = seed
        zone = ZoneInfo(settings.timezone)
        self.start = start or datetime.now(zone).replace(second=0, microsecond=0)
        self.t = 0.0
        self.current: str | None = None
        self.service = ScriptsService(
            settings.model_copy(update={"schedule_enabled": False}),  # fires are simulated from the triggers
            product_lookup=product_lookup,
            set_current_product=self._set_current,
            get_current_product=lambda: self.current,
            viewer_count=lambda: viewer_count,
            now=lambda: self.start + timedelta(seconds=self.t),
            rng=random.Random(seed),
            clock=lambda: self.t,
        )

    def _set_current(self, product_id: str) -> None:
        self.current = product_id

    def run(self, minutes: float = 60.0, chat_every_s: float = 45.0, tick_s: float = 0.25) -> RehearsalReport:
        """Drive the service like the director does: answers first, then script segments, then idle lines."""
        service, rng = self.service, random.Random(self.seed)
        zone = ZoneInfo(self.settings.timezone)
        specs = job_specs(service.library, self.settings) if self.settings.schedule_enabled else []
        triggers = [(spec, spec.trigger(zone, self.start)) for spec in specs]
        next_fire = {spec.id: trigger.get_next_fire_time(None, self.start) for spec, trigger in triggers}
        report = RehearsalReport(seconds=minutes * 60)
        queue: list[float] = []  # durations of chat answers waiting
        on_air = None  # (line or None, start, end)
        last_end: float | None = None

        def air(until: float) -> Aired:
            line, start, _end = on_air
            if line is None:
                return Aired(start, until, "answer", "(answer)")
            return Aired(start, until, line.kind, line.text, line.script_id, line.segment_index)

        step = 0
        while step * tick_s < report.seconds:
            t = self.t = step * tick_s
            step += 1
            now = self.start + timedelta(seconds=t)
            for spec, trigger in triggers:
                due = next_fire[spec.id]
                if due is not None and due <= now:
                    report.fired.append((t, spec.id))
                    service.on_fire(FireEvent(spec.id, spec.kind, spec.target, due))
                    next_fire[spec.id] = trigger.get_next_fire_time(due, now)
            if chat_every_s > 0 and rng.random() < tick_s / chat_every_s:
                queue.append(rng.uniform(2.0, 9.0))
            is_script = on_air is not None and on_air[0] is not None and on_air[0].kind == "script"
            if is_script and queue and rng.random() < 0.3:
                service.report(on_air[0], spoken=False)  # a Super Chat cuts the script line
                report.timeline.append(air(t))
                report.cut_lines += 1
                last_end, on_air = t, None
            if on_air is not None and t >= on_air[2]:
                if on_air[0] is not None:
                    service.report(on_air[0], spoken=True)
                report.timeline.append(air(on_air[2]))
                last_end, on_air = on_air[2], None
            if on_air is not None:
                continue
            if queue:
                on_air = (None, t, t + queue.pop(0))
                continue
            line = service.next_line(t, True, last_end)
            if line is not None:
                on_air = (line, t, t + speaking_seconds(line.text))
        if on_air is not None:
            report.timeline.append(air(min(on_air[2], report.seconds)))
        report.timeline.sort(key=lambda a: a.start)
        silence_from = [0.0] + [a.end for a in report.timeline]
        silence_to = [a.start for a in report.timeline] + [report.seconds]
        report.longest_silence_s = max(b - a for a, b in zip(silence_from, silence_to))
        report.idle_exhausted = service.idle.stats.exhausted
        return report
