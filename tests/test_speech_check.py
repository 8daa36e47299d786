"""The doctor's speech report and edge cases of the front (empty or unspeakable text)."""
from __future__ import annotations

from speech.settings import SpeechSettings
from speech.speech_check import check_asr, check_tts
from speech.tts import build_tts


async def test_doctor_reports_each_engine(tmp_path) -> None:
    settings = SpeechSettings(engines=["edge", "espeak"], edge={"wss_url": "ws://127.0.0.1:9/x?T=1"},
                              cache={"dir": str(tmp_path)})
    results = {r.name: r for r in await check_tts(settings)}
    assert results["tts espeak"].ok and "s of audio" in results["tts espeak"].detail
    assert not results["tts edge"].ok and "edge" in results["tts edge"].detail
    assert not list(tmp_path.glob("*.npz"))  # the check does not fill the cache
    bad = SpeechSettings(engines=["piper"], piper={"model": str(tmp_path / "x.onnx")})
    [piper] = await check_tts(bad)
    assert not piper.ok and "speech.piper.model" in piper.detail


def test_doctor_reports_the_asr_model(tmp_path) -> None:
    assert check_asr(SpeechSettings()).ok
    missing = check_asr(SpeechSettings(asr={"model": str(tmp_path)}))
    assert not missing.ok and "speech.asr.model" in missing.detail


async def test_nothing_to_say_gives_empty_audio(tmp_path) -> None:
    tts = build_tts(SpeechSettings(cache={"enabled": False}), 48000, 2, engines=["espeak"])
    try:
        for text in ("", "   ", "😀👍", "[doge][笑哭]", "http://example.invalid/x"):
            pcm, timings, engine = await tts.synthesize_all(text)
            assert pcm.shape == (0, 2) and timings == [] and engine == "", text
        pcm, _, _ = await tts.synthesize_all("666")
        assert len(pcm) > 0  # read as 六六六 by the Chinese voice
    finally:
        await tts.aclose()
