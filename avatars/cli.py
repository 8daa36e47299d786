"""`avatar` subcommands: `avatar prepare` builds an avatar pack from a clip or a photo."""
from __future__ import annotations

import argparse


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        parts = tuple(int(v) for v in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h in pixels, got '{text}'")
    return parts  # type: ignore[return-value]


def register(sub: argparse._SubParsersAction) -> None:
    avatar = sub.add_parser("avatar", help="avatar packs: prepare one from a video or a photo")
    avatar_sub = avatar.add_subparsers(dest="avatar_command", metavar="SUBCOMMAND")
    prep = avatar_sub.add_parser(
        "prepare",
        help="make an avatar pack (loop, face boxes, mouth regions, face crops) from a video clip or a photo",
        description="Detect the face on every frame (OpenCV Haar cascade) or use --box, pick a loop segment "
        "that ping-pongs smoothly, and store it as a pack under avatar.packs_dir/NAME.",
    )
    prep.add_argument("--video", required=True, metavar="FILE", help="video clip (mp4, mov, ...) or a photo (jpg, png)")
    prep.add_argument("--name", required=True, help="pack name (set avatar.name to it to go on air)")
    prep.add_argument("--box", type=_box, metavar="x,y,w,h", help="face box in output pixels; skips face detection")
    prep.add_argument("--out", metavar="DIR", help="pack directory (default: avatar.packs_dir/NAME)")
    prep.add_argument("--max-seconds", type=float, default=20.0, metavar="S", help="read at most this much of the clip (default 20)")
    prep.add_argument("--min-seconds", type=float, default=2.0, metavar="S", help="shortest acceptable loop (default 2)")
    prep.add_argument("--max-height", type=int, default=1080, metavar="PX", help="scale larger inputs down to this height (default 1080)")
    prep.add_argument("--format", choices=["video", "images"], default="video",
                      help="store the loop as H.264 (default) or as a PNG sequence")
    prep.add_argument("--force", action="store_true", help="replace an existing pack of that name")
    prep.add_argument("--config", help="TOML config, for avatar.packs_dir (default: configs/default.toml)")
    prep.set_defaults(func=_prepare)
    avatar.set_defaults(func=lambda args: (avatar.print_help(), 2)[1])


def _prepare(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from avatars.prepare import PrepareError, PrepareOptions, prepare_pack

    if args.out:
        out = Path(args.out)
    else:
        from configs.loader import ConfigError, load_config

        try:
            cfg = load_config(args.config)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        out = Path(cfg.avatar.packs_dir) / args.name
    opts = PrepareOptions(
        source=Path(args.video), name=args.name, out_dir=out, box=args.box, max_seconds=args.max_seconds,
        min_seconds=args.min_seconds, max_height=args.max_height, frames_format=args.format, force=args.force,
        progress=sys.stderr.isatty(),
    )
    try:
        pack = prepare_pack(opts)
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"avatar pack ready: {pack}  (go on air with [avatar] name = \"{args.name}\""
          + ("" if not args.out else f" or name = \"{pack}\"") + ")")
    return 0
