"""Size-bounded on-disk cache of whole utterances keyed by (engine, voice, text), for repeated scripts.

One ``.npz`` per utterance (engine-rate int16 mono + timings); least recently used entries go first.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from lipsync.base import Timing
from speech.tts_base import EngineAudio, EngineRequest, TtsEngine

log = logging.getLogger(__name__)

_FORMAT_VERSION = 1


class TtsCache:
    """Utterance store under ``directory`` holding at most ``max_bytes``."""

    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(f"cannot create TTS cache folder {self.directory} (speech.cache.dir): {exc}") from exc
        self._total = sum(p.stat().st_size for p in self.directory.glob("*.npz"))

    @staticmethod
    def key(engine: str, voice: str, text: str, tag: str = "") -> str:
        """Stable file name for an utterance (``tag`` carries settings such as rate)."""
        raw = json.dumps([_FORMAT_VERSION, engine, voice, text, tag], ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def get(self, key: str) -> EngineAudio | None:
        """The stored utterance, or None; a hit marks the entry as recently used."""
        path = self._path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                samples = data["samples"].astype(np.float32) / 32767.0
                rate = int(data["rate"])
                timings = tuple(
                    Timing(float(s), float(e), str(t), str(k))
                    for s, e, t, k in zip(data["starts"], data["ends"], data["texts"], data["kinds"], strict=True)
                )
                engine = str(data["engine"])
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, KeyError) as exc:  # a torn or foreign file: drop it
            log.warning("dropping unreadable TTS cache entry", extra={"path": str(path), "error": str(exc)})
            self._remove(path)
            self.misses += 1
            return None
        now = time.time()
        try:
            os.utime(path, (now, now))
        except OSError:
            pass
        self.hits += 1
        return EngineAudio(samples, rate, timings, engine)

    def put(self, key: str, audio: EngineAudio) -> None:
        """Store an utterance atomically, then evict the oldest entries beyond the size bound."""
        path = self._path(key)
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        ints = np.clip(np.round(audio.samples * 32767.0), -32768, 32767).astype(np.int16)
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                samples=ints,
                rate=np.int64(audio.sample_rate),
                starts=np.array([t.start for t in audio.timings], dtype=np.float64),
                ends=np.array([t.end for t in audio.timings], dtype=np.float64),
                texts=np.array([t.text for t in audio.timings], dtype=np.str_),
                kinds=np.array([t.kind for t in audio.timings], dtype=np.str_),
                engine=np.str_(audio.engine),
            )
        with self._lock:
            old = path.stat().st_size if path.exists() else 0
            os.replace(tmp, path)
            self._total += path.stat().st_size - old
            self._evict()

    def _remove(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError:
            return
        with self._lock:
            self._total -= size

    def _evict(self) -> None:
        if self._total <= self.max_bytes:
            return
        entries = []
        for p in self.directory.glob("*.npz"):
            try:
                st = p.stat()
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, p))
        entries.sort()
        total = sum(size for _, size, _ in entries)
        for _, size, p in entries:
            if total <= self.max_bytes:
                break
            try:
                p.unlink()
                total -= size
            except OSError:
                continue
        self._total = total

    @property
    def total_bytes(self) -> int:
        """Bytes currently stored."""
        return self._total


class CachedEngine(TtsEngine):
    """Wraps an engine: a hit replays the stored utterance; a complete miss is stored for next time."""

    def __init__(self, engine: TtsEngine, cache: TtsCache) -> None:
        self.inner = engine
        self.cache = cache
        self.name = engine.name  # type: ignore[misc] - instance name mirrors the wrapped engine
        self.languages = engine.languages

    def default_voice(self, language: str) -> str:
        return self.inner.default_voice(language)

    def resolve_voice(self, voice: str | None, language: str) -> str:
        return self.inner.resolve_voice(voice, language)

    def accepts_voice(self, voice: str) -> bool:
        return self.inner.accepts_voice(voice)

    def cache_tag(self) -> str:
        return self.inner.cache_tag()

    async def stream(self, request: EngineRequest) -> AsyncIterator[EngineAudio]:
        key = TtsCache.key(self.inner.name, request.voice, request.text, self.inner.cache_tag())
        hit = self.cache.get(key)
        if hit is not None:
            yield hit
            return
        chunks: list[EngineAudio] = []
        async for chunk in self.inner.stream(request):
            chunks.append(chunk)
            yield chunk
        if chunks and len({c.sample_rate for c in chunks}) == 1:
            whole = EngineAudio(
                np.concatenate([c.samples for c in chunks]),
                chunks[0].sample_rate,
                tuple(t for c in chunks for t in c.timings),
                self.inner.name,
            )
            try:
                self.cache.put(key, whole)
            except OSError as exc:  # a full disk must not silence the host
                log.warning("TTS cache write failed", extra={"error": str(exc)})

    async def aclose(self) -> None:
        await self.inner.aclose()
