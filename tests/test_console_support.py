"""Shared pieces of the console tests: an in-memory ConsoleBackend that records what it is asked.

It stands in for host/app.py's Host (which implements the same protocol over the real director,
store and scheduler); the console's job is the HTTP side, and that is what these tests exercise.
"""
from __future__ import annotations

import dataclasses
import time
import types
from pathlib import Path
from typing import Any

from host.console.backend import (
    AdminItem,
    AdminResult,
    ChatItem,
    ConsoleBackend,
    FaqEdit,
    HealthSnapshot,
    PostResult,
    ProductEdit,
    ScheduleEntry,
    SinkStatus,
    UtteranceItem,
)
from host.console.feed import EventFeed


class RecordingBackend:
    """Implements ConsoleBackend in memory; ``posted`` and ``admin_calls`` record what arrived."""

    def __init__(self, preview_url: str | None = None):
        self._preview_url = preview_url
        self.feed = EventFeed(history=100)
        self.posted: list[tuple[str, str]] = []
        self.admin_calls: list[tuple[str, dict[str, Any], str]] = []
        self.started = time.monotonic()
        self.snapshot = HealthSnapshot(
            on_air=True, frames=250, late_frames=3, media_time_s=10.0, uptime_s=10.2, last_frame_age_s=0.04,
            held_frames=1, fps=25.0,
            sinks=[SinkStatus("rtmp-1", "rtmp", "publishing", reconnects=2, queue_depth=4, bytes_out=123456),
                   SinkStatus("preview", "http-flv", "publishing", queue_depth=0, bytes_out=4567),
                   SinkStatus("record", "file", "reconnecting", reconnects=1, last_error="disk full")],
            queues={"director": 2, "render_ahead": 12},
            speaking="欢迎来到直播间", current_product="p-watch-s3",
        )
        self.products = {
            "p-watch-s3": ProductEdit("p-watch-s3", "青禾手表 S3", price=299, list_price=399, stock=120,
                                      aliases=["S3", "手表"], selling_points=["14天续航"], specs={"屏幕": "1.43寸 AMOLED"}),
            "p-earbuds-a2": ProductEdit("p-earbuds-a2", "青禾耳机 A2", price=159, list_price=199, stock=80),
        }
        self.faqs = {"faq-001": FaqEdit("faq-001", "什么时候发货？", "下单后48小时内发货。"),
                     "faq-002": FaqEdit("faq-002", "S3 防水吗？", "支持5ATM防水。", product_id="p-watch-s3")}
        self.schedule = {"script-p-watch-s3": ScheduleEntry("script-p-watch-s3", "product script: S3",
                                                            "every 600 s", next_run=time.time() + 300),
                         "idle": ScheduleEntry("idle", "idle filler", "every 45 s", next_run=time.time() + 20)}
        self.run_now: list[str] = []

    @property
    def preview_url(self) -> str | None:
        return self._preview_url

    def health(self) -> HealthSnapshot:
        return self.snapshot

    def events(self, after: int | None = None):
        return self.feed.subscribe(after)

    async def post_viewer_message(self, uname: str, text: str) -> PostResult:
        self.posted.append((uname, text))
        blocked = "http" in text or "加V" in text
        item = ChatItem("comment", uid=None, uname=uname, text=text, allowed=not blocked,
                        reason="ad" if blocked else "ok", clean_text=text, source="console")
        event = self.feed.publish(item)
        if not blocked and text.endswith(("?", "？")):
            self.feed.publish(UtteranceItem(f"u{event.seq}", "queued", f"{uname}，{text} 好问题！", "answer", uname))
        return PostResult(accepted=not blocked, reason=item.reason, event_id=str(event.seq))

    async def admin(self, action: str, args: dict[str, Any], actor: str) -> AdminResult:
        self.admin_calls.append((action, args, actor))
        if action == "product" and args["product_id"] not in self.products:
            result = AdminResult(False, f"no product {args['product_id']}")
        elif action == "status":
            result = AdminResult(True, "on air", data={"frames": self.snapshot.frames})
        else:
            if action == "pause":
                self.snapshot.paused = True
            elif action == "resume":
                self.snapshot.paused = False
            elif action == "product":
                self.snapshot.current_product = args["product_id"]
            result = AdminResult(True, f"{action} done")
        self.feed.publish(AdminItem(actor, action, args, result.ok, result.message))
        return result

    async def list_products(self) -> list[ProductEdit]:
        return list(self.products.values())

    async def save_product(self, product: ProductEdit) -> ProductEdit:
        if product.list_price is not None and product.price is not None and product.price > product.list_price:
            raise ValueError("price must not exceed list_price")
        self.products[product.id] = product
        return product

    async def delete_product(self, product_id: str) -> bool:
        return self.products.pop(product_id, None) is not None

    async def list_faqs(self) -> list[FaqEdit]:
        return list(self.faqs.values())

    async def save_faq(self, faq: FaqEdit) -> FaqEdit:
        self.faqs[faq.id] = faq
        return faq

    async def delete_faq(self, faq_id: str) -> bool:
        return self.faqs.pop(faq_id, None) is not None

    async def list_schedule(self) -> list[ScheduleEntry]:
        return list(self.schedule.values())

    async def schedule_action(self, job_id: str, action: str) -> ScheduleEntry:
        entry = self.schedule[job_id]  # KeyError -> 404
        if action == "pause":
            entry = dataclasses.replace(entry, paused=True, next_run=None)
        elif action == "resume":
            entry = dataclasses.replace(entry, paused=False, next_run=time.time() + 60)
        else:
            self.run_now.append(job_id)
            entry = dataclasses.replace(entry, last_run=time.time())
        self.schedule[job_id] = entry
        return entry


def test_recording_backend_satisfies_the_protocol():
    assert isinstance(RecordingBackend(), ConsoleBackend)


# ---- the real parts, for HostConsoleBackend tests ---------------------------------------------------------

SHOP_EN = Path("/work/shared/fixtures/shop_en/knowledge.yaml")


def real_store(tmp_path: Path):
    """The knowledge store on a fresh SQLite file with the English fixture shop imported."""
    from knowledge.importer import parse_paths
    from knowledge.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'host.db'}")
    store.apply_import(parse_paths([SHOP_EN]))
    return store


def real_chat():
    """danmaku's chat pipeline (moderation, admin dispatcher, triage) with default settings, no source;
    the admin audit stays in memory (nothing written under var/)."""
    from danmaku.pipeline import ChatPipeline
    from danmaku.settings import ChatSettings

    return ChatPipeline.from_settings(ChatSettings.model_validate({"admin": {"audit_file": ""}}))


def real_scripts(tmp_path: Path):
    """The scripts job table (APScheduler on SQLite) with two jobs, behind ScriptsService's two members
    the backend uses (``scheduler``, ``on_fire``); the full service also needs a script library and TTS."""
    from scripts_library.scheduler import JobSpec, ScriptScheduler
    from scripts_library.script_file import Schedule

    scheduler = ScriptScheduler(f"sqlite:///{tmp_path / 'jobs.db'}").open()
    scheduler.sync([JobSpec("script:p-pulse-watch", "script", "p-pulse-watch", Schedule("every", "15m", 0), "test"),
                    JobSpec("idle", "idle", "", Schedule("every", "45s", 0), "test")])
    fired: list = []
    return types.SimpleNamespace(scheduler=scheduler, on_fire=fired.append, carousel=None, fired=fired)
