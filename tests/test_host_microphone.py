"""The operator's microphone: speech posted to the console -> ASR -> moderation -> director -> answer on air."""
from __future__ import annotations

import asyncio
import io
import time
import wave

import aiohttp
import numpy as np

from host.app import Host
from tests.host_config import small_host_config
from speech.settings import CacheSettings, SpeechSettings
from speech.tts import build_tts

TOKEN = "mic-test-token"


def _config(tmp_path):
    return small_host_config(tmp_path, '[console]\nport = 0\ntoken_env = "MIC_TEST_TOKEN"\ntoken_file = ""\n')


async def _spoken_wav(text: str) -> bytes:
    tts = build_tts(SpeechSettings(engines=["piper"], cache=CacheSettings(enabled=False)), 16000, 1)
    pcm, _, _ = await tts.synthesize_all(text)
    await tts.aclose()
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(np.ascontiguousarray(pcm).tobytes())
    return out.getvalue()


async def test_operator_question_by_microphone_is_answered_on_air(tmp_path, monkeypatch):
    monkeypatch.setenv("MIC_TEST_TOKEN", TOKEN)
    host = Host(_config(tmp_path))
    await asyncio.to_thread(host.build)
    said = []
    host.director.on_said = said.append
    run = asyncio.create_task(host.run())
    try:
        while host.console is None or host.console.port == 0:
            await asyncio.sleep(0.05)
        wav = await _spoken_wav("How long does the Pulse Watch battery last?")
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"http://127.0.0.1:{host.console.port}/api/asr", data=wav,
                                   headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "audio/wav"})
            assert resp.status == 200, await resp.text()
            assert "battery" in (await resp.text()).lower()
            denied = await http.post(f"http://127.0.0.1:{host.console.port}/api/asr", data=wav,
                                     headers={"Content-Type": "audio/wav"})
            assert denied.status == 401  # the microphone is the operator's: admin token required
        deadline = time.monotonic() + 60
        while not any(s.utterance.reason == "answer" for s in said):
            assert time.monotonic() < deadline, [s.played_text() for s in said]
            await asyncio.sleep(0.1)
    finally:
        host.request_stop()
        await run
    answer = next(s for s in said if s.utterance.reason == "answer")
    assert "10 days" in answer.played_text(), answer.played_text()  # the shop's battery figure, from the KB
