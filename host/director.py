"""The director: turns chat, admin commands, scripts and idle time into utterances on air.

Priorities (highest first): admin /say > super chat / guard > gift thanks > answers to questions >
scheduled scripts > comments and welcomes > idle filler. One utterance is spoken at a time, sentence by
sentence; the next sentence is synthesized while the current one plays (lookahead), and the next
utterance starts being prepared as soon as the last sentence of the current one is queued. A higher class
interrupts a lower one at a sentence boundary; /skip is immediate. What was actually played is recorded.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from configs.models import DirectorSettings
from danmaku.admin.commands import AdminCommand, CommandName
from danmaku.events import EventKind
from danmaku.triage import TriageClass, TriageItem, TriageQueue

log = logging.getLogger("host.director")

POLL_S = 0.02


class UttClass(IntEnum):
    """Utterance priority; a higher value wins."""

    IDLE = 0
    PRESENCE = 1
    SCRIPT = 2
    ANSWER = 3
    GIFT = 4
    PAID = 5
    ADMIN = 6


_FROM_TRIAGE = {
    TriageClass.ADMIN: UttClass.ADMIN,
    TriageClass.PAID: UttClass.PAID,
    TriageClass.GIFT: UttClass.GIFT,
    TriageClass.QUESTION: UttClass.ANSWER,
    TriageClass.COMMENT: UttClass.PRESENCE,
    TriageClass.PRESENCE: UttClass.PRESENCE,
}


class Engine(Protocol):
    def say(self, audio_int16, timings=(), text: str = ""): ...
    def skip_all(self) -> None: ...


class Tts(Protocol):
    async def synthesize_all(self, text: str, voice: str | None = None): ...


@dataclass
class Utterance:
    """Something to say: its class, why, to whom, and its sentences (a list or a live stream)."""

    cls: UttClass
    reason: str
    sentences: AsyncIterator[str] | Iterable[str]
    uid: int | None = None
    uname: str = ""
    script_line: Any = None  # scripts_library.ScriptLine for scripts and idle lines
    created: float = field(default_factory=time.monotonic)
    picked_at: float | None = None  # monotonic time the director took it up
    # Per sentence, monotonic times: text ready, audio synthesized, handed to the engine (for latency figures).
    marks: list[dict[str, float]] = field(default_factory=list)
    addressed: bool = True  # False while an answer has yet to say the viewer's name (no interruption before it)


@dataclass
class Spoken:
    """What happened to one utterance: sentences planned, and the part actually played."""

    utterance: Utterance
    planned: list[str] = field(default_factory=list)
    handles: list[Any] = field(default_factory=list)
    interrupted: bool = False

    def played_text(self) -> str:
        parts = []
        for text, handle in zip(self.planned, self.handles):
            if handle.played_samples <= 0:
                break
            if handle.played_samples >= handle.total_samples:
                parts.append(text)
            else:  # cut inside this sentence: keep the share of characters that went out
                share = handle.played_samples / max(1, handle.total_samples)
                parts.append(text[: max(1, int(len(text) * share))] + "…")
                break
        return "".join(parts) if _is_cjk("".join(self.planned)) else " ".join(parts)

    def played_fraction(self) -> float:
        total = sum(h.total_samples for h in self.handles)
        return sum(min(h.played_samples, h.total_samples) for h in self.handles) / total if total else 0.0


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


class Director:
    """Runs the show loop; see the module docstring for the rules."""

    def __init__(
        self,
        settings: DirectorSettings,
        engine: Engine,
        tts: Tts,
        triage: TriageQueue,
        *,
        brain=None,
        scripts=None,
        store=None,
        on_said: Callable[[Spoken], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.tts = tts
        self.triage = triage
        self.brain = brain
        self.scripts = scripts
        self.store = store
        self.on_said = on_said
        self.clock = clock
        self.paused = bool(store.is_paused()) if store is not None else False
        self.last_speech_end: float | None = clock()  # start-up counts as the end of speech
        self.current: Spoken | None = None
        self._skip_epoch = 0
        self._last_welcome = -1e9
        self._finishers: set[asyncio.Task] = set()
        self._playing: list[Spoken] = []  # utterances with audio still on air
        self._deferred: Utterance | None = None
        self._last_prefetch = -1e9
        self._arrived: TriageItem | None = None
        self.counters = {"utterances": 0, "sentences": 0, "interrupted": 0, "skipped": 0, "tts_failures": 0}
        self.wake = asyncio.Event()

    # -- admin ------------------------------------------------------------------------------------------

    def register_admin(self, dispatcher) -> None:
        """Take the director's commands from the admin dispatcher (chat, console and HTTP alike)."""
        dispatcher.register(CommandName.SKIP, lambda cmd: self.skip())
        dispatcher.register(CommandName.PAUSE, lambda cmd: self.pause())
        dispatcher.register(CommandName.RESUME, lambda cmd: self.resume())
        dispatcher.register(CommandName.SAY, self._queue_say)
        dispatcher.register(CommandName.PRODUCT, lambda cmd: self.select_product(cmd.product_id))

    def _queue_say(self, cmd: AdminCommand) -> str:
        self.triage.put_command(cmd)  # /say waits at the admin class, above everything else
        self.wake.set()
        return "queued"

    def skip(self) -> str:
        """Admin /skip: the current utterance fades out now and the idle loop resumes."""
        self._skip_epoch += 1
        self.engine.skip_all()
        self.counters["skipped"] += 1
        self.wake.set()
        return "skipped"

    def pause(self) -> str:
        """Admin /pause: stop speaking and stop consuming the queue (chat keeps being received)."""
        self.paused = True
        if self.store is not None:
            self.store.set_paused(True)
        self.skip()
        return "paused"

    def resume(self) -> str:
        self.paused = False
        if self.store is not None:
            self.store.set_paused(False)
        self.wake.set()
        return "resumed"

    def select_product(self, product_id: str) -> str:
        if self.scripts is not None:
            return str(self.scripts.select_product(product_id))
        if self.store is not None:
            if self.store.get_product(product_id) is None:
                raise ValueError(f"unknown product {product_id}")
            self.store.set_current_product(product_id)
        return product_id

    # -- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Speak until cancelled."""
        try:
            while True:
                if self.paused:
                    await self._sleep_or_wake(0.5)
                    continue
                utt = await self._next_utterance()
                if utt is None:
                    self._prefetch_scripts()
                    # Wake as soon as chat arrives (not at the next poll): it is the answer latency.
                    self._arrived = await self.triage.get(timeout=0.1)
                    continue
                await self._speak(utt)
        finally:
            for task in list(self._finishers):
                task.cancel()

    def _prefetch_scripts(self) -> None:
        """While nothing is due, synthesize the next script/idle lines so they start without delay."""
        now = self.clock()
        if self.scripts is not None and now - self._last_prefetch >= 1.0:
            self._last_prefetch = now
            self.scripts.prefetch(now)

    async def _sleep_or_wake(self, seconds: float) -> None:
        self.wake.clear()
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _next_utterance(self) -> Utterance | None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None and self.clock() - deferred.created < self.settings.deferred_stale_s:
            return deferred
        item, self._arrived = self._arrived, None
        item = item or self.triage.get_nowait()
        while item is not None:
            utt = self._from_triage(item)
            if utt is not None:
                if utt.cls >= UttClass.ANSWER:
                    return utt
                line = self._next_script_line(queue_empty=False)  # a due script segment goes before chit-chat
                if line is None:
                    return utt
                self._deferred = utt
                return self._script_utterance(line)
            item = self.triage.get_nowait()
        line = self._next_script_line(queue_empty=True)
        return self._script_utterance(line) if line is not None else None

    def _next_script_line(self, queue_empty: bool):
        if self.scripts is None:
            return None
        return self.scripts.next_line(self.clock(), queue_empty, self._speech_end())

    def _speech_end(self) -> float | None:
        """When the audio already queued on air will end (may be in the future)."""
        remaining = sum(max(0, h.total_samples - h.played_samples) / h.sample_rate
                        for spoken in self._playing for h in spoken.handles if not h.done)
        return self.clock() + remaining if remaining > 0 else self.last_speech_end

    @staticmethod
    def _script_utterance(line) -> Utterance:
        cls = UttClass.SCRIPT if line.kind == "script" else UttClass.IDLE
        return Utterance(cls, line.kind, [line.text], script_line=line)

    # -- triage items -> utterances ---------------------------------------------------------------------

    def _from_triage(self, item: TriageItem) -> Utterance | None:
        zh = self.settings.language == "zh"
        name = item.uname
        if item.cls is TriageClass.ADMIN:
            cmd = item.command
            if cmd is None or not getattr(cmd, "text", ""):
                return None
            return Utterance(UttClass.ADMIN, "admin_say", self._split(cmd.text))
        if item.cls is TriageClass.GIFT:
            gifts = "、".join(f"{n}个{g}" if zh else f"{n} {g}" for g, n in item.gifts.items()) or ("礼物" if zh else "gifts")
            text = f"谢谢{name or '老板'}送的{gifts}！" if zh else f"Thank you {name or 'friend'} for the {gifts}!"
            return Utterance(UttClass.GIFT, "gift", [text], uid=item.uid, uname=name)
        if item.cls is TriageClass.PAID:
            return self._paid(item, zh)
        if item.cls is TriageClass.QUESTION:
            if self.brain is None or not item.text:
                return None
            utt = Utterance(UttClass.ANSWER, "answer", (), uid=item.uid, uname=name)
            utt.sentences = self._answer(item, zh, utt)
            return utt
        if item.cls is TriageClass.PRESENCE:
            return self._welcome(item, zh)
        return None  # plain comments are kept in the record but not answered

    def _paid(self, item: TriageItem, zh: bool) -> Utterance:
        name = item.uname or ("这位朋友" if zh else "friend")
        ev = item.events[0] if item.events else None
        if item.kind is EventKind.GUARD:
            level = {1: "总督", 2: "提督", 3: "舰长"}.get(getattr(ev, "guard_level", 3), "舰长")
            thanks = f"感谢{name}开通{level}，欢迎上船！" if zh else f"Thank you {name} for becoming a Captain, welcome aboard!"
            return Utterance(UttClass.PAID, "guard", [thanks], uid=item.uid, uname=item.uname)
        thanks = f"感谢{name}的醒目留言！" if zh else f"Thank you {name} for the Super Chat!"
        if item.text and self.brain is not None:  # the message is answered; a refused text is never read out
            utt = Utterance(UttClass.PAID, "super_chat", (), uid=item.uid, uname=item.uname)
            utt.sentences = self._answer(item, zh, utt, first=thanks)
            return utt
        return Utterance(UttClass.PAID, "super_chat", [thanks], uid=item.uid, uname=item.uname)

    def _welcome(self, item: TriageItem, zh: bool) -> Utterance | None:
        now = self.clock()
        if now - self._last_welcome < self.settings.welcome_interval_s or not item.uname:
            return None
        if item.kind not in (EventKind.ENTER, EventKind.FOLLOW):
            return None
        self._last_welcome = now
        greeting = self.brain.greeting(item.uid, item.uname) if self.brain is not None else None
        if item.kind is EventKind.FOLLOW:
            greeting = f"谢谢{item.uname}的关注！" if zh else f"Thanks for the follow, {item.uname}!"
        if greeting is None:
            greeting = f"欢迎{item.uname}来到直播间！" if zh else f"Welcome to the stream, {item.uname}!"
        return Utterance(UttClass.PRESENCE, "welcome", [greeting], uid=item.uid, uname=item.uname)

    async def _answer(self, item: TriageItem, zh: bool, utt: Utterance, first: str | None = None
                      ) -> AsyncIterator[str]:
        """The parts of an answer. The brain starts at once, whatever is said first. The viewer is addressed
        by name in the part after the first clause, so the answer itself goes on air as soon as the LLM's
        first clause is synthesized; when those first words take longer than director.name_first_wait_s,
        the name is said alone first, to acknowledge the viewer while the LLM thinks."""
        parts = _Prefetch(self._answer_parts(item))
        try:
            if first:
                yield first  # the super chat thanks already names the viewer
            names = [n for n in (item.askers or [item.uname]) if n][:3]
            if names and not first:
                utt.addressed = False  # until the part with the name has been taken up (code after its yield)
                address = ("、".join(names) + "，") if zh else (", ".join(names) + ",")
                head = await parts.get(timeout=self.settings.name_first_wait_s)
                if head is _Prefetch.WAITING:
                    yield address
                elif head is _Prefetch.END:
                    return  # nothing to say (every sentence refused): the viewer is not named for nothing
                else:
                    yield head
                    after = await parts.get()
                    if after is _Prefetch.END:
                        yield f"{'、'.join(names)}，希望能帮到你！" if zh else f"Hope that helps, {', '.join(names)}!"
                        return
                    yield address + after if zh else f"{address} {after}"
                utt.addressed = True
            while (part := await parts.get()) is not _Prefetch.END:
                yield part
        finally:
            parts.close()

    async def _answer_parts(self, item: TriageItem) -> AsyncIterator[str]:
        """The brain's sentences (grounded in the store's current product), the first clause split off."""
        first = True
        async for sentence in self.brain.answer(item.text, uid=item.uid or None, uname=item.uname):
            # The first clause goes on air on its own: less to synthesize before the answer is heard.
            for part in (_split_first_clause(sentence) if first else (sentence,)):
                yield part
            first = False

    def _split(self, text: str) -> list[str]:
        from brain.sentences import split_text

        return split_text(text) or [text]

    # -- speaking ---------------------------------------------------------------------------------------

    async def _speak(self, utt: Utterance) -> None:
        spoken = Spoken(utt)
        utt.picked_at = time.monotonic()
        self.current = spoken
        epoch = self._skip_epoch
        self.counters["utterances"] += 1
        record = None  # stored beside the first sentence's preparation, not before it
        if self.store is not None:
            record = asyncio.ensure_future(asyncio.to_thread(
                self.store.start_utterance, utt.cls.name.lower(), "", target_uid=utt.uid, reason=utt.reason))
        sentences = _iterate(utt.sentences)
        try:
            async for sentence in sentences:
                if epoch != self._skip_epoch or self.paused:
                    spoken.interrupted = True
                    break
                if (spoken.planned and utt.addressed and _ends_sentence(spoken.planned[-1])
                        and self._outranked(utt.cls)):
                    # A higher class waits: stop at this sentence boundary (never after a name or a clause,
                    # nor before the viewer has been addressed).
                    spoken.interrupted = True
                    break
                mark = {"text": time.monotonic()}
                pcm = await self._synthesize(utt, sentence)
                if pcm is None:
                    continue
                mark["tts"] = time.monotonic()
                if epoch != self._skip_epoch or self.paused:
                    spoken.interrupted = True
                    break
                handle = self.engine.say(pcm.pcm, pcm.timings, sentence)
                mark["queued"] = time.monotonic()
                utt.marks.append(mark)
                spoken.planned.append(sentence)
                spoken.handles.append(handle)
                self.counters["sentences"] += 1
                if len(spoken.handles) >= 2:  # keep one sentence queued behind the one on air
                    await _until(lambda h=spoken.handles[-2]: h.done)
        finally:
            await sentences.aclose()  # stops an answer's LLM stream that will not be spoken
            if utt.script_line is not None and not spoken.handles:
                self._report_script(utt, spoken, started=False)
            self.current = None
            record_id = await record if record is not None else None
        if spoken.handles:
            self._playing.append(spoken)
            task = asyncio.create_task(self._finish(spoken, record_id, epoch))
            self._finishers.add(task)
            task.add_done_callback(self._finishers.discard)
            # Start preparing the next utterance while this one's last sentence plays, but do not queue
            # a second utterance behind it: wait until the last sentence is on air.
            await _until(lambda: spoken.handles[-1].state.value != "queued")
        elif record_id is not None:
            await asyncio.to_thread(self.store.finish_utterance, record_id, text_played="", played_fraction=0.0,
                                    interrupted=True)

    def _outranked(self, cls: UttClass) -> bool:
        by_class = self.triage.snapshot()["by_class"]
        waiting = [_FROM_TRIAGE[c] for c in TriageClass if by_class.get(c.name.lower())]
        return any(w > cls for w in waiting if w >= UttClass.ANSWER)

    async def _synthesize(self, utt: Utterance, sentence: str):
        try:
            if utt.script_line is not None and self.scripts is not None and getattr(self.scripts, "prerender", None):
                return await self.scripts.audio_for(utt.script_line)
            return await self.tts.synthesize_all(sentence)
        except Exception as exc:  # every engine failed: this sentence is lost, the show goes on
            self.counters["tts_failures"] += 1
            log.error("speech synthesis failed; sentence skipped", extra={"error": str(exc), "text": sentence[:40]})
            return None

    async def _finish(self, spoken: Spoken, record_id: int | None, epoch: int) -> None:
        await _until(lambda: all(h.done for h in spoken.handles))
        self._playing.remove(spoken)
        if epoch != self._skip_epoch or any(h.played_samples < h.total_samples for h in spoken.handles):
            spoken.interrupted = True
        if spoken.interrupted:
            self.counters["interrupted"] += 1
        self.last_speech_end = self.clock()
        utt = spoken.utterance
        if utt.script_line is not None:
            self._report_script(utt, spoken, started=True)
        played = spoken.played_text()
        log.info("said", extra={"class": utt.cls.name.lower(), "uid": utt.uid or "", "interrupted": spoken.interrupted,
                                "text": played[:80]})
        if self.store is not None and record_id is not None:
            planned = ("" if _is_cjk(played) else " ").join(spoken.planned)
            await asyncio.to_thread(self.store.finish_utterance, record_id, text_played=played,
                                    played_fraction=round(spoken.played_fraction(), 3),
                                    interrupted=spoken.interrupted, text_planned=planned)
        if self.on_said is not None:
            self.on_said(spoken)

    def _report_script(self, utt: Utterance, spoken: Spoken, started: bool) -> None:
        if self.scripts is None:
            return
        complete = bool(spoken.handles) and not spoken.interrupted
        self.scripts.report(utt.script_line, spoken=complete, started=started)


