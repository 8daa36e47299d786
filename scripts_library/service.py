"""ScriptsService: scripts, schedules, carousel, idle filler and pre-rendering wired from `[scripts]`.

The director (host/) owns one. Everything outside this package comes in as small callables, so the
knowledge store, the viewer counter, the LLM and the TTS can be swapped or faked:

    svc = ScriptsService(cfg.scripts, product_lookup=store.get_product, viewer_count=room.online_count,
                         set_current_product=store.set_current_product,
                         llm_stream_text=llm.stream_text,   # with scripts.idle_llm = true
                         get_current_product=lambda: (p.id if (p := store.current_product()) else None),
                         synthesize=tts_to_audio)
    task = asyncio.create_task(svc.run())           # schedules (+ LLM idle lines when configured)
    line = svc.next_line(now, queue_empty, last_speech_end)   # when nothing of higher priority waits
    ... speak it (audio = await svc.audio_for(line)) ...
    svc.report(line, spoken=True)  # or spoken=False when a higher-priority utterance cut it
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Callable

from scripts_library.carousel import ProductCarousel, UnknownProduct
from scripts_library.checker import check_script
from scripts_library.idle_filler import IdleFiller, LineGenerator
from scripts_library.idle_writer import IdleLineWriter, StreamText
from scripts_library.prerender import PrerenderCache, Synthesize
from scripts_library.runner import ScriptRunner
from scripts_library.scheduler import FireEvent, ScheduleError, ScriptScheduler, UnknownJob, job_specs
from scripts_library.script_file import Script, ScriptLoadError, load_library
from scripts_library.script_line import ScriptLine
from scripts_library.segment_template import AlternativePicker
from scripts_library.settings import ScriptsSettings
from scripts_library.speaking_values import SpeakingValues, product_field

log = logging.getLogger(__name__)
PREFETCH_EVERY_S = 0.5  # while nothing is handed out, refresh the pre-render list at most this often


class ScriptsService:
    """The director's single entry point to scripted talk."""

    def __init__(
        self,
        settings: ScriptsSettings,
        product_lookup: Callable[[str], Mapping[str, Any] | Any | None],
        set_current_product: Callable[[str], None],
        get_current_product: Callable[[], str | None] | None = None,
        viewer_count: Callable[[], int | None] | None = None,
        idle_line_generator: LineGenerator | None = None,
        llm_stream_text: StreamText | None = None,
        synthesize: Synthesize | None = None,
        now: Callable[[], datetime] | None = None,
        scheduler: ScriptScheduler | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.library = load_library(settings.dir)  # ScriptLoadError lists file:line problems
        self._check_against_store(product_lookup)
        self._lookup = product_lookup
        self._clock = clock
        picker = AlternativePicker(rng)
        products = settings.carousel_products or [s.product_id for s in self.library.product_scripts()]
        for n, product_id in enumerate(settings.carousel_products):
            if product_lookup(product_id) is None:
                log.warning("carousel product not in the knowledge store (yet)",
                            extra={"key": f"scripts.carousel_products[{n}]", "product": product_id})
        self.carousel = ProductCarousel(products, set_current_product, get_current_product,
                                        is_known=lambda pid: product_lookup(pid) is not None,
                                        on_change=self._on_product_change)
        values = SpeakingValues(product_lookup, viewer_count, now or self._wall_clock,
                                current_product_id=lambda: self.carousel.current)
        self.runner = ScriptRunner(self.library, values, picker, on_script_start=self._on_script_start,
                                   line_timeout_s=settings.line_timeout_s, clock=clock, language=settings.language)
        if idle_line_generator is None and llm_stream_text is not None:
            idle_line_generator = IdleLineWriter(llm_stream_text, language=self._language())
        self.idle = IdleFiller(
            self.library.idle_pools(), values, picker, gap_s=settings.idle_gap_s, lead_s=settings.idle_lead_s,
            no_repeat_s=settings.idle_no_repeat_min * 60,
            generator=idle_line_generator if settings.idle_llm else None,
            llm_share=settings.idle_llm_share, llm_buffer=settings.idle_llm_buffer,
            on_exhausted=self._on_idle_exhausted, rng=rng, language=settings.language)
        self.prerender = PrerenderCache(synthesize, capacity=settings.prerender_cache) if synthesize else None
        if scheduler is None and settings.schedule_enabled:
            scheduler = ScriptScheduler(settings.database_url, settings.jobs_table, settings.timezone,
                                        settings.misfire_grace_s, now=now)
        self.scheduler = scheduler
        self._specs = job_specs(self.library, settings) if scheduler is not None else []
        self.ready = asyncio.Event()  # set by run() once the job table is synced
        self._last_prefetch = float("-inf")
        self.skipped_sold_out = 0
        self._script_started_at: dict[str, float] = {}

    def _check_against_store(self, product_lookup: Callable[[str], Any]) -> None:
        # Unknown variables are script bugs: refuse to start. An unknown product may just not be imported
        # yet: warn, and its price/stock segments are skipped until it exists.
        errors = []
        for script in self.library.scripts.values():
            for problem in check_script(script, product_lookup):
                if problem.severity != "error":
                    continue
                if problem.message.startswith("unknown product id"):
                    log.warning("script names an unknown product", extra={"problem": str(problem)})
                else:
                    errors.append(problem)
        if errors:
            raise ScriptLoadError(errors)

    # -- running --------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run schedules and LLM idle-line generation until cancelled."""
        tasks = []
        if self.scheduler is not None:
            await asyncio.to_thread(self._open_schedule)
            tasks.append(asyncio.create_task(self.scheduler.run(self.on_fire, self.settings.poll_s), name="scripts-schedule"))
        self.ready.set()
        if self.settings.idle_llm:
            tasks.append(asyncio.create_task(self._refill_idle_lines(), name="scripts-idle-llm"))
        try:
            if tasks:
                await asyncio.gather(*tasks)
            else:
                await asyncio.Event().wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.prerender is not None:
                await self.prerender.close()
            if self.scheduler is not None:
                self.scheduler.close()

    def _open_schedule(self) -> None:
        assert self.scheduler is not None
        self.scheduler.open()
        self.scheduler.sync(self._specs)

    async def _refill_idle_lines(self) -> None:
        failures = 0
        while True:
            failures = 0 if await self.idle.refill() else failures + 1
            # A dead LLM is asked again after 5 s, 10 s, 20 s ... at most every ~5 minutes.
            await asyncio.sleep(min(self.settings.idle_gap_s * 2 ** failures, 300.0))

    def on_fire(self, event: FireEvent) -> None:
        """Apply a fired job: queue its script, ask for an idle line, or rotate the carousel."""
        if event.kind == "script":
            script = self.library.get(event.target)
            if script is not None and script.product_id and self._sold_out(script.product_id):
                self.skipped_sold_out += 1
                log.info("scheduled script skipped: product sold out", extra={"script": script.id})
                return
            self.runner.enqueue(event.target, reason=f"job {event.job_id}")
        elif event.kind == "idle":
            self.idle.request()
        elif event.kind == "carousel":
            self.carousel.rotate(skip=self._sold_out)

    def _sold_out(self, product_id: str) -> bool:
        if not self.settings.skip_sold_out:
            return False
        product = self._lookup(product_id)
        stock = product_field(product, "stock") if product is not None else None
        return isinstance(stock, (int, float)) and not isinstance(stock, bool) and stock <= 0

    # -- the director's side --------------------------------------------------------------------------
    def next_line(self, now: float, queue_empty: bool, last_speech_end: float | None) -> ScriptLine | None:
        """The next script segment, else an idle line when the room has been quiet long enough."""
        line = self.runner.next_segment()
        if line is None and not self.runner.busy:
            line = self.idle.due(now, queue_empty, last_speech_end)
        if self.prerender is not None and (line is not None or now - self._last_prefetch >= PREFETCH_EVERY_S):
            # Also while quiet, so a freshly queued script or the planned idle line is ready before its turn.
            self.prefetch(now)
        return line

    def report(self, line: ScriptLine, spoken: bool, started: bool = True) -> None:
        """What happened to a line: spoken to the end, or cut (``started=False``: never reached the air)."""
        if line.kind != "script":
            return
        if spoken:
            self.runner.mark_spoken(line)
        else:
            self.runner.interrupted(line, started=started)

    def upcoming_texts(self, now: float, count: int | None = None) -> list[str]:
        """Texts likely to be spoken next (script segments, then the planned idle line) for pre-rendering."""
        count = self.settings.prerender_ahead if count is None else count
        texts = [line.text for line in self.runner.upcoming(count)]
        if len(texts) < count:
            texts += [line.text for line in self.idle.upcoming(now)]
        return texts[:count]

    def prefetch(self, now: float) -> None:
        """Start synthesizing the upcoming lines in the background (needs a running loop)."""
        if self.prerender is not None:
            self._last_prefetch = now
            self.prerender.prefetch(self.upcoming_texts(now))

    async def audio_for(self, line: ScriptLine) -> Any:
        """The line's audio: pre-rendered when it was ahead in the queue, else synthesized now."""
        if self.prerender is None:
            raise RuntimeError("ScriptsService was built without a synthesize callable")
        return await self.prerender.get(line.text)

    def status(self) -> dict[str, Any]:
        """Counters and state for the status line and metrics."""
        from dataclasses import asdict

        return {
            "runner": {**self.runner.state(), **asdict(self.runner.stats)},
            "idle": asdict(self.idle.stats),
            "prerender": asdict(self.prerender.stats) if self.prerender is not None else None,
            "schedule_missed": self.scheduler.missed if self.scheduler is not None else None,
            "skipped_sold_out": self.skipped_sold_out,
            "current_product": self.carousel.current,
        }

    # -- admin ----------------------------------------------------------------------------------------
    def select_product(self, product_id: str) -> str:
        """Admin `/product ID`: make it current and start its script now; raises UnknownProduct.

        An alias or the name of a product in the carousel works too (`/product S3`)."""
        return self.carousel.select(self._resolve_product(product_id.strip()), reason="admin")

    def _resolve_product(self, wanted: str) -> str:
        if self._lookup(wanted) is not None:
            return wanted
        folded = wanted.casefold()
        for product_id in self.carousel.products:
            product = self._lookup(product_id)
            if product is None:
                continue
            names = [product_field(product, "name") or ""] + list(product_field(product, "aliases") or [])
            if any(str(name).casefold() == folded for name in names):
                return product_id
        return wanted

    def handle_admin(self, text: str) -> str | None:
        """Admin chat commands of this package; returns a short reply for logs, None if not ours.

        `/product ID`, `/jobs`, `/job pause|resume|run ID`.
        """
        parts = text.strip().split()
        if not parts:
            return None
        command, args = parts[0].lower(), parts[1:]
        try:
            if command == "/product":
                if not args:
                    return "usage: /product ID"
                return f"current product: {self.select_product(' '.join(args))}"  # names may have spaces
            if command == "/jobs":
                if self.scheduler is None:
                    return "schedules are off (scripts.schedule_enabled)"
                return "; ".join(f"{j.id} paused" if j.paused else f"{j.id} next {j.next_run_time:%H:%M}"
                                 for j in self.scheduler.jobs()) or "no jobs"
            if command == "/job" and len(args) == 2 and args[0] in ("pause", "resume", "run"):
                if self.scheduler is None:
                    return "schedules are off (scripts.schedule_enabled)"
                action, job_id = args
                if action == "pause":
                    self.scheduler.pause(job_id)
                elif action == "resume":
                    self.scheduler.resume(job_id)
                else:
                    self.on_fire(self.scheduler.run_now(job_id))
                return f"job {job_id}: {action} ok"
        except UnknownProduct as exc:
            return f"unknown product '{exc.args[0]}'"
        except (UnknownJob, ScheduleError) as exc:
            return str(exc.args[0] if exc.args else exc)
        except Exception as exc:  # the store refused, the database is locked...: report, keep streaming
            log.warning("admin command failed", extra={"command": command, "error": repr(exc)})
            return f"{command} failed: {exc}"
        return None

    # -- hooks ----------------------------------------------------------------------------------------
    def _on_product_change(self, product_id: str, reason: str) -> None:
        script = self.library.script_for_product(product_id)
        if script is None:
            return
        if reason == "admin":
            self.runner.switch_to(script.id, reason="admin /product")
        elif reason == "carousel":
            self.runner.enqueue(script.id, reason="carousel")

    def _on_script_start(self, script: Script) -> None:
        self._script_started_at[script.id] = self._clock()
        # The host is now talking about this product: the brain must treat it as current.
        if script.product_id and script.product_id != self.carousel.current:
            try:
                self.carousel.select(script.product_id, reason="script")
            except UnknownProduct:
                log.warning("script names a product the store does not know", extra={"script": script.id})

    def _on_idle_exhausted(self) -> None:
        # Every idle line was said recently: talk about a product instead of going silent or repeating.
        # The current product's script if it has not played within the no-repeat window, else the next
        # product of the carousel (which queues its script); a one-product shop replays its script.
        window = self.settings.idle_no_repeat_min * 60
        current = self.carousel.current
        script = self.library.script_for_product(current) if current else None
        if script is not None and self._played_within(script.id, window):
            if self.carousel.rotate(skip=lambda pid: self._sold_out(pid) or self._product_played_within(pid, window)):
                return  # the carousel queued the next product's script
            if self.carousel.rotate(skip=self._sold_out):
                return  # everything played recently: the least recent turn in carousel order
        if script is None and self.carousel.products:
            if self.carousel.rotate(skip=self._sold_out):
                return
        if script is not None:
            self.runner.enqueue(script.id, reason="idle lines used up")

    def _played_within(self, script_id: str, window_s: float) -> bool:
        started = self._script_started_at.get(script_id)
        return started is not None and self._clock() - started < window_s

    def _product_played_within(self, product_id: str, window_s: float) -> bool:
        script = self.library.script_for_product(product_id)
        return script is not None and self._played_within(script.id, window_s)

    def _language(self) -> str:
        if self.settings.language != "auto":
            return self.settings.language
        scripts = list(self.library.scripts.values())
        return scripts[0].language if scripts else "zh"

    def _wall_clock(self) -> datetime:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo(self.settings.timezone))
