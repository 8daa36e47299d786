"""Choose the avatar from configuration: the built-in presenter or a pack by name or path."""
from __future__ import annotations

import logging
from pathlib import Path

from avatars.base import Avatar
from avatars.settings import AvatarSettings

log = logging.getLogger("avatars")


def resolve_pack_dir(settings: AvatarSettings) -> Path:
    """Directory of the configured pack: a path as given, else ``packs_dir/name``."""
    name = settings.name
    as_path = Path(name).expanduser()
    if as_path.is_absolute() or "/" in name or as_path.is_dir():
        return as_path
    return Path(settings.packs_dir).expanduser() / name


def load_avatar(settings: AvatarSettings, stream=None) -> Avatar:
    """Build the configured avatar at the stream's size and fps (``stream``: StreamSettings or None)."""
    width = getattr(stream, "width", 1280)
    height = getattr(stream, "height", 720)
    fps = getattr(stream, "fps", 25)
    if settings.name == "builtin":
        from avatars.builtin import BuiltinAvatar

        return BuiltinAvatar(width, height, fps, loop_seconds=settings.loop_seconds, font_path=settings.font)
    from avatars.pack import PackAvatar

    pack_dir = resolve_pack_dir(settings)
    if not pack_dir.is_dir():
        default_place = pack_dir == Path(settings.packs_dir).expanduser() / pack_dir.name
        out = "" if default_place else f" --out {pack_dir}"
        raise FileNotFoundError(
            f"avatar pack not found: {pack_dir} (config avatar.name = '{settings.name}'); create it with: "
            f"python main.py avatar prepare --video YOUR_CLIP.mp4 --name {pack_dir.name}{out}"
        )
    avatar = PackAvatar(pack_dir, size=(width, height), max_cached_frames=settings.decode_cache_frames,
                        font_path=settings.font)
    if avatar.fps != fps:
        log.warning("avatar pack fps differs from the stream's; the idle loop plays at the stream's rate",
                    extra={"pack_fps": avatar.fps, "stream_fps": fps, "pack": str(pack_dir)})
    if avatar.manifest.width * height != avatar.manifest.height * width:
        log.warning("avatar pack aspect ratio differs from the stream's; its edges are cropped",
                    extra={"pack": str(pack_dir)})
    return avatar
