"""`render` subcommand: one utterance (audio file) lip-synced over the idle loop to an MP4."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``render`` to the main parser."""
    p = sub.add_parser(
        "render",
        help="audio -> lip-synced MP4 (H.264 + AAC) with the configured avatar and renderer",
        description="Render one utterance over the avatar's idle loop, as it would go on air, to an MP4 file.",
    )
    p.add_argument("--audio", required=True, metavar="FILE.wav", help="speech audio (any format PyAV reads)")
    p.add_argument("--out", required=True, metavar="FILE.mp4", help="output MP4 (folders are created)")
    p.add_argument("--avatar", metavar="NAME", help="avatar name or pack path (default: config avatar.name)")
    p.add_argument("--renderer", metavar="NAME", help="lip-sync renderer (default: config lipsync.renderer)")
    p.add_argument("--config", metavar="FILE", help="TOML config (default: configs/default.toml)")
    p.add_argument("--timings", metavar="FILE.json", help="phoneme/word timings: [{start, end, text, kind}, ...]")
    p.add_argument("--lead-in", type=float, default=0.5, metavar="SECONDS", help="idle loop before the speech")
    p.add_argument("--tail", type=float, default=0.5, metavar="SECONDS", help="idle loop after the speech")
    p.set_defaults(func=_render)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _render(args: argparse.Namespace) -> int:
    from configs.loader import ConfigError, load_config  # noqa: PLC0415 - keep `--help` instant

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    from lipsync.render_command import render_file  # noqa: PLC0415

    try:
        summary = render_file(cfg, args)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))
    print(f"wrote {args.out}: {summary['frames']} frames ({summary['seconds']:.2f} s), renderer {summary['renderer']}")
    return 0
