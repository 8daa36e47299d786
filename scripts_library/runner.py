"""ScriptRunner: plays product scripts one segment at a time, strictly in order.

The director pulls ``next_segment()``, speaks it, then reports ``mark_spoken(line)`` or
``interrupted(line)``. An interrupted script resumes at the segment after the interrupted one:
never from the start, never out of order. Only one line is out at a time, so order cannot break
even if the director asks twice; ``upcoming()`` previews what comes next for pre-rendering.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from scripts_library.script_file import Script, ScriptLibrary
from scripts_library.script_line import ScriptLine
from scripts_library.segment_template import AlternativePicker, MissingValue
from scripts_library.speaking_values import SpeakingValues

log = logging.getLogger(__name__)


@dataclass
class _Run:
    script: Script
    run_id: int
    next_index: int = 0
    reason: str = ""


@dataclass
class RunnerStats:
    """Counters for the status line and metrics."""

    started: int = 0
    finished: int = 0
    spoken: int = 0
    interrupted: int = 0
    skipped_missing_value: int = 0
    abandoned: int = 0
    timed_out: int = 0


class ScriptRunner:
    """Queue of product scripts; hands out one filled segment at a time, in order."""

    def __init__(
        self,
        library: ScriptLibrary,
        values: SpeakingValues,
        picker: AlternativePicker | None = None,
        on_script_start: Callable[[Script], None] | None = None,
        line_timeout_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        language: str = "auto",
    ):
        self._library = library
        self._values = values
        self._picker = picker or AlternativePicker()
        self._on_start = on_script_start
        self._timeout = line_timeout_s
        self._clock = clock
        self._language = language
        self._lock = threading.RLock()
        self._active: _Run | None = None
        self._pending: deque[_Run] = deque()
        self._in_flight: ScriptLine | None = None
        self._in_flight_since = 0.0
        self._planned: dict[tuple[str, int], tuple[int, ...]] = {}
        self._run_ids = 0
        self.stats = RunnerStats()

    # -- queueing -------------------------------------------------------------------------------
    def enqueue(self, script_id: str, reason: str = "schedule") -> bool:
        """Queue a script to play after the current one; False if unknown, an idle pool, or already queued."""
        with self._lock:
            script = self._playable(script_id)
            if script is None:
                return False
            if self._active and self._active.script.id == script_id or any(r.script.id == script_id for r in self._pending):
                log.debug("script already queued", extra={"script": script_id, "reason": reason})
                return False
            self._pending.append(self._new_run(script, reason))
            log.debug("script queued", extra={"script": script_id, "reason": reason, "pending": len(self._pending)})
            return True

    def switch_to(self, script_id: str, reason: str = "admin") -> bool:
        """Drop the current script and start ``script_id`` from its first segment now (admin /product)."""
        with self._lock:
            script = self._playable(script_id)
            if script is None:
                return False
            if self._active is not None:
                self._drop_run(self._active, "switched")
            self._pending = deque(r for r in self._pending if r.script.id != script_id)
            self._in_flight = None
            self._active = None
            self._pending.appendleft(self._new_run(script, reason))
            return True

    def clear(self) -> None:
        """Drop the current and queued scripts (e.g. the operator paused scripted talk)."""
        with self._lock:
            if self._active is not None:
                self._drop_run(self._active, "cleared")
            for run in self._pending:
                self._planned_drop(run.script.id)
            self._active, self._in_flight = None, None
            self._pending.clear()

    # -- handing out ----------------------------------------------------------------------------
    def next_segment(self) -> ScriptLine | None:
        """The next segment with its text filled now, or None (nothing to say, or a line is still out)."""
        with self._lock:
            self._expire_in_flight()
            if self._in_flight is not None:
                return None
            while True:
                run = self._activate()
                if run is None:
                    return None
                line = self._line_at(run, run.next_index, plan_only=False)
                if line is None:  # a value is missing right now: skip this segment, keep order
                    run.next_index += 1
                    continue
                self._in_flight, self._in_flight_since = line, self._clock()
                return line

    def mark_spoken(self, line: ScriptLine) -> bool:
        """The line was played to the end; the script moves on to the next segment."""
        with self._lock:
            if not self._is_out(line):
                return False
            self.stats.spoken += 1
            self._advance_past(line)
            return True

    def interrupted(self, line: ScriptLine, started: bool = True) -> bool:
        """A higher-priority utterance cut the line: resume at the next segment (``started=False``: same one)."""
        with self._lock:
            if not self._is_out(line):
                return False
            self.stats.interrupted += 1
            log.info("script line interrupted", extra={"script": line.script_id, "segment": line.segment_index,
                                                        "resume_at": line.segment_index + (1 if started else 0)})
            if started:
                self._advance_past(line)
            else:
                self._in_flight = None
            return True

    def upcoming(self, count: int) -> list[ScriptLine]:
        """Preview of the next ``count`` lines after the one out (filled now) for pre-rendering.

        Alternatives are fixed here, so the text at speaking time matches unless a value changed.
        """
        with self._lock:
            lines: list[ScriptLine] = []
            runs = ([self._active] if self._active else []) + list(self._pending)
            for run in runs:
                start = run.next_index
                if self._in_flight is not None and run is self._active:
                    start = self._in_flight.segment_index + 1
                for index in range(start, len(run.script.segments)):
                    if len(lines) >= count:
                        return lines
                    line = self._line_at(run, index, plan_only=True)
                    if line is not None:
                        lines.append(line)
            return lines

    # -- state ----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a script is playing or queued."""
        with self._lock:
            return self._active is not None or bool(self._pending) or self._in_flight is not None

    def state(self) -> dict:
        """Snapshot for status output."""
        with self._lock:
            return {
                "active": self._active.script.id if self._active else None,
                "next_segment": self._active.next_index if self._active else None,
                "pending": [r.script.id for r in self._pending],
                "line_out": self._in_flight.segment_index if self._in_flight else None,
            }

    # -- internals ------------------------------------------------------------------------------
    def _playable(self, script_id: str) -> Script | None:
        script = self._library.get(script_id)
        if script is None:
            log.warning("unknown script", extra={"script": script_id})
            return None
        if script.is_idle_pool:
            log.warning("idle scripts are spoken by the idle filler, not queued", extra={"script": script_id})
            return None
        return script

    def _new_run(self, script: Script, reason: str) -> _Run:
        self._run_ids += 1
        return _Run(script=script, run_id=self._run_ids, reason=reason)

    def _activate(self) -> _Run | None:
        while True:
            if self._active is None:
                if not self._pending:
                    return None
                self._active = self._pending.popleft()
                self.stats.started += 1
                log.info("script started", extra={"script": self._active.script.id, "reason": self._active.reason,
                                                  "run": self._active.run_id})
                if self._on_start is not None:
                    try:
                        self._on_start(self._active.script)
                    except Exception:
                        log.exception("script start hook failed", extra={"script": self._active.script.id})
            run = self._active
            if run.next_index < len(run.script.segments):
                return run
            self.stats.finished += 1
            log.debug("script finished", extra={"script": run.script.id, "run": run.run_id})
            self._planned_drop(run.script.id)
            self._active = None

    def _line_at(self, run: _Run, index: int, plan_only: bool) -> ScriptLine | None:
        script = run.script
        segment = script.segments[index]
        key = (script.id, index)
        choices = self._planned.get(key)
        if choices is None:
            choices = self._picker.choose(key, segment.template)
            self._planned[key] = choices
        if not plan_only:
            self._planned.pop(key, None)
        language = script.language if self._language == "auto" else self._language
        try:
            text = segment.template.fill(choices, self._values.resolver(script.product_id, language))
        except MissingValue as exc:
            if not plan_only:
                self.stats.skipped_missing_value += 1
                log.warning("segment skipped: no value for a variable", extra={
                    "script": script.id, "segment": index, "variable": exc.name, "source": f"{script.path}:{segment.line}"})
            return None
        return ScriptLine(text=text, kind="script", script_id=script.id, segment_index=index,
                          segment_count=len(script.segments), product_id=script.product_id, run_id=run.run_id,
                          source=f"{script.path}:{segment.line}", key=key)

    def _is_out(self, line: ScriptLine) -> bool:
        out = self._in_flight
        ok = out is not None and out.run_id == line.run_id and out.segment_index == line.segment_index
        if not ok:
            log.debug("report for a line that is not out ignored", extra={"script": line.script_id,
                                                                          "segment": line.segment_index})
        return ok

    def _advance_past(self, line: ScriptLine) -> None:
        if self._active is not None and self._active.run_id == line.run_id:
            self._active.next_index = max(self._active.next_index, line.segment_index + 1)
        self._in_flight = None

    def _expire_in_flight(self) -> None:
        if self._in_flight is not None and self._clock() - self._in_flight_since > self._timeout:
            self.stats.timed_out += 1
            log.warning("script line never confirmed; moving on", extra={
                "script": self._in_flight.script_id, "segment": self._in_flight.segment_index})
            self._advance_past(self._in_flight)

    def _drop_run(self, run: _Run, why: str) -> None:
        self.stats.abandoned += 1
        self._planned_drop(run.script.id)
        log.info("script dropped", extra={"script": run.script.id, "run": run.run_id, "why": why,
                                          "at_segment": run.next_index})

    def _planned_drop(self, script_id: str) -> None:
        for key in [k for k in self._planned if k[0] == script_id]:
            del self._planned[key]
