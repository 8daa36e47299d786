"""ConsoleBackend over the host's real parts: stream engine, chat pipeline, knowledge store, director, scripts.

host/app.py (once every part is built):

    backend = HostConsoleBackend.from_host(host, metrics=metrics)
    backend.attach()          # feed + metrics hooks into the chat pipeline, the admin audit and the director
    app = build_console_app(backend, token=token, settings=cfg.console, metrics=metrics)

Every part is optional: what a host lacks answers 501 with a message naming the config key. Blocking calls
(SQL, the job table) run in worker threads; ``health()`` only reads counters.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from host.console.backend import (
    AdminItem,
    AdminResult,
    FaqEdit,
    HealthSnapshot,
    PostResult,
    ProductEdit,
    ScheduleEntry,
    UtteranceItem,
    chat_item_from_event,
    snapshot_from_engine,
)
from host.console.feed import EventFeed

log = logging.getLogger("host.console")

OK_RESULTS = ("ok", "queued")  # danmaku AdminResult.result values that mean "done or on its way"
PRODUCT_POLL_S = 2.0  # how often the store's current product is read for health()
DIRECTOR_POLL_S = 0.25  # how often the feed looks at what the director is preparing (cheap: one attribute)


class HostConsoleBackend:
    """Implements host.console.backend.ConsoleBackend with the components the Host built."""

    def __init__(self, *, engine: Any = None, chat: Any = None, store: Any = None, director: Any = None,
                 scripts: Any = None, feed: EventFeed | None = None, metrics: Any = None,
                 embedder: Any = None, preview_url: str | None = None):
        self.engine, self.chat, self.store, self.director, self.scripts = engine, chat, store, director, scripts
        self.feed = feed or EventFeed()
        self.metrics = metrics
        self.embedder = embedder  # passed to the store when a KB edit re-chunks a product or FAQ
        self._preview_url = preview_url
        self._attached = False
        self._utterance_ids = 0
        self._feed_ids: dict[int, str] = {}  # id(Spoken) -> feed id, so later states replace the line
        self._watcher: asyncio.Task | None = None
        self._product_task: asyncio.Task | None = None
        self._current_product: str | None = None  # from the store, refreshed off the loop

    @classmethod
    def from_host(cls, host: Any, **kwargs: Any) -> HostConsoleBackend:
        """Take the parts of a built host.app.Host."""
        return cls(engine=host.engine, chat=host.chat, store=host.store, director=host.director,
                   scripts=host.scripts, **kwargs)

    # ---- wiring --------------------------------------------------------------------------------------

    def attach(self) -> None:
        """Hook the feed (and metrics) into the parts; call once, on the event loop, before they run."""
        if self._attached:
            return
        self._attached = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # the feed learns its loop from the first subscriber
        if loop is not None:
            self.feed.bind_loop(loop)
            if self.store is not None:
                self._product_task = loop.create_task(self._refresh_current_product(), name="console-product")
        chat = self.chat
        if chat is not None:
            chat.on_outcome.append(self._on_chat_outcome)
            chat.dispatcher.audit.on_record.append(self._on_audit)
            if self.metrics is not None:
                self.metrics.add_counters("chat_pipeline", lambda: dict(chat.counts), label="outcome",
                                          doc="chat events by outcome (queued, skipped:<reason>, command:<result>)")
        director = self.director
        if director is not None:
            earlier = director.on_said

            def on_said(spoken: Any) -> Any:
                self._on_said(spoken)
                return earlier(spoken) if earlier is not None else None

            director.on_said = on_said
            try:
                self._watcher = asyncio.get_running_loop().create_task(self._watch_director(), name="console-director")
            except RuntimeError:
                pass  # no loop yet: only the final states (done / interrupted) reach the feed
            if self.metrics is not None:
                self.metrics.add_counters("director", lambda: dict(director.counters), label="event",
                                          doc="director counters (utterances, sentences, interrupted, ...)")

    def _on_chat_outcome(self, event: Any, outcome: str) -> None:
        kind = getattr(event.kind, "value", str(event.kind))
        if kind == "viewer_count":
            return
        verdict_reason = outcome.split(":", 1)[1] if outcome.startswith("skipped:") else ""
        item = chat_item_from_event(event)
        if outcome.startswith("skipped:"):
            item.allowed, item.reason = False, verdict_reason
        elif outcome.startswith("command:"):
            item.reason = "command"
        elif outcome == "not_queued":
            item.reason = "not queued"  # triage declined it (full, stale or coalesced)
        else:
            item.reason = "ok"
        self.feed.publish(item)
        if self.metrics is not None:
            self.metrics.count_chat_event(kind, event.platform)
            if kind in ("comment", "super_chat") and not outcome.startswith("command:"):
                self.metrics.count_moderation(item.allowed, verdict_reason or "ok")

    def _on_audit(self, record: Any) -> None:
        self.feed.publish(AdminItem(
            actor=f"{record.actor_source}:{record.actor_name or record.actor_uid}", action=record.command,
            args=dict(record.args), ok=record.result in OK_RESULTS,
            message=record.detail or record.result))

    def _feed_id(self, spoken: Any) -> str:
        key = id(spoken)
        if key not in self._feed_ids:
            self._utterance_ids += 1
            self._feed_ids[key] = f"utt-{self._utterance_ids}"
            while len(self._feed_ids) > 200:  # utterances that never reached the air are forgotten
                self._feed_ids.pop(next(iter(self._feed_ids)))
        return self._feed_ids[key]

    def _utterance_item(self, spoken: Any, state: str) -> UtteranceItem:
        utt = spoken.utterance
        planned = list(spoken.planned)
        joined = "".join(planned)
        text = joined if any("\u4e00" <= ch <= "\u9fff" for ch in joined) else " ".join(planned)
        return UtteranceItem(id=self._feed_id(spoken), state=state, text=text or "…",
                             priority=getattr(utt.cls, "name", str(utt.cls)).lower(), to_uname=utt.uname or None,
                             played_text=spoken.played_text() if state == "interrupted" else None)

    def _on_said(self, spoken: Any) -> None:
        state = "interrupted" if spoken.interrupted else "done"
        item = self._utterance_item(spoken, state)
        self._feed_ids.pop(id(spoken), None)
        self.feed.publish(item)
        if self.metrics is not None:
            self.metrics.count_utterance(item.priority, state)

    async def _watch_director(self) -> None:
        """Publish the utterance being prepared ("speaking", its sentences so far) as it grows; one that
        ends with nothing on air (every sentence failed or was skipped before it started) is "dropped"."""
        director, shown, sentences = self.director, None, -1
        while True:
            await asyncio.sleep(DIRECTOR_POLL_S)
            current = director.current
            if current is not shown:
                if shown is not None and not shown.handles:
                    self.feed.publish(self._utterance_item(shown, "dropped"))
                    self._feed_ids.pop(id(shown), None)
                shown, sentences = current, -1
            if current is not None and len(current.planned) != sentences:
                sentences = len(current.planned)
                self.feed.publish(self._utterance_item(current, "speaking"))

    async def _refresh_current_product(self) -> None:
        """health() must not touch SQL: the store's current product is read here, every PRODUCT_POLL_S."""
        while True:
            try:
                product = await asyncio.to_thread(self.store.current_product)
                self._current_product = product.id if product is not None else None
            except Exception:
                log.exception("reading the current product failed")
            await asyncio.sleep(PRODUCT_POLL_S)

    async def aclose(self) -> None:
        """Stop the background looks at the director and the store (at shutdown)."""
        for task in (self._watcher, self._product_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._watcher = self._product_task = None

    # ---- ConsoleBackend --------------------------------------------------------------------------------

    @property
    def preview_url(self) -> str | None:
        if self._preview_url:
            return self._preview_url
        return getattr(self.engine, "preview_url", None) if self.engine is not None else None

    def health(self) -> HealthSnapshot:
        stream = self.engine.health.snapshot() if self.engine is not None else {}
        queues: dict[str, int] = {}
        muted = 0
        if self.chat is not None:
            queues["triage"] = len(self.chat.triage)
            muted = len(self.chat.moderator.muted)
        current = getattr(getattr(self.scripts, "carousel", None), "current", None) or self._current_product
        return snapshot_from_engine(stream, queues=queues, paused=bool(getattr(self.director, "paused", False)),
                                    current_product=current, muted_users=muted)

    def events(self, after: int | None = None):
        return self.feed.subscribe(after)

    async def post_viewer_message(self, uname: str, text: str) -> PostResult:
        """Straight into the chat pipeline as a console viewer (uid 0): moderation, triage, the feed."""
        if self.chat is None:
            raise NotImplementedError("this host has no chat pipeline")
        from danmaku.events import ChatEvent, EventKind

        event = ChatEvent(kind=EventKind.COMMENT, platform="console", room=0, uid=0, uname=uname, text=text,
                          raw={"uname": uname, "text": text})
        outcome = await self.chat.process(event)
        accepted = outcome == "queued"
        reason = outcome.split(":", 1)[1] if ":" in outcome else outcome
        return PostResult(accepted=accepted, reason="ok" if accepted else reason)

    async def admin(self, action: str, args: dict[str, Any], actor: str) -> AdminResult:
        """Through danmaku's dispatcher, like chat and HTTP admins: authorized, audited, same handlers."""
        if self.chat is None:
            raise NotImplementedError("this host has no admin dispatcher (chat pipeline)")
        from danmaku.admin.commands import Actor, AdminCommand, CommandName

        raw = " ".join([f"/{action}", *(str(v) for v in args.values())])
        cmd = AdminCommand(name=CommandName(action), raw=raw, actor=Actor.console(actor), **args)
        result = await self.chat.dispatcher.execute(cmd)
        data: dict[str, Any] = {}
        if action == "status" and result.result == "ok":
            data = json.loads(json.dumps(self.chat.dispatcher.status(), default=str))
        message = result.message if action != "status" else "status"
        return AdminResult(ok=result.result in OK_RESULTS, message=message or result.result, data=data)

    # -- knowledge base

    def _need_store(self) -> Any:
        if self.store is None:
            raise NotImplementedError("this host has no knowledge store")
        return self.store

    async def list_products(self) -> list[ProductEdit]:
        products = await asyncio.to_thread(self._need_store().list_products)
        return [ProductEdit(id=p.id, name=p.name, price=p.price, list_price=p.list_price, stock=p.stock,
                            aliases=list(p.aliases), selling_points=list(p.selling_points),
                            promotions=list(p.promotions), specs=dict(p.specs), tags=list(p.tags))
                for p in products]

    async def save_product(self, product: ProductEdit) -> ProductEdit:
        from knowledge.importer import ImportFileError, KnowledgeBundle
        from knowledge.records import Product

        store = self._need_store()
        currency = (await asyncio.to_thread(store.store_profile) or {}).get("currency", "CNY")
        record = Product(id=product.id, name=product.name, aliases=product.aliases, price=product.price,
                         list_price=product.list_price, currency=currency, stock=product.stock, specs=product.specs,
                         selling_points=product.selling_points, promotions=product.promotions, tags=product.tags)
        try:
            await asyncio.to_thread(store.apply_import, KnowledgeBundle(products={record.id: record}), self.embedder)
        except ImportFileError as exc:
            raise ValueError(str(exc)) from None
        return product

    async def delete_product(self, product_id: str) -> bool:
        store = self._need_store()
        if not hasattr(store, "delete_product"):
            raise NotImplementedError("the knowledge store cannot delete products yet: remove it from the "
                                      "knowledge files and re-import (python main.py kb import)")
        return bool(await asyncio.to_thread(store.delete_product, product_id))

    async def list_faqs(self) -> list[FaqEdit]:
        faqs = await asyncio.to_thread(self._need_store().list_faqs)
        return [FaqEdit(id=f.id, question=f.question, answer=f.answer, product_id=f.product_id) for f in faqs]

    async def save_faq(self, faq: FaqEdit) -> FaqEdit:
        from knowledge.importer import ImportFileError, KnowledgeBundle
        from knowledge.records import Faq

        record = Faq(id=faq.id, question=faq.question, answer=faq.answer, product_id=faq.product_id or None)
        try:
            await asyncio.to_thread(self._need_store().apply_import, KnowledgeBundle(faqs={record.id: record}),
                                    self.embedder)
        except ImportFileError as exc:  # e.g. an unknown product_id
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return faq

    async def delete_faq(self, faq_id: str) -> bool:
        store = self._need_store()
        if not hasattr(store, "delete_faq"):
            raise NotImplementedError("the knowledge store cannot delete FAQs yet: remove it from the "
                                      "knowledge files and re-import (python main.py kb import)")
        return bool(await asyncio.to_thread(store.delete_faq, faq_id))

    # -- schedule

    def _scheduler(self) -> Any:
        scheduler = getattr(self.scripts, "scheduler", None)
        if scheduler is None:
            raise NotImplementedError("schedules are off (scripts.dir / scripts.schedule_enabled)")
        return scheduler

    async def list_schedule(self) -> list[ScheduleEntry]:
        jobs = await asyncio.to_thread(self._scheduler().jobs)
        return [_entry(job) for job in jobs]

    async def schedule_action(self, job_id: str, action: str) -> ScheduleEntry:
        from scripts_library.scheduler import UnknownJob

        scheduler = self._scheduler()
        try:
            if action == "pause":
                return _entry(await asyncio.to_thread(scheduler.pause, job_id))
            if action == "resume":
                return _entry(await asyncio.to_thread(scheduler.resume, job_id))
            fire = await asyncio.to_thread(scheduler.run_now, job_id)
            self.scripts.on_fire(fire)  # the service queues the script / idle line / carousel step
            info = next((j for j in await asyncio.to_thread(scheduler.jobs) if j.id == job_id), None)
        except UnknownJob as exc:
            raise KeyError(str(exc)) from None
        if info is None:
            raise KeyError(job_id)
        entry = _entry(info)
        entry.last_run = fire.scheduled_at.timestamp() if fire.scheduled_at is not None else None
        return entry


def _entry(job: Any) -> ScheduleEntry:
    next_run = job.next_run_time.timestamp() if job.next_run_time is not None else None
    name = f"{job.kind} {job.target}" if job.target and job.target != job.kind else str(job.kind)
    return ScheduleEntry(id=job.id, name=name, trigger=_trigger_text(str(job.trigger)), next_run=next_run,
                         paused=job.next_run_time is None)


_INTERVAL = re.compile(r"^interval\[(?:(\d+) days?, )?(\d+):(\d\d):(\d\d)\]$")


def _trigger_text(trigger: str) -> str:
    """APScheduler's "interval[0:15:00]" as "every 15 min"; other triggers as they are."""
    m = _INTERVAL.match(trigger)
    if not m:
        return trigger
    days, h, mi, s = (int(x or 0) for x in m.groups())
    total = ((days * 24 + h) * 60 + mi) * 60 + s
    for unit, size in (("h", 3600), ("min", 60)):
        if total >= size and total % size == 0:
            return f"every {total // size} {unit}"
    return f"every {total} s"
