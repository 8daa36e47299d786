"""Wire the parts into one running host: config -> avatar, renderer, stream engine (-> chat, brain, director)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from configs.loader import ConfigError, load_config
from configs.models import AppConfig

log = logging.getLogger("host")


class Host:
    """The running show. Owns the stream engine and (as they land) chat, brain and director."""

    def __init__(self, cfg: AppConfig, *, extra_rtmp: list[str] = (), record_path: str | None = None):
        self.cfg = cfg
        self.extra_rtmp = list(extra_rtmp)
        self.record_path = record_path
        self.engine = None
        self._stop = asyncio.Event()

    def build(self) -> None:
        """Create the components; raises StartupError/ValueError with an operator-facing message."""
        from avatars.loader import load_avatar
        from lipsync.registry import build_renderer
        from streamer.engine import StreamEngine

        avatar = load_avatar(self.cfg.avatar, self.cfg.stream)
        renderer = build_renderer(self.cfg.lipsync, avatar)
        self.engine = StreamEngine(
            self.cfg.stream, avatar, renderer, extra_rtmp=self.extra_rtmp, record_path=self.record_path,
            status_interval_s=self.cfg.log.status_interval_s,
        )

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self, duration: float | None = None, say_wav: str | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        self.engine.start()
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
            await asyncio.to_thread(self.engine.stop)


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
    except Exception as exc:  # start-up errors are worded for the operator by the component
        from streamer.engine import StartupError

        if isinstance(exc, (StartupError, FileNotFoundError, ValueError)):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
    asyncio.run(host.run(duration=args.duration, say_wav=args.say_wav))
    return 0
