"""Speech speed on this machine: `python -m benchmarks.speech`.

Per TTS engine and language: time to first audio (call -> first PCM chunk at 48 kHz stereo) and real-time
factor (synthesis wall time / audio duration), medians over a few runs after a warm-up; edge is measured
against the local protocol peer (tests/edge_tts_server.py), so its figures are the client side only
(websocket, MP3 decoding, resampling), not Microsoft's service. ASR: tiny.en, int8, 2 threads, RTF on
~10 s of piper speech.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time

import numpy as np

TEXTS = {
    "en": "Hello everyone, thank you for joining the stream today. The Pulse Watch is $59 and ships in 2 days.",
    "zh": "大家好，欢迎来到直播间。今天S3手表只要599元，下单后48小时内发货。",
}


async def _measure_tts(engine: str, language: str, runs: int, wss_url: str | None) -> dict:
    from speech.settings import SpeechSettings
    from speech.tts import build_tts

    settings = SpeechSettings(cache={"enabled": False}, edge={"wss_url": wss_url} if wss_url else {})
    tts = build_tts(settings, 48000, 2, engines=[engine])
    text = TEXTS[language]
    first_s, rtf, audio_s = [], [], []
    try:
        load_start = time.perf_counter()
        await tts.synthesize_all("Warm up." if language == "en" else "预热。")
        warmup = time.perf_counter() - load_start
        for _ in range(runs):
            start = time.perf_counter()
            first = None
            samples = 0
            async for chunk in tts.synthesize(text):
                if first is None and len(chunk.pcm):
                    first = time.perf_counter() - start
                samples += len(chunk.pcm)
            total = time.perf_counter() - start
            first_s.append(first or total)
            audio_s.append(samples / 48000)
            rtf.append(total / (samples / 48000))
    finally:
        await tts.aclose()
    return {
        "engine": engine, "language": language, "warmup_s": warmup, "first_audio_s": statistics.median(first_s),
        "rtf": statistics.median(rtf), "audio_s": statistics.median(audio_s),
    }


async def _measure_special(runs: int, cache_dir: str) -> list[dict]:
    """Fallback when edge is unreachable (connection refused), and a cache hit of a repeated piper line."""
    import socket

    from speech.settings import SpeechSettings
    from speech.tts import build_tts

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"ws://127.0.0.1:{sock.getsockname()[1]}/edge/v1?TrustedClientToken=x"
    rows = []
    cases = (
        ("edge->espeak (refused)", SpeechSettings(engines=["edge", "espeak"], cooldown_s=0, edge={"wss_url": dead},
                                                  cache={"enabled": False}), "en"),
        ("piper (cache hit)", SpeechSettings(engines=["piper"], cache={"dir": cache_dir}), "en"),
    )
    for label, settings, language in cases:
        tts = build_tts(settings, 48000, 2)
        text = TEXTS[language]
        await tts.synthesize_all(text)  # warm-up (fills the cache for the cache case)
        first_s, rtf, audio_s = [], [], []
        for _ in range(runs):
            start = time.perf_counter()
            first, samples = None, 0
            async for chunk in tts.synthesize(text):
                if first is None and len(chunk.pcm):
                    first = time.perf_counter() - start
                samples += len(chunk.pcm)
            total = time.perf_counter() - start
            first_s.append(first or total)
            audio_s.append(samples / 48000)
            rtf.append(total / (samples / 48000))
        await tts.aclose()
        rows.append({"engine": label, "language": language, "warmup_s": float("nan"),
                     "first_audio_s": statistics.median(first_s), "rtf": statistics.median(rtf),
                     "audio_s": statistics.median(audio_s)})
    return rows


async def _tts_rows(runs: int) -> list[dict]:
    from tests.edge_tts_server import EdgeTtsServer

    server = await EdgeTtsServer().start()
    rows = []
    try:
        for engine, languages in (("espeak", ("en", "zh")), ("piper", ("en",)), ("edge", ("en", "zh"))):
            for language in languages:
                rows.append(await _measure_tts(engine, language, runs, server.url if engine == "edge" else None))
    finally:
        await server.stop()
    return rows


def _asr_row(runs: int) -> dict:
    from speech.asr import ASR_RATE, Transcriber
    from speech.settings import AsrSettings, SpeechSettings
    from speech.tts import build_tts

    async def speech() -> np.ndarray:
        tts = build_tts(SpeechSettings(cache={"enabled": False}), ASR_RATE, 1, engines=["piper"])
        try:
            return (await tts.synthesize_all(TEXTS["en"] + " " + TEXTS["en"])).pcm
        finally:
            await tts.aclose()

    audio = asyncio.run(speech())[:, 0].astype(np.float32) / 32768
    transcriber = Transcriber(AsrSettings(compute_type="int8", cpu_threads=2))
    start = time.perf_counter()
    transcriber.load()
    load_s = time.perf_counter() - start
    transcriber.transcribe_array(audio)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        text = transcriber.transcribe_array(audio)
        times.append(time.perf_counter() - start)
    seconds = len(audio) / ASR_RATE
    return {"load_s": load_s, "audio_s": seconds, "rtf": statistics.median(times) / seconds, "text": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case (median reported)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    with tempfile.TemporaryDirectory() as cache_dir:
        rows = asyncio.run(_tts_rows(args.runs))
        rows += asyncio.run(_measure_special(args.runs, cache_dir))
    asr = _asr_row(args.runs)
    print(f"# speech benchmark — {platform.node()} ({os.cpu_count()} cores, {platform.processor() or platform.machine()}),"
          f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| engine | lang | audio s | first audio ms | RTF | warm-up (incl. load) s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        warmup = "-" if r["warmup_s"] != r["warmup_s"] else f"{r['warmup_s']:.2f}"  # NaN: not measured
        print(f"| {r['engine']} | {r['language']} | {r['audio_s']:.2f} | {r['first_audio_s'] * 1000:.0f} | "
              f"{r['rtf']:.3f} | {warmup} |")
    print(f"\nASR tiny.en int8, 2 threads: {asr['audio_s']:.1f} s of speech, RTF {asr['rtf']:.3f}, "
          f"model load {asr['load_s']:.2f} s")


if __name__ == "__main__":
    main()