_SENTENCE_END = re.compile(r"[.!?。！？…~]['\"”’)）」』]*\s*$")


def _ends_sentence(text: str) -> bool:
    return bool(_SENTENCE_END.search(text))


_CLAUSE = re.compile(r"(?<=[，,；;：:])\s*")


def _split_first_clause(sentence: str) -> tuple[str, ...]:
    """'Good question, the watch ...' -> ('Good question,', 'the watch ...') when both parts are substantial."""
    match = _CLAUSE.search(sentence)
    if match is None:
        return (sentence,)
    head, tail = sentence[: match.start()], sentence[match.end():]
    cjk = _is_cjk(sentence)
    size = (lambda t: len(t)) if cjk else (lambda t: len(t.split()))
    if size(head) < (4 if cjk else 2) or size(tail) < (6 if cjk else 4):
        return (sentence,)
    return head, tail


async def _iterate(source: AsyncIterator[str] | Iterable[str]) -> AsyncIterator[str]:
    if hasattr(source, "__aiter__"):
        async with aclosing(source):
            async for item in source:
                yield item
    else:
        for item in source:
            yield item


class _Prefetch:
    """Runs an async iterator in its own task from now on, so that its consumer does not hold it up."""

    END = object()
    WAITING = object()

    def __init__(self, source: AsyncIterator[str]) -> None:
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.create_task(self._pump(source))

    async def _pump(self, source: AsyncIterator[str]) -> None:
        try:
            async for item in source:
                self._queue.put_nowait(item)
        except Exception as exc:  # handed to the consumer, raised there
            self._queue.put_nowait(exc)
        finally:
            self._queue.put_nowait(self.END)

    async def get(self, timeout: float | None = None) -> Any:
        """The next item, END when exhausted, or WAITING when nothing came within ``timeout``."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return self.WAITING
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self._task.cancel()


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(POLL_S)
