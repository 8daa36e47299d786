"""ASR: TTS output recognized by tiny.en (WER), files, HTTP streams and the console's upload path -> text events."""
from __future__ import annotations

import asyncio
import io
import wave

import av
import numpy as np
import pytest
from aiohttp import ClientSession, web

from speech.asr import ASR_RATE, AsrError, Transcriber, decode_audio
from speech.asr_source import AsrSource, LiveSegmenter
from speech.asr_upload import asr_upload_route
from speech.settings import AsrSettings, SpeechSettings
from speech.tts import build_tts
from speech.wer import word_error_rate

SCRIPT = (
    "Welcome to the live stream. Today we have a great deal on wireless earbuds. "
    "Hello everyone, thank you for joining the stream today. Free shipping on all orders over $35. "
    "Thank you for the gift, and welcome to the channel."
)
SHORT = "Hello everyone, thank you for joining the stream today."


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    t = Transcriber(AsrSettings())
    t.load()
    return t


def _speak(engine: str, text: str, rate: int = ASR_RATE, channels: int = 1) -> np.ndarray:
    settings = SpeechSettings(cache={"enabled": False})

    async def run():  # noqa: ANN202
        tts = build_tts(settings, rate, channels, engines=[engine])
        try:
            return (await tts.synthesize_all(text)).pcm
        finally:
            await tts.aclose()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def short_pcm16k() -> np.ndarray:
    return _speak("piper", SHORT)


