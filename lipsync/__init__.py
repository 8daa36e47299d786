"""Lip-sync renderers: speech audio in, avatar frames out (see docs/lipsync.md).

Kept light at import (configs import lipsync.settings): ``lipsync.build_renderer`` and the renderer registry load
on first use through :mod:`lipsync.registry`.
"""
from __future__ import annotations


def __getattr__(name: str):
    if name in {"build_renderer", "resolve_device", "RendererConfigError"}:
        from lipsync import registry  # noqa: PLC0415 - importing it registers the renderers

        return getattr(registry, name)
    raise AttributeError(f"module 'lipsync' has no attribute {name!r}")
