"""The on-disk utterance cache: hits skip the engine, keys include engine/voice/text/settings, size is bounded."""
from __future__ import annotations

import os

import numpy as np

from lipsync.base import Timing
from speech.settings import SpeechSettings
from speech.tts import build_tts
from speech.tts_base import EngineAudio
from speech.tts_cache import TtsCache
from tests.edge_tts_server import EdgeTtsServer


def _audio(seconds: float, rate: int = 16000) -> EngineAudio:
    x = (0.1 * np.sin(np.arange(int(seconds * rate)) / 5)).astype(np.float32)
    return EngineAudio(x, rate, (Timing(0.0, 0.2, "hi", "word"), Timing(0.0, 0.1, "h", "phoneme")), "espeak")


def test_put_get_roundtrip(tmp_path) -> None:
    cache = TtsCache(tmp_path, 10_000_000)
    key = TtsCache.key("espeak", "en-us", "hello", "rate=170")
    assert cache.get(key) is None
    cache.put(key, _audio(0.5))
    hit = cache.get(key)
    assert hit is not None and hit.sample_rate == 16000 and hit.engine == "espeak"
    assert np.allclose(hit.samples, _audio(0.5).samples, atol=1 / 32767)
    assert hit.timings == _audio(0.5).timings
    assert (cache.hits, cache.misses) == (1, 1)


def test_key_depends_on_engine_voice_text_and_settings() -> None:
    keys = {
        TtsCache.key("espeak", "en-us", "hello"),
        TtsCache.key("piper", "en-us", "hello"),
        TtsCache.key("espeak", "en-gb", "hello"),
        TtsCache.key("espeak", "en-us", "hello!"),
        TtsCache.key("espeak", "en-us", "hello", "rate=200"),
    }
    assert len(keys) == 5


def test_size_bound_evicts_least_recently_used(tmp_path) -> None:
    one = 16000 * 2 + 2000  # ~1 s of int16 + npz overhead
    cache = TtsCache(tmp_path, 3 * one)
    keys = [TtsCache.key("espeak", "v", f"t{k}") for k in range(5)]
    for k, key in enumerate(keys[:3]):
        cache.put(key, _audio(1.0))
        os.utime(tmp_path / f"{key}.npz", (1000 + k, 1000 + k))
    assert cache.get(keys[0]) is not None  # touch the oldest: now most recent
    cache.put(keys[3], _audio(1.0))
    cache.put(keys[4], _audio(1.0))
    assert cache.total_bytes <= 3 * one
    assert sum(p.stat().st_size for p in tmp_path.glob("*.npz")) == cache.total_bytes
    assert cache.get(keys[0]) is not None
    assert cache.get(keys[1]) is None and cache.get(keys[2]) is None
    # A new cache object sees the same size on disk.
    assert TtsCache(tmp_path, 3 * one).total_bytes == cache.total_bytes


def test_torn_entry_is_dropped(tmp_path) -> None:
    cache = TtsCache(tmp_path, 10_000_000)
    key = TtsCache.key("espeak", "v", "t")
    (tmp_path / f"{key}.npz").write_bytes(b"not an npz")
    assert cache.get(key) is None
    assert not (tmp_path / f"{key}.npz").exists()


async def test_repeated_script_line_is_served_from_cache(tmp_path) -> None:
    server = await EdgeTtsServer().start()
    settings = SpeechSettings(engines=["edge", "espeak"], edge={"wss_url": server.url},
                              cache={"dir": str(tmp_path / "tts"), "max_mb": 5})
    tts = build_tts(settings, 48000, 2)
    try:
        first = await tts.synthesize_all("Welcome back everyone. Coupons are live.")
        assert server.connections == 2  # one per sentence
        second = await tts.synthesize_all("Welcome back everyone. Coupons are live.")
        assert server.connections == 2  # nothing asked of the service the second time
        assert second.engine == "edge"
        # Same audio; only the loudness leveler's running estimate may differ by a fraction of a dB.
        peak = np.abs(first.pcm.astype(int)).max()
        assert second.pcm.shape == first.pcm.shape
        assert np.abs(second.pcm.astype(int) - first.pcm.astype(int)).max() <= 0.03 * peak
        assert [t.text for t in second.timings] == [t.text for t in first.timings]
        assert len(list((tmp_path / "tts").glob("*.npz"))) == 2
    finally:
        await tts.aclose()
        await server.stop()


async def test_cut_short_utterance_is_not_cached(tmp_path) -> None:
    server = await EdgeTtsServer(mode="drop", chunk_bytes=400).start()
    settings = SpeechSettings(engines=["edge", "espeak"], edge={"wss_url": server.url},
                              cache={"dir": str(tmp_path / "tts")})
    tts = build_tts(settings, 48000, 2)
    try:
        await tts.synthesize_all("one two three four five six")
    finally:
        await tts.aclose()
        await server.stop()
    cached = {p.name for p in (tmp_path / "tts").glob("*.npz")}
    assert f"{TtsCache.key('edge', 'en-US-AriaNeural', 'one two three four five six', tts.engine.engines[0].cache_tag())}.npz" not in cached
