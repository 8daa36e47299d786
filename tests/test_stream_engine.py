"""The engine end to end into real files and a real HTTP-FLV viewer (no RTMP server needed)."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
import urllib.request
import wave

import numpy as np
import pytest

from lipsync.base import IdleRenderer, Renderer
from streamer import StartupError, render_to_file
from streamer.engine import StreamEngine
from streamer.idle_loop import ping_pong_index
from streamer.media_probe import probe_media, tone_span
from streamer.settings import StreamSettings
from streamer.sinks.flv_tags import SCRIPT, VIDEO, FlvTagSplitter
from streamer.test_pattern import TestPatternAvatar, read_loop_index

W, H, FPS, SR = 320, 180, 25, 48000
SPF = SR // FPS
FRAME = 1.0 / FPS


def settings(**kw) -> StreamSettings:
    base = {"width": W, "height": H, "preview": {"enabled": False}, "encoder": {"video_bitrate_kbps": 800}}
    base.update(kw)
    return StreamSettings(**base)


def tone(seconds: float, freq: float = 1000.0, amp: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    mono = (np.sin(2 * np.pi * freq * t) * amp).astype(np.int16)
    return np.repeat(mono[:, None], 2, axis=1)


def assert_continuous(report, frames_expected: int | None = None) -> None:
    """Monotonic DTS in both streams, no gap, audio as long as video within one frame."""
    v = report.video.dts_seconds
    a = report.audio.dts_seconds
    assert np.all(np.diff(v) > 0) and np.all(np.diff(a) > 0)
    assert np.max(np.diff(v)) <= FRAME * 1.5, "gap in video timestamps"
    assert np.max(np.diff(a)) <= 1024 / SR * 1.5 + 0.001, "gap in audio timestamps"
    if frames_expected is not None:
        assert len(v) == frames_expected
    assert abs(report.audio_duration - report.video_duration) <= FRAME


def test_render_to_file_is_h264_aac_with_speech_at_the_lead_in(tmp_path):
    out = tmp_path / "clip.mp4"
    speech = tone(1.0)
    handle = render_to_file(settings(), TestPatternAvatar(W, H, FPS), IdleRenderer(), speech, (), out, lead_in_s=0.4, tail_s=0.6)
    assert handle.start_frame == 10 and handle.played_samples == len(speech)
    rep = probe_media(str(out), decode_video=True)
    assert (rep.video.codec, rep.audio.codec) == ("h264", "aac")
    assert (rep.width, rep.height, round(rep.fps)) == (W, H, FPS)
    assert (rep.sample_rate, rep.channels) == (SR, 2)
    assert_continuous(rep, frames_expected=10 + 25 + 15)
    start, end = tone_span(rep.audio_pcm, SR)
    assert abs(start - 0.4) <= FRAME and abs(end - 1.4) <= FRAME
    assert [read_loop_index(f, W) for f in rep.frames] == [ping_pong_index(n, 50) for n in range(50)]
    ffprobe = shutil.which("ffprobe")
    if ffprobe:  # a second, independent reader agrees the file is whole
        probed = subprocess.run([ffprobe, "-v", "error", "-show_entries", "format=duration:stream=codec_name,nb_frames",
                                 "-of", "json", str(out)], capture_output=True, text=True, check=True).stdout
        info = json.loads(probed)
        assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=FRAME * 1.5)
        assert [s["codec_name"] for s in info["streams"]] == ["h264", "aac"] and info["streams"][0]["nb_frames"] == "50"


def test_wav_spliced_into_a_live_recording_lands_on_time_and_the_loop_carries_on(tmp_path):
    wav = tmp_path / "burst.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(tone(0.6)[:, 0].tobytes())
    with wave.open(str(wav), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    rec = tmp_path / "live.mp4"
    engine = StreamEngine(settings(), TestPatternAvatar(W, H, FPS, loop_length=30), IdleRenderer(), record_path=rec)
    with engine:
        time.sleep(1.5)
        handle = engine.say(pcm, text="burst")
        assert handle.wait_started(3)
        assert handle.wait_done(5)
        time.sleep(1.0)
    frames_sent = engine.health.counters.frames_sent
    rep = probe_media(str(rec), decode_video=True)
    assert_continuous(rep, frames_expected=frames_sent)
    expected = handle.start_pts / SR
    start, end = tone_span(rep.audio_pcm, SR)
    assert abs(start - expected) <= FRAME, (start, expected)
    assert abs(end - (expected + 0.6)) <= FRAME
    if shutil.which("ffprobe"):  # the live (fragmented) MP4 is whole after a clean stop
        probed = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
                                 "-show_entries", "stream=nb_read_packets", "-of", "json", str(rec)],
                                capture_output=True, text=True, check=True).stdout
        assert json.loads(probed)["streams"][0]["nb_read_packets"] == str(frames_sent)
    # video pts run 0..N-1 with no reset, and every frame shows the ping-pong loop frame of its tick
    assert rep.video.pts == [round(n / FPS / rep.video.time_base) for n in range(frames_sent)]
    assert [read_loop_index(f, W) for f in rep.frames] == [ping_pong_index(n, 30) for n in range(frames_sent)]


def test_overlay_is_drawn_on_every_frame_including_speech_and_held_ones(tmp_path):
    class Slow(Renderer):
        name = "slow"

        def render(self, job):
            for k, idx in enumerate(job.loop_indices):
                if k >= 3:
                    time.sleep(0.06)  # slower than real time: some frames will be held
                yield job.avatar.frame(idx)

    rec = tmp_path / "ov.flv"
    avatar = TestPatternAvatar(W, H, FPS)
    engine = StreamEngine(settings(prebuffer_frames=3), avatar, Slow(), record_path=rec)
    engine.overlay.price = "¥599"
    with engine:
        handle = engine.say(tone(1.0))
        assert handle.wait_done(10)
        time.sleep(0.3)
    assert engine.health.counters.held_frames > 0
    rep = probe_media(str(rec), decode_video=True, decode_audio=False)
    assert len(rep.frames) == engine.health.counters.frames_sent
    probe = np.zeros((H, W, 3), np.uint8)
    avatar.draw_overlay(probe, engine.overlay)
    marker = probe[H - 4 : H - 1, W - 4 : W - 1].reshape(-1, 3).mean(axis=0)
    for i, frame in enumerate(rep.frames):
        got = frame[H - 4 : H - 1, W - 4 : W - 1].reshape(-1, 3).mean(axis=0)
        assert np.abs(got - marker).max() < 30, f"frame {i} lacks the overlay"


def test_recording_rotates_at_keyframes_and_every_file_plays(tmp_path):
    pattern = str(tmp_path / "rec" / "%Y" / "part.mp4")  # strftime codes are expanded per file
    s = settings(record={"rotate_seconds": 2.0})
    engine = StreamEngine(s, TestPatternAvatar(W, H, FPS), IdleRenderer(), record_path=pattern, realtime=False, frame_limit=125)
    engine.start()
    assert engine.join(60)
    engine.stop()
    files = sorted((tmp_path / "rec" / time.strftime("%Y")).glob("*.mp4"))
    assert [f.name for f in files] == ["part-1.mp4", "part-2.mp4", "part.mp4"]
    reports = [probe_media(str(f)) for f in (files[2], files[0], files[1])]
    assert [len(r.video.dts) for r in reports] == [50, 50, 25]
    for r in reports:
        assert r.video.keyframes[0] == r.video.pts[0] == 0  # each file starts at a keyframe at t=0
        assert_continuous(r)


def test_preview_viewer_gets_headers_then_starts_at_a_keyframe(tmp_path):
    s = settings(preview={"enabled": True, "port": 0})
    engine = StreamEngine(s, TestPatternAvatar(W, H, FPS), IdleRenderer())
    with engine:
        url = engine.preview_url
        time.sleep(1.3)  # join mid-GOP
        data = bytearray()
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.headers["Content-Type"] == "video/x-flv"
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                data += resp.read1(65536)
        assert engine.health.sinks["preview"].detail.get("viewers", 0) <= 1
    splitter = FlvTagSplitter()
    tags = splitter.feed(bytes(data))
    assert splitter.header[:3] == b"FLV"
    assert tags[0].type == SCRIPT
    assert {t.type for t in tags[1:3]} == {8, 9} and all(t.is_sequence_header for t in tags[1:3])
    media = tags[3:]
    first_video = next(t for t in media if t.type == VIDEO)
    assert first_video.is_keyframe and first_video.timestamp == 0
    assert all(t.timestamp >= 0 for t in media)
    assert media[-1].timestamp >= 1500  # it kept flowing
    dump = tmp_path / "viewer.flv"
    dump.write_bytes(bytes(data))
    rep = probe_media(str(dump), decode_video=True, decode_audio=False)
    assert (rep.width, rep.height) == (W, H) and len(rep.frames) >= 40


def test_unwritable_record_path_stops_start_up_naming_the_path(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    bad = blocker / "rec.flv"
    engine = StreamEngine(settings(), TestPatternAvatar(W, H, FPS), IdleRenderer(), record_path=bad)
    with pytest.raises(StartupError, match=str(bad)):
        engine.start()
    engine.stop()  # idempotent and safe after a failed start
    with pytest.raises(StartupError, match="stream.record.format"):
        StreamEngine(settings(), TestPatternAvatar(W, H, FPS), IdleRenderer(), record_path=tmp_path / "x.avi").start()


def test_unreachable_rtmp_is_logged_and_retried_while_the_recording_goes_on(tmp_path, caplog):
    from tests.rtmp_server import free_port

    url = f"rtmp://127.0.0.1:{free_port()}/live/secretkey"
    rec = tmp_path / "rec.flv"
    s = settings(rtmp={"reconnect_initial_s": 0.2, "reconnect_max_s": 0.5})
    caplog.set_level(logging.WARNING, logger="streamer")
    with StreamEngine(s, TestPatternAvatar(W, H, FPS), IdleRenderer(), extra_rtmp=[url], record_path=rec) as engine:
        time.sleep(3.0)
        snap = engine.health.snapshot()
    rtmp = snap["sinks"]["rtmp1"]
    assert rtmp["state"] == "reconnecting" and rtmp["reconnects"] >= 2 and rtmp["last_error"]
    assert "secretkey" not in rtmp["target"] and "secretkey" not in caplog.text
    assert any("rtmp output failed" in r.getMessage() for r in caplog.records)
    assert snap["sinks"]["record"]["state"] == "publishing"
    rep = probe_media(str(rec))
    assert_continuous(rep, frames_expected=engine.health.counters.frames_sent)


def test_health_snapshot_and_the_periodic_status_line(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="streamer.engine")
    rec = tmp_path / "h.flv"
    with StreamEngine(settings(), TestPatternAvatar(W, H, FPS), IdleRenderer(), record_path=rec, status_interval_s=0.5) as engine:
        handle = engine.say(tone(1.0), text="hello there")
        assert handle.wait_started(3)
        snap = engine.health.snapshot()
        assert snap["speaking"] == "hello there" and snap["on_air"] is True
        assert handle.wait_done(3)
        time.sleep(0.3)
        snap = engine.health.snapshot()
    assert snap["speaking"] is None and snap["queued_utterances"] == 0
    assert snap["frames_sent"] == snap["idle_frames"] + snap["speech_frames"]
    assert snap["samples_sent"] == snap["frames_sent"] * SPF
    assert 0 <= snap["last_frame_age_s"] < 0.5 and snap["encode_ms_per_frame"] > 0
    rec_h = snap["sinks"]["record"]
    assert rec_h["kind"] == "file" and rec_h["state"] == "publishing" and rec_h["bytes"] > 0
    lines = [r for r in caplog.records if r.getMessage().startswith("stream t=")]
    assert len(lines) >= 2 and "record=publishing" in lines[-1].getMessage()
    assert lines[-1].health["frames_sent"] > 0
    assert engine.health.snapshot()["on_air"] is False


def test_rtmp_url_from_the_environment_is_used_masked_or_refused(monkeypatch, caplog):
    from streamer.sinks.base import mask_url

    s = settings(rtmp={"urls": ["rtmp://a.example/live/k1"], "url_env": "LIVE_PUSH_URL"})
    engine = StreamEngine(s, TestPatternAvatar(W, H, FPS), IdleRenderer(), extra_rtmp=["rtmp://b.example/app/k3"])
    monkeypatch.setenv("LIVE_PUSH_URL", "rtmp://c.example:1936/live/k2?auth=x")
    assert engine._rtmp_urls() == ["rtmp://a.example/live/k1", "rtmp://c.example:1936/live/k2?auth=x", "rtmp://b.example/app/k3"]
    assert mask_url("rtmp://c.example:1936/live/k2?auth=x") == "rtmp://c.example:1936/live/***"
    monkeypatch.delenv("LIVE_PUSH_URL")
    caplog.set_level(logging.WARNING, logger="streamer")
    assert engine._rtmp_urls() == ["rtmp://a.example/live/k1", "rtmp://b.example/app/k3"]
    assert "LIVE_PUSH_URL" in caplog.records[-1].__dict__.get("env", "")
    monkeypatch.setenv("LIVE_PUSH_URL", "http://nope")
    with pytest.raises(StartupError, match="LIVE_PUSH_URL"):
        engine._rtmp_urls()
    with pytest.raises(StartupError, match="--rtmp"):
        StreamEngine(s, TestPatternAvatar(W, H, FPS), IdleRenderer(), extra_rtmp=["http://x/y"])


def test_an_avatar_that_raises_costs_black_frames_not_the_stream(tmp_path, caplog):
    class Flaky(TestPatternAvatar):
        def frame(self, loop_index, mouth=None):
            if 10 <= loop_index < 15:
                raise RuntimeError("sprite missing")
            return super().frame(loop_index, mouth)

    rec = tmp_path / "flaky.flv"
    engine = StreamEngine(settings(), Flaky(W, H, FPS), IdleRenderer(), record_path=rec, realtime=False, frame_limit=40)
    engine.start()
    assert engine.join(30)
    engine.stop()
    assert engine.health.counters.compose_errors == 5
    assert sum("composing frame failed" in r.getMessage() for r in caplog.records) == 1  # once per burst
    rep = probe_media(str(rec), decode_video=True, decode_audio=False)
    assert len(rep.frames) == 40
    assert all(rep.frames[i].mean() < 20 for i in range(10, 15)) and rep.frames[20].mean() > 50


def test_the_built_in_presenter_streams_through_the_engine(tmp_path):
    avatars_builtin = pytest.importorskip("avatars.builtin")
    rec = tmp_path / "builtin.flv"
    avatar = avatars_builtin.BuiltinAvatar(W, H, FPS)
    engine = StreamEngine(settings(), avatar, IdleRenderer(), record_path=rec, realtime=False, frame_limit=50)
    engine.overlay.shop_name, engine.overlay.product_name, engine.overlay.price = "青禾数码", "S3 手表", "¥599"
    engine.timeline.say(tone(0.8), (), "hi", start_tick=5)
    engine.start()
    assert engine.join(60)
    engine.stop()
    rep = probe_media(str(rec), decode_video=True)
    assert (rep.width, rep.height) == (W, H) and len(rep.frames) == 50
    assert_continuous(rep, frames_expected=50)
    assert engine.health.counters.speech_frames == 20 and engine.health.counters.compose_errors == 0


def test_recording_rotates_by_size_too(tmp_path):
    s = settings(record={"rotate_megabytes": 0.01})
    engine = StreamEngine(s, TestPatternAvatar(W, H, FPS), IdleRenderer(), record_path=tmp_path / "r.flv", realtime=False, frame_limit=150)
    engine.start()
    assert engine.join(60)
    engine.stop()
    files = sorted(tmp_path.glob("r*.flv"), key=lambda p: p.stat().st_mtime)
    assert len(files) >= 2 and engine.health.sinks["record"].detail["files"] == len(files)
    reports = [probe_media(str(f)) for f in files]
    assert sum(len(r.video.dts) for r in reports) == 150
    for r in reports:
        assert r.video.keyframes[0] == r.video.pts[0] == 0
        assert len(r.video.dts) % 50 == 0 or r is reports[-1]  # cuts only at keyframes (GOP 50)


def test_ffmpeg_errors_never_carry_the_stream_key_into_health():
    from streamer.encoder import AVEncoder
    from streamer.health import SinkHealth
    from streamer.sinks.rtmp_sink import RtmpSink

    s = settings()
    url = "rtmp://127.0.0.1:1/live-bvc/?streamname=live_1&key=topsecret"
    sink = RtmpSink(url, AVEncoder(s), SinkHealth("rtmp1", "rtmp"), s.rtmp, max_packets=100)
    msg = sink._scrub(f"ExitError: [Errno 1414092869] Immediate exit requested: '{url}'")
    assert "topsecret" not in msg and "rtmp://127.0.0.1:1/live-bvc/" in msg
    sink.encoder.close()


def test_compressed_time_soak_keeps_exact_sample_bookkeeping(capsys):
    from benchmarks import soak

    assert soak.main(["--hours", "0.02", "--speech-every-s", "15"]) == 0  # 72 s of timeline, 4 utterances
    out = capsys.readouterr().out
    assert '"samples_equal_frames_x_spf": true' in out and '"aac_output_samples_match": true' in out
    assert '"utterances": 4' in out and out.strip().endswith("OK")


def test_a_rotated_recording_recreates_a_folder_that_vanished(tmp_path):
    import shutil

    folder = tmp_path / "rec"
    engine = StreamEngine(settings(), TestPatternAvatar(W, H, FPS), IdleRenderer(), record_path=folder / "a.flv")
    with engine:
        time.sleep(1.0)
        shutil.rmtree(folder)  # FFmpeg keeps writing to the unlinked file; rotation must make a new one
        engine.sinks[0].rotate_seconds = 0.5
        time.sleep(3.0)
    files = sorted(folder.glob("*.flv"))
    assert files, "no new recording after the folder vanished"
    rep = probe_media(str(files[-1]))
    assert rep.video.keyframes[0] == 0 and len(rep.video.dts) > 0


def test_encoder_gop_is_fixed_and_a_keyframe_can_be_requested():
    from streamer.encoder import AVEncoder

    enc = AVEncoder(settings(encoder={"gop_seconds": 1.0}))
    avatar = TestPatternAvatar(W, H, FPS)
    silence = np.zeros((SPF, 2), np.int16)
    keys = []
    for n in range(60):
        if n == 33:
            enc.request_keyframe()  # what an RTMP sink does after reconnecting with nothing queued
        keys += [p.pts for p in enc.encode(n, avatar.frame(n % 50), silence) if p.kind == "video" and p.keyframe]
    enc.close()
    assert keys == [0, 25, 33, 58]  # fixed GOP; a forced IDR restarts the count
    assert enc.samples_in == 60 * SPF and enc.frames_in == 60


def test_speech_leaves_the_encoder_at_the_tick_it_starts_and_a_stop_ends_both_tracks_together():
    """The AAC encoder holds ~3,072 samples back; the timeline's audio lead must cover it, or every answer
    reaches viewers a tick late. A stop in mid-utterance (audio a tick ahead) still ends A = V."""
    from streamer.encoder import AVEncoder
    from streamer.health import StreamCounters
    from streamer.timeline import Timeline

    s = settings()
    avatar = TestPatternAvatar(W, H, FPS)
    tl = Timeline(avatar, IdleRenderer(), fps=FPS, sample_rate=SR, channels=2, samples_per_frame=SPF,
                  prebuffer_frames=1, fade_frames=2, counters=StreamCounters(), realtime=False)
    tl.start()
    enc = AVEncoder(s)
    handles = [tl.say(tone(0.5), start_tick=k) for k in (7, 30, 53)]
    out_tick = {}
    for n in range(60):  # stops 7 ticks into the third utterance
        frame, audio, _, _ = tl.tick(n)
        for p in enc.encode(n, frame, audio):
            if p.kind == "audio":
                for h in handles:
                    if h.start_pts is not None and p.pts <= h.start_pts < p.pts + 1024:
                        out_tick[h.start_frame] = n
    tail = enc.flush()
    tl.close()
    assert out_tick == {7: 7, 30: 30, 53: 53}
    assert enc.samples_in == 61 * SPF and enc.frames_in == 61  # the last picture once more: A = V
    assert [p.pts for p in tail if p.kind == "video"][-1] == 60
    enc.close()


@pytest.mark.parametrize("fps,rate,channels", [(30, 48000, 2), (25, 44100, 1)])
def test_other_formats_keep_exact_bookkeeping(tmp_path, fps, rate, channels):
    s = settings(fps=fps, sample_rate=rate, channels=channels)
    spf = rate // fps
    t = np.arange(rate // 2) / rate
    burst = (np.sin(2 * np.pi * 800 * t) * 12000).astype(np.int16)
    handle = render_to_file(s, TestPatternAvatar(W, H, fps), IdleRenderer(), burst, (), tmp_path / "f.mp4", lead_in_s=0.5, tail_s=0.5)
    rep = probe_media(str(tmp_path / "f.mp4"))
    frames = round(0.5 * fps) * 2 + -(-len(burst) // spf)
    assert (round(rep.fps), rep.sample_rate, rep.channels) == (fps, rate, channels)
    assert len(rep.video.dts) == frames and handle.start_pts == round(0.5 * fps) * spf
    assert abs(rep.audio_duration - rep.video_duration) <= 1.0 / fps
    start, end = tone_span(rep.audio_pcm, rate)
    assert abs(start - handle.start_pts / rate) <= 1.0 / fps and abs(end - start - 0.5) <= 1.0 / fps
