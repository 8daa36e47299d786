"""What `main.py render` does: load avatar and renderer from the config, read audio and timings, write the MP4."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from avatars.base import Avatar
from configs.models import AppConfig
from lipsync.base import Timing

log = logging.getLogger(__name__)


def load_timings(path: str | Path) -> list[Timing]:
    """Timings from JSON: a list of {start, end, text, kind?}; a bad entry names the file and its index."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"timings file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of {{start, end, text, kind}} objects")
    out = []
    for i, item in enumerate(data):
        try:
            timing = Timing(float(item["start"]), float(item["end"]), str(item["text"]), str(item.get("kind", "phoneme")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: entry {i} is not {{start, end, text, kind}}: {exc}") from None
        if timing.end < timing.start or timing.kind not in ("phoneme", "word"):
            raise ValueError(f"{path}: entry {i} has end < start or a kind other than 'phoneme'/'word'")
        out.append(timing)
    return out


def load_configured_avatar(cfg: AppConfig, name: str | None) -> Avatar:
    """The avatar the live host would use (avatars.loader), optionally another name."""
    avatar_cfg = cfg.avatar.model_copy(update={"name": name}) if name else cfg.avatar
    try:
        from avatars.loader import load_avatar  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name != "avatars.loader":
            raise
        # The avatar loader has not landed: the built-in presenter is the only avatar known here.
        if avatar_cfg.name != "builtin":
            raise ValueError(f"avatar '{avatar_cfg.name}': avatar packs need avatars.loader (not installed)") from None
        from avatars.builtin import BuiltinAvatar  # noqa: PLC0415

        return BuiltinAvatar(cfg.stream.width, cfg.stream.height, cfg.stream.fps)
    return load_avatar(avatar_cfg, cfg.stream)


def render_file(cfg: AppConfig, args: argparse.Namespace) -> dict:
    """Render ``args.audio`` to ``args.out`` through the live engine's offline mode; returns a summary."""
    from lipsync.audio_file import read_audio  # noqa: PLC0415
    from lipsync.registry import build_renderer  # noqa: PLC0415
    from streamer.offline_render import render_to_file  # noqa: PLC0415 - same timeline/encoder/sink as on air

    s = cfg.stream
    pcm = read_audio(args.audio, s.sample_rate, s.channels)
    timings = load_timings(args.timings) if args.timings else []
    avatar = load_configured_avatar(cfg, args.avatar)
    try:
        renderer = build_renderer(cfg.lipsync, avatar, renderer=args.renderer)
        handle = render_to_file(s, avatar, renderer, pcm, timings, args.out, lead_in_s=args.lead_in, tail_s=args.tail)
    finally:
        avatar.close()
    if handle.error:
        raise ValueError(f"renderer '{renderer.name}' failed while rendering {args.audio}: {handle.error}")
    spf = s.sample_rate // s.fps
    lead, tail = max(0, round(args.lead_in * s.fps)), max(0, round(args.tail * s.fps))
    frames = lead + max(1, -(-len(pcm) // spf)) + tail
    return {"frames": frames, "seconds": frames / s.fps, "renderer": renderer.name}
