"""Wire the parts into one running host: store, chat, brain, speech, scripts, director, stream engine."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from configs.loader import ConfigError, load_config
from configs.models import AppConfig

log = logging.getLogger("host")

OVERLAY_REFRESH_S = 1.0


class Host:
    """The running show: builds every component from the config and runs them until stopped."""

    def __init__(self, cfg: AppConfig, *, extra_rtmp: list[str] = (), record_path: str | None = None):
        self.cfg = cfg
        self.extra_rtmp = list(extra_rtmp)
        self.record_path = record_path
        self.engine = None
        self.store = None
        self.chat = None
        self.brain = None
        self.tts = None
        self.scripts = None
        self.director = None
        self.console = None  # ConsoleServer while running
        self.asr = None  # speech.asr_source.AsrSource fed by the console's microphone
        self._stop = asyncio.Event()

    # -- building ---------------------------------------------------------------------------------------

    def build(self) -> None:
        """Create the components; raises an exception worded for the operator when one cannot start."""
        self._build_store()
        self._build_engine()
        self._build_chat()
        self._build_brain_and_speech()
        self._build_scripts()
        self._build_director()

    def _build_engine(self) -> None:
        from avatars.loader import load_avatar
        from lipsync.registry import build_renderer
        from streamer.engine import StreamEngine

        avatar = load_avatar(self.cfg.avatar, self.cfg.stream)
        renderer = build_renderer(self.cfg.lipsync, avatar)
        self.engine = StreamEngine(
            self.cfg.stream, avatar, renderer, extra_rtmp=self.extra_rtmp, record_path=self.record_path,
            status_interval_s=self.cfg.log.status_interval_s,
        )

    def _build_store(self) -> None:
        from knowledge.store import Store

        k = self.cfg.knowledge
        self.store = Store.open(k.db_url)
        if k.import_paths:
            counts = self.store.import_files(k.import_paths, embeddings=k.retrieval.embeddings)
            log.info("knowledge imported", extra={"paths": ",".join(k.import_paths), **counts})

    def _build_chat(self) -> None:
        from danmaku.pipeline import ChatPipeline
        from danmaku.sources.base import create_source

        c = self.cfg.chat
        self.chat = ChatPipeline.from_settings(c, source=create_source(c.source, c))
        store = self.store
        self.chat.on_event.append(store.add_chat_event)
        self.chat.moderator.on_verdict.append(
            lambda v: None if v.allowed else store.log_moderation("in", v.text, "refused", reason=v.reason, uid=v.uid))
        def on_audit(r) -> None:
            store.add_admin_audit(r.command, uid=r.actor_uid, uname=r.actor_name,
                                  args=json.dumps(r.args, ensure_ascii=False), allowed=r.authorized,
                                  outcome=r.result, ts=r.ts)
            if r.result == "ok" and r.command in ("mute", "unmute"):  # mutes survive restarts
                (store.mute if r.command == "mute" else store.unmute)(int(r.args["uid"]))

        self.chat.dispatcher.audit.on_record.append(on_audit)
        for uid in store.muted_uids():
            self.chat.moderator.mute(uid, c.admin.default_mute_minutes)

    def _build_brain_and_speech(self) -> None:
        from brain.responder import Brain
        from speech.tts import build_tts

        moderator = self.chat.moderator

        def guard(text: str) -> tuple[bool, str]:
            verdict = moderator.check_outgoing(text)
            return verdict.allowed, verdict.reason

        self.brain = Brain(self.store, self.cfg.brain, retrieval=self.cfg.knowledge.retrieval, guard=guard)
        self.brain.warm_up()  # load the embedding model and index now, not on the first viewer's question
        s = self.cfg.stream
        self.tts = build_tts(self.cfg.speech, s.sample_rate, s.channels)

    def _build_scripts(self) -> None:
        if not self.cfg.scripts.dir:
            return
        from scripts_library.service import ScriptsService

        store = self.store
        current = store.current_product
        self.scripts = ScriptsService(
            self.cfg.scripts,
            product_lookup=store.get_product,
            set_current_product=store.set_current_product,
            get_current_product=lambda: (p.id if (p := current()) else None),
            viewer_count=lambda: self.chat.viewer_count or None,
            synthesize=self.tts.synthesize_all,
        )

    def _build_director(self) -> None:
        from host.director import Director

        self.director = Director(self.cfg.director, self.engine, self.tts, self.chat.triage, brain=self.brain,
                                 scripts=self.scripts, store=self.store)
        self.director.register_admin(self.chat.dispatcher)

    # -- running ----------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self, duration: float | None = None, say_wav: str | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        self.engine.start()
        if self.cfg.console.enabled:
            await self._start_console()
        tasks = [asyncio.create_task(self._refresh_overlay(), name="overlay")]
        if self.chat.source is not None:
            tasks.append(asyncio.create_task(self._supervise(self.chat.run, "chat"), name="chat"))
        if self.scripts is not None:
            tasks.append(asyncio.create_task(self._supervise(self.scripts.run, "scripts"), name="scripts"))
        tasks.append(asyncio.create_task(self._supervise(self.director.run, "director"), name="director"))
        if self.asr is not None:
            tasks.append(asyncio.create_task(self._supervise(self._heard, "asr"), name="asr"))
        try:
            if say_wav:
                from host.audio_file import read_audio

                s = self.cfg.stream
                pcm = await asyncio.to_thread(read_audio, say_wav, s.sample_rate, s.channels)
                self.engine.say(pcm, text=f"<{say_wav}>")
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=duration)
            except TimeoutError:
                log.info("duration reached", extra={"seconds": duration})
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.console is not None:
                await self.console.stop()
            await asyncio.to_thread(self.engine.stop)
            await self.brain.close()
            await self.tts.aclose()
            self.store.close()

    async def _start_console(self) -> None:
        """The operator console on console.host:port (preview, viewer box, admin, KB, schedule, /metrics)."""
        from danmaku.admin.http_api import admin_routes
        from host.console.access import resolve_token
        from host.console.host_backend import HostConsoleBackend
        from host.console.server import ConsoleServer, build_console_app
        from host.metrics import HostMetrics

        c = self.cfg.console
        backend = HostConsoleBackend.from_host(self, preview_url=c.preview_url or self.engine.preview_url)
        metrics = HostMetrics(backend.health)
        backend.metrics = metrics
        backend.attach()
        token, _origin = resolve_token(c.token_env, c.token_file)
        asr_handler, upload_max = self._microphone()
        app = build_console_app(backend, token=token, settings=c, metrics=metrics, asr_handler=asr_handler,
                                upload_max_bytes=upload_max)
        app.router.add_routes(admin_routes(self.chat.dispatcher, token_env=self.cfg.chat.admin.http_token_env))
        self.console = ConsoleServer(app, c.host, c.port)
        await self.console.start()

    def _microphone(self):
        """The console's hold-to-talk microphone: speech -> ASR -> a question for the director."""
        from speech.asr import AsrError
        from speech.asr_source import AsrSource
        from speech.asr_upload import asr_upload_route

        settings = self.cfg.speech.asr
        try:
            self.asr = AsrSource(settings=settings)
        except AsrError as exc:
            log.warning("console microphone disabled", extra={"reason": str(exc)})
            return None, int(settings.max_upload_mb * 2**20)
        return asr_upload_route(self.asr), int(settings.max_upload_mb * 2**20)

    async def _heard(self) -> None:
        """What the operator said into the microphone goes through moderation and triage like a comment."""
        from danmaku.events import ChatEvent, EventKind

        async for heard in self.asr:
            await self.chat.process(ChatEvent(kind=EventKind.COMMENT, platform="asr", room=0, text=heard.text,
                                              raw={"asr": heard.source, "start": heard.start, "end": heard.end}))

    async def _supervise(self, factory, name: str) -> None:
        """Run a component forever: a crash is logged and the component restarted; the stream goes on."""
        delay = 1.0
        while True:
            try:
                await factory()
                if name == "chat":  # a finished replay is not restarted
                    log.info("chat source ended")
                    return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("component failed; restarting", extra={"component": name, "in_s": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _refresh_overlay(self) -> None:
        """Keep the on-screen shop name, product and price in step with the store."""
        overlay = self.engine.overlay
        shop = self.cfg.avatar.shop_name
        while True:
            try:
                profile_name = shop or (await asyncio.to_thread(self.store.store_profile)).get("name", "")
                product = await asyncio.to_thread(self.store.current_product)
                overlay.shop_name = profile_name or ""
                overlay.product_name = product.name if product else ""
                overlay.price = _price_text(product) if product else ""
            except Exception:
                log.exception("overlay refresh failed")
            await asyncio.sleep(OVERLAY_REFRESH_S)


def _price_text(product) -> str:
    currency = product.currency or "CNY"
    symbol = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}.get(currency, "")
    return f"{symbol}{product.price:g}" if symbol else f"{product.price:g} {currency}"


def _startup_errors() -> tuple[type[BaseException], ...]:
    from knowledge.importer import ImportFileError
    from knowledge.store import StoreError
    from scripts_library.scheduler import ScheduleError
    from scripts_library.script_file import ScriptLoadError
    from speech.tts_base import TtsError
    from streamer.errors import StartupError

    return (StartupError, FileNotFoundError, ValueError, ImportFileError, StoreError, TtsError, ScriptLoadError,
            ScheduleError)


def run_from_args(args: argparse.Namespace) -> int:
    """`main.py run`: exits non-zero only when the configuration or start-up cannot work."""
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(cfg.log.level.upper())
    host = Host(cfg, extra_rtmp=args.rtmp, record_path=args.record)
    try:
        host.build()
    except _startup_errors() as exc:  # worded for the operator by the component that refused to start
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(host.run(duration=args.duration, say_wav=args.say_wav))
    except _startup_errors() as exc:  # an output that cannot open (e.g. an unwritable recording path)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