def _wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def _encode(pcm: np.ndarray, rate: int, fmt: str, codec: str) -> bytes:
    """Encode int16 mono with PyAV like a browser's MediaRecorder would (Opus in WebM or Ogg)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=48000, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=48000)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for f in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _float(pcm: np.ndarray) -> np.ndarray:
    return pcm[:, 0].astype(np.float32) / 32768.0


@pytest.mark.parametrize("engine", ["espeak", "piper"])
def test_tts_english_is_understood_by_tiny_en(transcriber, engine) -> None:
    pcm = _speak(engine, SCRIPT)
    heard = transcriber.transcribe_array(_float(pcm))
    assert word_error_rate(SCRIPT, heard) <= 0.2, heard


async def test_generated_wav_file_yields_text_events(tmp_path, transcriber) -> None:
    pcm48 = await asyncio.to_thread(_speak, "piper", SHORT, 48000, 2)
    path = tmp_path / "hello.wav"
    path.write_bytes(_wav_bytes(pcm48, 48000))
    audio = decode_audio(path)
    assert abs(len(audio) / ASR_RATE - len(pcm48) / 48000) < 0.05
    source = AsrSource(transcriber)
    assert await source.run_file(path) >= 1
    await source.close()
    events = [e async for e in source]
    text = " ".join(e.text for e in events)
    assert word_error_rate(SHORT, text) <= 0.2, text
    assert events[0].source == str(path) and 0 <= events[0].start < events[0].end <= len(audio) / ASR_RATE + 0.1


@pytest.fixture
async def upload_app(transcriber):
    source = AsrSource(transcriber)
    app = web.Application(client_max_size=12 * 1024 * 1024)
    app.router.add_post("/api/asr", asr_upload_route(source))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with ClientSession() as http:
        yield f"http://127.0.0.1:{port}/api/asr", http, source
    await source.close()
    await runner.cleanup()


@pytest.mark.parametrize(("kind", "content_type"), [("wav", "audio/wav"), ("webm", "audio/webm;codecs=opus"),
                                                    ("ogg", "audio/ogg;codecs=opus")])
async def test_console_upload_yields_the_text_event(upload_app, short_pcm16k, kind, content_type) -> None:
    url, http, source = upload_app
    if kind == "wav":
        blob = _wav_bytes(short_pcm16k, ASR_RATE)
    else:
        blob = _encode(short_pcm16k[:, 0], ASR_RATE, kind, "libopus")
    async with http.post(url, data=blob, headers={"Content-Type": content_type}) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert word_error_rate(SHORT, body["text"]) <= 0.2, body
    event = await asyncio.wait_for(anext(aiter(source)), 5)
    assert event.text == body["text"] and event.source == "console"


async def test_console_upload_as_multipart_form(upload_app, short_pcm16k) -> None:
    url, http, _ = upload_app
    from aiohttp import FormData

    form = FormData()
    form.add_field("audio", _wav_bytes(short_pcm16k, ASR_RATE), filename="mic.wav", content_type="audio/wav")
    async with http.post(url + "?source=mic2", data=form) as resp:
        body = await resp.json()
    assert resp.status == 200 and body["event"]["source"] == "mic2"
    assert word_error_rate(SHORT, body["text"]) <= 0.2


async def test_console_streams_raw_pcm_chunks(upload_app, short_pcm16k) -> None:
    url, http, source = upload_app
    silence = np.zeros((ASR_RATE, 1), np.int16)
    # 48 kHz stereo like a browser AudioWorklet would send, in 0.25 s pieces.
    signal = np.concatenate([silence, short_pcm16k, silence, silence])
    frame = av.AudioFrame.from_ndarray(signal.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = ASR_RATE
    up = av.AudioResampler(format="s16", layout="stereo", rate=48000)
    pcm48 = np.concatenate([f.to_ndarray().reshape(-1, 2) for f in up.resample(frame) + up.resample(None)])
    events = []
    step = 12000
    for k in range(0, len(pcm48), step):
        last = k + step >= len(pcm48)
        async with http.post(url + ("?end=1" if last else ""), data=pcm48[k : k + step].tobytes(),
                             headers={"Content-Type": "audio/L16; rate=48000; channels=2"}) as resp:
            assert resp.status == 200
            events += (await resp.json())["events"]
    assert len(events) == 1, events
    assert word_error_rate(SHORT, events[0]["text"]) <= 0.2
    assert 0.5 < events[0]["start"] < 1.3  # the second of silence before the speech
    assert source.events == 1


async def test_bad_uploads_are_refused_clearly(upload_app) -> None:
    url, http, source = upload_app
    async with http.post(url, data=b"this is not audio at all" * 10, headers={"Content-Type": "audio/wav"}) as resp:
        assert resp.status == 400
        assert "cannot decode audio" in (await resp.json())["error"]
    async with http.post(url, data=b"", headers={"Content-Type": "audio/wav"}) as resp:
        assert resp.status == 400
    async with http.post(url, data=b"\0" * (11 * 1024 * 1024), headers={"Content-Type": "audio/wav"}) as resp:
        assert resp.status == 413
    async with http.post(url, data=b"\0\0", headers={"Content-Type": "audio/L16; rate=abc"}) as resp:
        assert resp.status == 400
    assert source.errors == 1


async def test_http_audio_stream_yields_one_event_per_utterance(tmp_path, transcriber, short_pcm16k) -> None:
    silence = np.zeros((int(1.2 * ASR_RATE), 1), np.int16)
    second = await asyncio.to_thread(_speak, "piper", "Free shipping on all orders today.")
    pcm = np.concatenate([silence, short_pcm16k, silence, second, silence])
    (tmp_path / "live.wav").write_bytes(_wav_bytes(pcm, ASR_RATE))
    app = web.Application()
    app.router.add_static("/media", tmp_path)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    source = AsrSource(transcriber)
    try:
        count = await source.run_stream(f"http://127.0.0.1:{port}/media/live.wav")
    finally:
        await runner.cleanup()
    await source.close()
    events = [e async for e in source]
    assert count == len(events) == 2, events
    assert word_error_rate(SHORT, events[0].text) <= 0.2
    assert word_error_rate("Free shipping on all orders today.", events[1].text) <= 0.2
    assert events[0].end <= events[1].start


async def test_unreachable_stream_is_one_clear_error(transcriber) -> None:
    source = AsrSource(transcriber)
    with pytest.raises(AsrError, match="127.0.0.1"):
        await source.run_stream("http://127.0.0.1:9/none.wav", open_timeout_s=2)
    await source.close()


@pytest.mark.parametrize("blocks", [7, 13, 20, 31, 47])
def test_segmenter_cuts_at_silence_and_bounds_long_speech(short_pcm16k, blocks) -> None:
    seg = LiveSegmenter(min_silence_ms=500, max_utterance_s=2.0)
    speech = _float(short_pcm16k)
    silence = np.zeros(ASR_RATE, np.float32)
    pieces = []
    # Block sizes move the segmenter's checks: speech may end between two of them, past the bound.
    for block in np.array_split(np.concatenate([silence, speech, silence]), blocks):
        pieces += seg.feed(block)
    pieces += seg.finish()
    # Speech longer than max_utterance_s is cut into bounded pieces, none longer than the bound.
    assert len(pieces) >= 2
    assert all(len(p) <= 2.0 * ASR_RATE for _, p in pieces)
    assert pieces[0][0] >= 0.5


def test_missing_model_names_the_key(tmp_path) -> None:
    with pytest.raises(AsrError, match="speech.asr.model"):
        Transcriber(AsrSettings(model=str(tmp_path)))


def _publish_rtmp(url: str, pcm: np.ndarray, rate: int) -> None:
    """Push int16 mono as AAC in FLV at real-time pace, like a streaming microphone."""
    import time

    with av.open(url, "w", format="flv") as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        step, start = 1024, time.monotonic()
        for i in range(0, len(pcm), step):
            frame = av.AudioFrame.from_ndarray(pcm[i : i + step].reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                out.mux(packet)
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        for packet in stream.encode(None):
            out.mux(packet)


async def test_rtmp_audio_stream_yields_the_text_event(rtmp_server, transcriber, short_pcm16k) -> None:
    silence = np.zeros(2 * ASR_RATE, np.int16)
    pcm = np.concatenate([silence, short_pcm16k[:, 0], silence])
    url = rtmp_server.url("mic")
    publisher = asyncio.create_task(asyncio.to_thread(_publish_rtmp, url, pcm, ASR_RATE))
    await asyncio.sleep(0.7)  # the microphone is live before the ASR attaches, as on a real stream
    source = AsrSource(transcriber)
    try:
        count = await asyncio.wait_for(source.run_stream(url, open_timeout_s=3), 30)
    finally:
        await publisher
    await source.close()
    events = [e async for e in source]
    assert count == len(events) == 1, events
    assert word_error_rate(SHORT, events[0].text) <= 0.2, events[0].text
    assert events[0].source == url
