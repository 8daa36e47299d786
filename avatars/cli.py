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
    """Add `avatar prepare|list|preview` to the main parser."""
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

    lst = avatar_sub.add_parser("list", help="list the avatar packs under avatar.packs_dir")
    lst.add_argument("--config", help="TOML config, for avatar.packs_dir (default: configs/default.toml)")
    lst.set_defaults(func=_list)

    prev = avatar_sub.add_parser("preview", help="write one frame of the configured avatar, with overlays, as an image")
    prev.add_argument("--out", required=True, metavar="FILE.png", help="image to write (png or jpg)")
    prev.add_argument("--avatar", metavar="NAME", help="'builtin', a pack name or a pack path (default: avatar.name)")
    prev.add_argument("--index", type=int, default=0, help="loop frame to show (default 0)")
    prev.add_argument("--product", default="", help="product name to show on the overlay")
    prev.add_argument("--price", default="", help="price to show, e.g. ¥59.9")
    prev.add_argument("--shop", help="shop name (default: avatar.shop_name)")
    prev.add_argument("--config", help="TOML config (default: configs/default.toml)")
    prev.set_defaults(func=_preview)
    avatar.set_defaults(func=lambda args: (avatar.print_help(), 2)[1])


def _config(args: argparse.Namespace):
    import sys

    from configs.loader import ConfigError, load_config

    try:
        return load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _prepare(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from avatars.prepare import PrepareError, PrepareOptions, prepare_pack

    if args.out:
        out = Path(args.out)
    else:
        cfg = _config(args)
        if cfg is None:
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


def _list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from avatars.pack import MANIFEST, PackError, read_manifest

    cfg = _config(args)
    if cfg is None:
        return 2
    root = Path(cfg.avatar.packs_dir)
    dirs = sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()) if root.is_dir() else []
    if not dirs:
        print(f"no avatar packs in {root} (make one with: python main.py avatar prepare --video FILE --name NAME)")
        return 0
    for d in dirs:
        try:
            m = read_manifest(d)
        except PackError as exc:
            print(f"{d.name}\tbroken: {exc}")
            continue
        crops = "face crops" if m.face_crops else "no face crops"
        print(f"{d.name}\t{m.width}x{m.height} {m.fps} fps, {m.loop_length} frames "
              f"({m.loop_length / m.fps:.1f} s), {m.frames.kind}, {crops}")
    return 0


def _preview(args: argparse.Namespace) -> int:
    import sys

    import cv2

    from avatars.base import OverlayData
    from avatars.loader import load_avatar
    from avatars.pack import PackError

    cfg = _config(args)
    if cfg is None:
        return 2
    settings = cfg.avatar.model_copy(update={"name": args.avatar}) if args.avatar else cfg.avatar
    try:
        avatar = load_avatar(settings, cfg.stream)
    except (FileNotFoundError, PackError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        frame = avatar.frame(args.index)
        shop = args.shop if args.shop is not None else (settings.shop_name or "")
        avatar.draw_overlay(frame, OverlayData(shop, args.product, args.price))
        if not cv2.imwrite(args.out, frame):
            print(f"error: cannot write {args.out} (use a .png or .jpg name in a writable folder)", file=sys.stderr)
            return 2
    finally:
        avatar.close()
    print(f"wrote {args.out} ({avatar.name}, {avatar.width}x{avatar.height}, loop frame {args.index % avatar.loop_length})")
    return 0
