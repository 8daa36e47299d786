"""`chat tail` (print a source's normalized events) and `moderate` (verdicts for text lines)."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `chat` (with `tail`) and `moderate` subcommands."""
    chat = sub.add_parser("chat", help="chat sources: check that a room connects")
    chat_sub = chat.add_subparsers(dest="chat_command", metavar="SUBCOMMAND")
    tail = chat_sub.add_parser(
        "tail", help="print normalized events of a chat source as JSON lines",
        description="Connect a chat source and print its normalized events as JSON lines; exit after --count "
                    "events (exit 1 if --timeout passes first). The operator's check that a room connects.")
    tail.add_argument("--config", help="TOML config (default: configs/default.toml)")
    tail.add_argument("--source", choices=["bilibili", "replay", "console"], help="default: chat.source")
    tail.add_argument("--room", type=int, help="bilibili live room id (chat.bilibili.room)")
    tail.add_argument("--api-base", help="replaces https://api.live.bilibili.com and https://api.bilibili.com")
    tail.add_argument("--ws-url", help="danmaku websocket URL, replaces getDanmuInfo's host list")
    tail.add_argument("--file", help="replay: JSONL recording (chat.replay.file)")
    tail.add_argument("--speed", type=float, help="replay: 1 = real time, 0 = as fast as possible")
    tail.add_argument("--listen", default="127.0.0.1:8766", metavar="HOST:PORT",
                      help="console: serve POST /chat/post and websocket /chat/ws here (default 127.0.0.1:8766)")
    tail.add_argument("--count", type=int, default=0, help="exit after N events (0 = until the source ends)")
    tail.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0 = never)")
    tail.add_argument("--raw", action="store_true", help="include the platform payload")
    tail.add_argument("--stats", action="store_true", help="print the source's counters to stderr at the end")
    tail.set_defaults(func=_tail)
    chat.set_defaults(func=lambda _a: chat.print_help() or 2)

    moderate = sub.add_parser(
        "moderate", help="moderation verdicts for text lines on stdin",
        description='Read lines on stdin, print one JSON verdict a line: {"text", "allowed", "reason", "clean_text"}.')
    moderate.add_argument("--config", help="TOML config (default: configs/default.toml)")
    moderate.add_argument("--banned-words", action="append", default=[], metavar="FILE",
                          help="extra banned-words file (repeatable; added to chat.moderation lists)")
    moderate.add_argument("--no-default-list", action="store_true", help="do not load danmaku/data/banned_words.txt")
    moderate.add_argument("--outgoing", action="store_true", help="judge as text the host would say (output guard)")
    moderate.set_defaults(func=_moderate)


def _chat_settings(config: str | None):
    from configs.loader import ConfigError, load_config

    try:
        return load_config(config).chat
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _tail(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from danmaku.sources.base import create_source

    settings = _chat_settings(args.config)
    if settings is None:
        return 2
    name = args.source or settings.source
    if name == "bilibili":
        overrides = {"room": args.room, "api_base": args.api_base, "ws_url": args.ws_url}
    elif name == "replay":
        overrides = {"file": args.file, "speed": args.speed}
    else:
        overrides = {}
    try:
        source = create_source(name, settings, **overrides)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        seen = 0
        runner = None
        if name == "console":
            from aiohttp import web

            from danmaku.sources.console_source import console_routes

            host, _, port = args.listen.rpartition(":")
            app = web.Application()
            app.add_routes(console_routes(source))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
            except (OSError, ValueError) as exc:
                print(f"error: cannot listen on {args.listen}: {exc}", file=sys.stderr)
                await runner.cleanup()
                return 2
            print(f"console source listening on http://{args.listen}/chat/post and ws://{args.listen}/chat/ws",
                  file=sys.stderr, flush=True)

        async def consume() -> None:
            nonlocal seen
            async for event in source.events():
                print(json.dumps(event.to_dict(with_raw=args.raw), ensure_ascii=False, default=str), flush=True)
                seen += 1
                if args.count and seen >= args.count:
                    return

        try:
            await asyncio.wait_for(consume(), timeout=args.timeout or None)
        except asyncio.TimeoutError:
            print(f"error: {seen} event(s) within {args.timeout:g}s (wanted {args.count or 'more'})", file=sys.stderr)
            return 1
        finally:
            if args.stats:
                print(json.dumps(source.stats.snapshot()), file=sys.stderr)
            if runner is not None:
                await runner.cleanup()
        return 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 130


def _moderate(args: argparse.Namespace) -> int:
    import json

    from danmaku.moderation import Moderator
    from danmaku.moderation.banned_words import BannedWordsError

    settings = _chat_settings(args.config)
    if settings is None:
        return 2
    m = settings.moderation
    files = list(m.banned_words_files) + list(args.banned_words)
    try:
        moderator = Moderator.from_settings(m, banned_files=files,
                                            use_default_list=m.use_default_list and not args.no_default_list)
    except BannedWordsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stdin = sys.stdin.buffer
    for raw in stdin:
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        verdict = moderator.check_outgoing(text) if args.outgoing else moderator.check(text)
        print(json.dumps(verdict.to_json(), ensure_ascii=False), flush=True)
    return 0
