"""IdleFiller: says something when the room goes quiet, without flooding and without repeating itself.

The director calls ``due(now, queue_empty, last_speech_end)`` on its tick (monotonic seconds). A line
comes out only when nothing is waiting to be spoken and the silence after the last speech reaches
``gap_s - lead_s`` (the lead leaves time for pickup and synthesis, so the silence stays within
``gap_s``). Lines come from idle scripts (``product_id: null``) or, when configured, from an LLM
writing about the current product (generated ahead by ``refill()``, so ``due()`` never waits).
The same line is never said twice within ``no_repeat_s``.
"""
from __future__ import annotations

import logging
import random
import re
from collections import deque
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from scripts_library.script_file import Script, Segment
from scripts_library.script_line import ScriptLine
from scripts_library.segment_template import AlternativePicker, MissingValue
from scripts_library.speaking_values import SpeakingValues

log = logging.getLogger(__name__)

MEMORY_LIMIT = 2000  # remembered lines before the ones outside the no-repeat window are dropped
LineGenerator = Callable[[Mapping[str, Any] | None], Awaitable[str | None]]


@dataclass
class IdleStats:
    """Counters for the status line and metrics."""

    fired: int = 0
    fired_generated: int = 0
    exhausted: int = 0  # quiet spells with no line left to say (at most one per gap)
    llm_errors: int = 0
    llm_rejected: int = 0


@dataclass
class _Generated:
    text: str
    product_id: str | None


