"""Registers the renderers and builds the configured one on the right device."""
from __future__ import annotations

import logging

from avatars.base import Avatar
from lipsync import viseme_renderer, wav2lip_renderer  # noqa: F401 - importing registers them
from lipsync.base import Renderer, get_renderer_class, renderer_names
from lipsync.settings import LipsyncSettings

log = logging.getLogger(__name__)


class RendererConfigError(ValueError):
    """The configured renderer cannot be built; the message names the config key and the fix."""


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; an explicit 'cuda' without a GPU is an error."""
    if device == "cpu":
        return "cpu"
    import torch  # noqa: PLC0415 - only renderers that run a network need torch

    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise RendererConfigError("lipsync.device = 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return "cuda" if has_cuda else "cpu"


def build_renderer(settings: LipsyncSettings, avatar: Avatar | None = None, renderer: str | None = None) -> Renderer:
    """The renderer named by ``renderer`` or ``settings.renderer``, on cuda (fp16) when present, else cpu."""
    name = renderer or settings.renderer
    try:
        cls = get_renderer_class(name)
    except KeyError as exc:
        raise RendererConfigError(f"bad value for config key 'lipsync.renderer': {exc.args[0]}") from None
    if cls.name == "none":
        return cls()
    device = resolve_device(settings.device) if getattr(cls, "needs_device", False) else "cpu"
    from lipsync.wav2lip_checkpoint import CheckpointError  # noqa: PLC0415 - cheap, but keeps torch out of import time

    try:
        built = cls(settings, device=device)
    except CheckpointError as exc:
        raise RendererConfigError(str(exc)) from None
    log.info(
        "lip-sync renderer ready",
        extra={"renderer": name, "device": device, "avatar": getattr(avatar, "name", None)},
    )
    return built


def check_renderer(settings: LipsyncSettings) -> tuple[bool, str]:
    """For `doctor`: can the configured renderer be built, and what would it use? Loads no weights."""
    from pathlib import Path  # noqa: PLC0415

    from lipsync.wav2lip_checkpoint import missing_checkpoint_message  # noqa: PLC0415

    name = settings.renderer
    if name not in renderer_names():
        return False, f"lipsync.renderer = '{name}' is not one of: {', '.join(renderer_names())}"
    if not getattr(get_renderer_class(name), "needs_device", False):
        return True, f"renderer {name} on cpu (no weights needed)"
    try:
        device = resolve_device(settings.device)
    except RendererConfigError as exc:
        return False, str(exc)
    path = Path(settings.wav2lip_checkpoint)
    if not path.is_file():
        return False, missing_checkpoint_message(path)
    precision = "fp16" if device == "cuda" and settings.fp16 else "fp32"
    size_mb = path.stat().st_size / 2**20
    return True, f"renderer {name} on {device} ({precision}, batch {settings.batch_size}), {path} ({size_mb:.0f} MiB)"


__all__ = ["RendererConfigError", "build_renderer", "check_renderer", "renderer_names", "resolve_device"]
