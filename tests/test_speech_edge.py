"""The edge engine against a local peer speaking edge-tts's websocket protocol; fallback and cool-down."""
from __future__ import annotations

import asyncio
import socket
import time

import numpy as np
import pytest

from speech.settings import SpeechSettings
from speech.tts import build_tts
from speech.tts_base import TtsUnavailable
from tests.edge_tts_server import GAP_S, LEAD_S, WORD_S, EdgeTtsServer


@pytest.fixture
async def edge_server():
    server = await EdgeTtsServer().start()
    yield server
    await server.stop()


def _settings(tmp_path, url: str, **kw) -> SpeechSettings:
    edge = {"wss_url": url, **kw.pop("edge", {})}
    return SpeechSettings(
        engines=kw.pop("engines", ["edge", "espeak"]), edge=edge,
        cache={"enabled": False, "dir": str(tmp_path / "cache")}, **kw,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeClock:
    """Monotonic clock the test moves by hand (for the cool-down)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_edge_chunks_are_decoded_and_word_timings_parsed(tmp_path, edge_server) -> None:
    settings = _settings(tmp_path, edge_server.url, edge={"rate": "+10%", "pitch": "-5Hz"})
    tts = build_tts(settings, 48000, 2)
    chunks = []
    try:
        async for chunk in tts.synthesize("Hello big world today"):
            chunks.append(chunk)
    finally:
        await tts.aclose()
    assert {c.engine for c in chunks} == {"edge"}
    pcm = np.concatenate([c.pcm for c in chunks])
    x = pcm[:, 0].astype(np.float32) / 32768
    onset = int(np.argmax(np.abs(x) > 10 ** (-45 / 20)))
    assert onset <= 0.02 * 48000  # the server's 100 ms lead-in is dropped (10 ms kept before the sound)
    trimmed = LEAD_S - onset / 48000 - 0.01  # about: the tone's own fade-in sits below the threshold
    expected = LEAD_S + 4 * (WORD_S + GAP_S)
    assert abs(len(pcm) / 48000 - (expected - trimmed)) < 0.1  # MP3 decoder priming/padding only
    words = [t for c in chunks for t in c.timings]
    assert [t.text for t in words] == ["Hello", "big", "world", "today"]
    # The timings moved with the audio (the first word may be cut at 0: MP3 priming delays the sound a little).
    assert words[0].start < 0.05 and 0 < words[0].end - words[0].start <= WORD_S + 1e-6
    for k, t in enumerate(words[1:], start=1):
        assert t.kind == "word"
        assert t.start - words[1].start == pytest.approx((k - 1) * (WORD_S + GAP_S), abs=1e-6)
        assert t.end - t.start == pytest.approx(WORD_S, abs=1e-6)
    assert words[1].start - words[0].end == pytest.approx(GAP_S, abs=1e-6)
    # The tones are really there: loud words, a quiet gap between them.
    span = x[int(words[1].start * 48000) : int(words[2].end * 48000)]
    rms = np.sqrt(np.mean(span[: len(span) // 960 * 960].reshape(-1, 960) ** 2, axis=1))  # 20 ms windows
    assert rms.max() > 10 * (rms.min() + 1e-4)
    # Leveled to the same target as the offline engines, so a fallback does not jump in loudness.
    from speech.loudness import dbfs, voiced_rms

    rms, _ = voiced_rms(x, 48000)
    assert abs(dbfs(rms) - settings.loudness_dbfs) <= 1.5
    # What the client sent follows the protocol.
    req = edge_server.requests[0]
    assert req.text == "Hello big world today"
    assert "en-US, AriaNeural" in req.voice
    assert req.prosody == {"pitch": "-5Hz", "rate": "+10%", "volume": "+0%"}
    assert req.config["context"]["synthesis"]["audio"]["outputFormat"] == "audio-24khz-48kbitrate-mono-mp3"
    assert req.query["Sec-MS-GEC"] and req.query["ConnectionId"]


async def test_edge_streams_chunk_by_chunk(tmp_path, edge_server) -> None:
    edge_server.chunk_bytes = 600
    edge_server.frame_delay_s = 0.02
    tts = build_tts(_settings(tmp_path, edge_server.url), 48000, 1)
    sizes = []
    try:
        async for chunk in tts.synthesize("one two three four five six seven eight"):
            sizes.append(len(chunk.pcm))
    finally:
        await tts.aclose()
    assert len([s for s in sizes if s]) >= 3  # audio handed out while the MP3 is still arriving


async def test_chinese_text_uses_the_chinese_voice(tmp_path, edge_server) -> None:
    tts = build_tts(_settings(tmp_path, edge_server.url), 48000, 2)
    try:
        _, timings, engine = await tts.synthesize_all("大家好[doge]，只要¥199")
    finally:
        await tts.aclose()
    assert engine == "edge"
    assert "zh-CN, XiaoxiaoNeural" in edge_server.requests[0].voice
    assert edge_server.requests[0].text == "大家好,只要一百九十九元"
    assert [t.text for t in timings][:3] == ["大", "家", "好"]


async def test_refused_connection_falls_back_within_one_second(tmp_path) -> None:
    url = f"ws://127.0.0.1:{_free_port()}/consumer/speech/synthesize/readaloud/edge/v1?TrustedClientToken=x"
    tts = build_tts(_settings(tmp_path, url), 48000, 2)
    try:
        start = time.monotonic()
        first = await anext(tts.synthesize("Hello there."))
        elapsed = time.monotonic() - start
    finally:
        await tts.aclose()
    assert first.engine == "espeak"
    assert elapsed < 1.0


async def test_dns_failure_falls_back_within_one_second(tmp_path) -> None:
    tts = build_tts(_settings(tmp_path, "ws://speech.host.invalid/edge/v1?TrustedClientToken=x"), 48000, 2)
    try:
        start = time.monotonic()
        _, _, engine = await tts.synthesize_all("Hello there.")
        elapsed = time.monotonic() - start
    finally:
        await tts.aclose()
    assert engine == "espeak"
    assert elapsed < 1.0 + 0.5  # DNS failure + espeak's own synthesis


async def test_black_holed_service_is_cut_by_the_connect_bound(tmp_path, edge_server) -> None:
    edge_server.mode = "hang"
    tts = build_tts(_settings(tmp_path, edge_server.url), 48000, 2)
    try:
        start = time.monotonic()
        _, _, engine = await tts.synthesize_all("Hello there.")
        elapsed = time.monotonic() - start
    finally:
        await tts.aclose()
    assert engine == "espeak"
    assert 1.9 <= elapsed < 2.5  # default speech.edge.connect_timeout_s = 2


async def test_http_403_falls_back(tmp_path, edge_server) -> None:
    edge_server.mode = "forbidden"
    tts = build_tts(_settings(tmp_path, edge_server.url), 48000, 2)
    try:
        _, _, engine = await tts.synthesize_all("Hello there.")
    finally:
        await tts.aclose()
    assert engine == "espeak"
    assert tts.engine.health["edge"].failures == 1


async def test_edge_is_skipped_during_cooldown_and_probed_after(tmp_path) -> None:
    server = EdgeTtsServer(port=_free_port())
    settings = _settings(tmp_path, server.url, cooldown_s=30)
    tts = build_tts(settings, 48000, 2)
    clock = FakeClock()
    tts.engine.clock = clock
    try:
        _, _, engine = await tts.synthesize_all("First.")  # nothing listening yet
        assert engine == "espeak"
        await server.start()
        clock.now += 10
        _, _, engine = await tts.synthesize_all("Second.")  # still cooling down: edge not even tried
        assert engine == "espeak" and server.connections == 0
        clock.now += 25
        _, _, engine = await tts.synthesize_all("Third.")  # cool-down over: edge probed and back
        assert engine == "edge" and server.connections == 1
        assert tts.engine.health["edge"].down_until == 0.0
    finally:
        await tts.aclose()
        await server.stop()


async def test_every_engine_cooling_down_still_speaks(tmp_path) -> None:
    server = EdgeTtsServer(port=_free_port())
    tts = build_tts(_settings(tmp_path, server.url, engines=["edge"]), 48000, 2)
    try:
        with pytest.raises(TtsUnavailable, match="edge"):
            await tts.synthesize_all("Hello.")
        await server.start()
        try:
            _, _, engine = await tts.synthesize_all("Hello.")  # only engine: probed despite its cool-down
        finally:
            await server.stop()
        assert engine == "edge"
    finally:
        await tts.aclose()


async def test_stream_dropped_mid_utterance_cuts_it_and_next_sentence_falls_back(tmp_path, edge_server) -> None:
    edge_server.mode = "drop"
    edge_server.chunk_bytes = 500
    tts = build_tts(_settings(tmp_path, edge_server.url, edge={"receive_timeout_s": 1.0}), 48000, 2)
    try:
        engines = []
        async for chunk in tts.synthesize("one two three four five six seven eight. And a second sentence."):
            if chunk.engine:
                engines.append(chunk.engine)
    finally:
        await tts.aclose()
    assert engines[0] == "edge" and engines[-1] == "espeak"
    assert tts.engine.health["edge"].failures == 1


async def test_concurrent_utterances_share_the_engine(tmp_path, edge_server) -> None:
    tts = build_tts(_settings(tmp_path, edge_server.url), 48000, 2)
    try:
        results = await asyncio.gather(*(tts.synthesize_all(f"word {k}") for k in range(3)))
    finally:
        await tts.aclose()
    assert [r.engine for r in results] == ["edge"] * 3
    assert sorted(r.text for r in edge_server.requests) == ["word one", "word two", "word zero"]
    assert [len(r.timings) for r in results] == [2, 2, 2]