class IdleFiller:
    """Chooses idle lines: gap-driven, never while something is queued, never repeating within a window."""

    def __init__(
        self,
        pools: list[Script],
        values: SpeakingValues,
        picker: AlternativePicker | None = None,
        gap_s: float = 5.0,
        lead_s: float = 1.0,
        no_repeat_s: float = 600.0,
        generator: LineGenerator | None = None,
        llm_share: float = 0.3,
        llm_buffer: int = 2,
        on_exhausted: Callable[[], None] | None = None,
        rng: random.Random | None = None,
        language: str = "auto",
    ):
        if gap_s <= 0 or not 0 <= lead_s < gap_s:
            raise ValueError("need gap_s > 0 and 0 <= lead_s < gap_s")
        self._segments: list[tuple[Script, Segment]] = [(s, seg) for s in pools for seg in s.segments]
        self._values = values
        self._picker = picker or AlternativePicker(rng)
        self._rng = rng or random.Random()
        self.gap_s, self.lead_s, self.no_repeat_s = gap_s, lead_s, no_repeat_s
        self._generator = generator
        self._llm_share = llm_share
        self._llm_buffer = llm_buffer
        self._on_exhausted = on_exhausted
        self._language = language
        self._generated: deque[_Generated] = deque()
        self._last_used: dict[Hashable, float] = {}
        self._planned: tuple[int, tuple[int, ...]] | None = None  # (segment position, alternative choices)
        self._last_fired_at: float | None = None
        self._last_exhausted_at: float | None = None
        self._started_at: float | None = None
        self._requested = False
        self.stats = IdleStats()

    # -- the director's tick ------------------------------------------------------------------------
    def due(self, now: float, queue_empty: bool, last_speech_end: float | None) -> ScriptLine | None:
        """An idle line to say now, or None.

        ``queue_empty``: nothing is waiting to be spoken (the line on air does not count).
        ``last_speech_end``: when the audio on air ends or ended (may be in the future), None if never.
        """
        if self._started_at is None:
            self._started_at = now
        if not queue_empty:
            return None
        end = last_speech_end if last_speech_end is not None else self._started_at
        if now < end:
            return None  # something is on air
        if self._last_fired_at is not None and end < self._last_fired_at and now - self._last_fired_at < self.gap_s:
            return None  # our last line has not been spoken yet (or was dropped): do not flood
        if not self._requested and now - end < self.gap_s - self.lead_s:
            return None
        line = self._choose(now)
        if line is None:
            # Counted (and reported) once per gap, not on every tick of the same quiet spell.
            if self._last_exhausted_at is None or now - self._last_exhausted_at >= self.gap_s:
                self._last_exhausted_at = now
                self.stats.exhausted += 1
                if self._on_exhausted is not None:
                    self._on_exhausted()
            return None
        self._requested = False
        self._last_fired_at = now
        self._last_used[line.key] = now
        if len(self._last_used) > MEMORY_LIMIT:  # LLM lines are all different: forget those past the window
            self._last_used = {k: t for k, t in self._last_used.items() if now - t < self.no_repeat_s}
        self.stats.fired += 1
        self.stats.fired_generated += line.kind == "generated"
        log.debug("idle line", extra={"key": str(line.key), "silence_s": round(now - end, 2)})
        return line

    def request(self) -> None:
        """Say an idle line at the next quiet moment even before the gap (the idle script's own schedule)."""
        self._requested = True

    def upcoming(self, now: float) -> list[ScriptLine]:
        """The idle lines ``due()`` may pick next (filled now), for pre-rendering: the planned scripted line
        and the first LLM line, since the choice between the two is made at ``due()`` time."""
        lines = []
        position = self._plan(now)
        if position is not None:
            line = self._fill(position, self._planned[1])
            if line is not None:
                lines.append(line)
        current = self._values.current_product_id()
        generated = next((g for g in self._generated if g.product_id == current), None)
        if generated is not None:
            lines.append(self._generated_line(generated))
        return lines

    @property
    def remembered(self) -> int:
        """How many said lines are remembered for the no-repeat rule."""
        return len(self._last_used)

    def forget(self) -> None:
        """Clear the no-repeat memory (tests, or a new show)."""
        self._last_used.clear()

    # -- LLM lines ----------------------------------------------------------------------------------
    async def refill(self) -> bool:
        """Ask the generator for lines about the current product until the buffer is full (call in the background).

        Returns False when the generator failed (the caller backs off).
        """
        if self._generator is None:
            return True
        current = self._values.current_product_id()
        self._generated = deque(g for g in self._generated if g.product_id == current)
        attempts = 0
        while len(self._generated) < self._llm_buffer and attempts < self._llm_buffer * 2:
            attempts += 1
            try:
                text = await self._generator(self._values.product(current))
            except Exception as exc:  # the brain falls back or fails; idle scripts still work
                self.stats.llm_errors += 1
                log.warning("idle line generator failed", extra={"error": repr(exc)})
                return False
            text = re.sub(r"\s+", " ", text or "").strip()
            if not text or self._recent(("generated", text), None) or any(g.text == text for g in self._generated):
                self.stats.llm_rejected += 1
                continue
            self._generated.append(_Generated(text, current))
        return True

    # -- internals ------------------------------------------------------------------------------------
    def _choose(self, now: float) -> ScriptLine | None:
        current = self._values.current_product_id()
        while self._generated and self._generated[0].product_id != current:
            self._generated.popleft()  # written about a product that is no longer current
        generated_ok = [g for g in self._generated if not self._recent(("generated", g.text), now)]
        use_generated = bool(generated_ok) and self._rng.random() < self._llm_share
        if not use_generated:
            line = self._scripted(now)
            if line is not None:
                return line
        if generated_ok:
            chosen = generated_ok[0]
            self._generated.remove(chosen)
            return self._generated_line(chosen)
        return None

    @staticmethod
    def _generated_line(generated: _Generated) -> ScriptLine:
        return ScriptLine(text=generated.text, kind="generated", script_id=None, segment_index=0, segment_count=1,
                          product_id=generated.product_id, source="llm", key=("generated", generated.text))

    def _scripted(self, now: float) -> ScriptLine | None:
        tried: set[int] = set()
        while True:
            position = self._plan(now, exclude=tried)
            if position is None:
                return None
            line = self._fill(position, self._planned[1])
            self._planned = None
            if line is not None:
                return line
            tried.add(position)

    def _plan(self, now: float, exclude: set[int] = frozenset()) -> int | None:
        if self._planned is not None:
            position = self._planned[0]
            if position not in exclude and not self._recent(self._key(position), now):
                return position
            self._planned = None
        eligible = [i for i in range(len(self._segments))
                    if i not in exclude and not self._recent(self._key(i), now)]
        if not eligible:
            return None
        position = self._rng.choice(eligible)
        self._planned = (position, self._picker.choose(self._key(position), self._segments[position][1].template))
        return position

    def _fill(self, position: int, choices: tuple[int, ...]) -> ScriptLine | None:
        script, segment = self._segments[position]
        language = script.language if self._language == "auto" else self._language
        try:
            text = segment.template.fill(choices, self._values.resolver(None, language))
        except MissingValue as exc:
            log.debug("idle line skipped: no value", extra={"variable": exc.name, "source": f"{script.path}:{segment.line}"})
            return None
        return ScriptLine(text=text, kind="idle", script_id=script.id, segment_index=segment.index,
                          segment_count=len(script.segments), product_id=self._values.current_product_id(),
                          source=f"{script.path}:{segment.line}", key=self._key(position))

    def _key(self, position: int) -> Hashable:
        script, segment = self._segments[position]
        return (script.id, segment.index)

    def _recent(self, key: Hashable, now: float | None) -> bool:
        used = self._last_used.get(key)
        if used is None:
            return False
        return now is None or now - used < self.no_repeat_s
