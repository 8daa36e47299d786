"""Registers the built-in TTS engines (edge, espeak, piper) with the registry in speech.tts_base."""
from __future__ import annotations

from speech import edge_engine, espeak_engine, piper_engine  # noqa: F401 - imported for registration
