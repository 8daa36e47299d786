"""The engine against a real nginx-rtmp on 127.0.0.1: a 20 s run, a crash and restart, a frozen server."""
from __future__ import annotations

import threading
import time
import urllib.request

import numpy as np
import pytest

from lipsync.base import IdleRenderer
from streamer.engine import StreamEngine
from streamer.media_probe import probe_media
from streamer.settings import StreamSettings
from streamer.test_pattern import TestPatternAvatar

pytestmark = pytest.mark.slow

W, H, FPS, SR = 320, 180, 25, 48000
FRAME = 1.0 / FPS


def settings(**kw) -> StreamSettings:
    base = {"width": W, "height": H, "preview": {"enabled": False}, "encoder": {"video_bitrate_kbps": 800}}
    base.update(kw)
    return StreamSettings(**base)


def wait_until(predicate, timeout: float, step: float = 0.05) -> float | None:
    """Monotonic time at which ``predicate()`` first held, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(step)
    return None


def publishing(engine: StreamEngine, since: float = 0.0):
    sink = engine.health.sinks["rtmp1"]
    return lambda: sink.state == "publishing" and sink.state_since >= since


def assert_recording_has_no_gap(path, frames_sent: int) -> None:
    rep = probe_media(str(path))
    v, a = rep.video.dts_seconds, rep.audio.dts_seconds
    assert len(v) == frames_sent
    assert np.all(np.diff(v) > 0) and np.max(np.diff(v)) <= FRAME * 1.5
    assert np.all(np.diff(a) > 0) and np.max(np.diff(a)) <= 1024 / SR * 1.5 + 0.001
    assert abs(rep.audio_duration - rep.video_duration) <= FRAME


def test_20s_run_to_rtmp_and_a_recording(rtmp_server, tmp_path):
    rec = tmp_path / "rec.flv"
    engine = StreamEngine(settings(), TestPatternAvatar(W, H, FPS), IdleRenderer(), extra_rtmp=[rtmp_server.url("x")], record_path=rec)
    result = {}

    def play():
        result["rep"] = probe_media(rtmp_server.url("x"), max_seconds=16.0, timeout=10)

    with engine:
        t_start = time.monotonic()
        assert wait_until(publishing(engine), 5)
        player = threading.Thread(target=play)
        player.start()
        time.sleep(3.0)
        m0, w0 = engine.media_time, time.monotonic()
        player.join(30)
        remaining = 20.0 - (time.monotonic() - t_start)
        if remaining > 0:
            time.sleep(remaining)
        m1, w1 = engine.media_time, time.monotonic()
    frames_sent = engine.health.counters.frames_sent
    # the engine's media clock keeps wall time (start-up excluded)
    assert (m1 - m0) / (w1 - w0) == pytest.approx(1.0, abs=0.02)
    # what a player received from the server
    rep = result["rep"]
    assert (rep.video.codec, rep.audio.codec) == ("h264", "aac")
    assert (rep.width, rep.height, round(rep.fps)) == (W, H, FPS)
    assert (rep.sample_rate, rep.channels) == (SR, 2)
    v, a = rep.video.dts_seconds, rep.audio.dts_seconds
    assert len(v) > 12 * FPS
    assert np.all(np.diff(v) > 0) and np.all(np.diff(a) > 0)
    assert np.max(np.diff(v)) <= FRAME * 1.5 and np.max(np.diff(a)) <= 0.05
    assert abs(a[-1] - v[-1]) <= FRAME  # a player joins mid-GOP (video from the next keyframe): compare ends
    # media time at the receiver advances with wall time (slope over the steady part, after 3 s)
    arrival = np.asarray(rep.video.arrival)
    steady = arrival > arrival[0] + 3.0
    slope = np.polyfit(arrival[steady], v[steady], 1)[0]
    assert slope == pytest.approx(1.0, abs=0.02)
    assert_recording_has_no_gap(rec, frames_sent)
    server_files = rtmp_server.recordings()
    assert server_files, "nginx recorded nothing"
    got = probe_media(str(server_files[-1]))  # everything the server received, from the first packet
    assert got.video_duration > 18.0
    assert abs(got.audio_duration - got.video_duration) <= FRAME
    h = engine.health.snapshot()
    # (late_frames is not asserted: on a shared 2-core box it measures the neighbours, not us)
    assert h["sinks"]["rtmp1"]["reconnects"] == 0 and h["sinks"]["rtmp1"]["dropped_packets"] == 0


def test_rtmp_server_killed_and_restarted(rtmp_server, tmp_path):
    rec = tmp_path / "rec.flv"
    s = settings(rtmp={"reconnect_initial_s": 0.5, "reconnect_max_s": 10.0})
    engine = StreamEngine(s, TestPatternAvatar(W, H, FPS), IdleRenderer(), extra_rtmp=[rtmp_server.url("x")], record_path=rec)
    with engine:
        t_start = time.monotonic()
        assert wait_until(publishing(engine), 5)
        time.sleep(3.0)
        rtmp_server.kill()
        assert wait_until(lambda: engine.health.sinks["rtmp1"].state != "publishing", 5)
        time.sleep(5.0)
        files_before = set(rtmp_server.recordings())
        rtmp_server.start()
        t_back = time.monotonic()
        t_pub = wait_until(publishing(engine, since=t_back), 10)
        assert t_pub is not None and t_pub - t_back <= 3.0, f"publishing again after {t_pub and t_pub - t_back}"
        time.sleep(2.0)
        wall = time.monotonic() - t_start
        media = engine.media_time
    new_files = [f for f in rtmp_server.recordings() if f not in files_before]
    assert new_files and new_files[-1].stat().st_size > 10_000, "the restarted server received nothing"
    assert engine.health.sinks["rtmp1"].reconnects >= 1
    assert media == pytest.approx(wall, abs=0.6)  # the clock never stopped
    assert_recording_has_no_gap(rec, engine.health.counters.frames_sent)
    print(f"publishing again {t_pub - t_back:.2f} s after the server returned")


def test_frozen_rtmp_server_is_detected_and_nothing_else_stalls(rtmp_server, tmp_path):
    rec = tmp_path / "rec.flv"
    s = settings(preview={"enabled": True, "port": 0}, rtmp={"rw_timeout_s": 3.0, "probe_interval_s": 1.0})
    engine = StreamEngine(s, TestPatternAvatar(W, H, FPS), IdleRenderer(), extra_rtmp=[rtmp_server.url("x")], record_path=rec)
    preview_arrivals: list[float] = []
    stop_viewer = threading.Event()

    def viewer():
        with urllib.request.urlopen(engine.preview_url, timeout=5) as resp:
            while not stop_viewer.is_set():
                if resp.read1(65536):
                    preview_arrivals.append(time.monotonic())

    with engine:
        assert wait_until(publishing(engine), 5)
        reader = threading.Thread(target=viewer, daemon=True)
        reader.start()
        time.sleep(2.0)
        record = engine.health.sinks["record"]
        rtmp_server.freeze()
        t_freeze = time.monotonic()
        m_freeze, rec_bytes_freeze = engine.media_time, record.bytes
        t_detect = wait_until(lambda: engine.health.sinks["rtmp1"].state != "publishing", 8)
        assert t_detect is not None and t_detect - t_freeze <= 5.0, f"hung server noticed after {t_detect and t_detect - t_freeze}"
        assert engine.health.sinks["rtmp1"].last_error
        time.sleep(max(0.0, t_freeze + 10.0 - time.monotonic()))
        # during the freeze: the clock, the recording and the preview all kept going
        assert (engine.media_time - m_freeze) / (time.monotonic() - t_freeze) == pytest.approx(1.0, abs=0.03)
        assert record.bytes > rec_bytes_freeze and record.state == "publishing"
        during = [t for t in preview_arrivals if t_freeze < t < t_freeze + 10]
        assert during and np.max(np.diff([t_freeze, *during, t_freeze + 10])) < 1.5
        rtmp_server.thaw()
        t_thaw = time.monotonic()
        t_pub = wait_until(publishing(engine, since=t_thaw), 15)
        assert t_pub is not None, "no reconnect after SIGCONT"
        time.sleep(1.5)
        stop_viewer.set()
    assert engine.health.sinks["rtmp1"].reconnects >= 1
    assert_recording_has_no_gap(rec, engine.health.counters.frames_sent)
    print(f"detected after {t_detect - t_freeze:.2f} s; publishing again {t_pub - t_thaw:.2f} s after SIGCONT")


def test_probe_tells_a_live_server_from_a_silent_one_and_a_closed_port(rtmp_server):
    import socket

    from streamer.sinks.rtmp_sink import ANSWERED, REFUSED, SILENT, probe_rtmp_server
    from tests.rtmp_server import free_port

    assert probe_rtmp_server("127.0.0.1", rtmp_server.port, 2.0) == ANSWERED
    with socket.socket() as silent:  # listens (the kernel accepts) but never answers: a frozen server
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        t = time.monotonic()
        assert probe_rtmp_server("127.0.0.1", silent.getsockname()[1], 0.5) == SILENT
        assert time.monotonic() - t < 2.0
    assert probe_rtmp_server("127.0.0.1", free_port(), 0.5) == REFUSED
    rtmp_server.freeze()
    try:
        assert probe_rtmp_server("127.0.0.1", rtmp_server.port, 0.5) == SILENT
    finally:
        rtmp_server.thaw()
    assert probe_rtmp_server("127.0.0.1", rtmp_server.port, 2.0) == ANSWERED


def test_a_frozen_rtmp_server_does_not_hold_up_another_rtmp_output(rtmp_server, tmp_path):
    from tests.rtmp_server import RtmpServer

    other = RtmpServer(tmp_path / "nginx-b")
    other.start()
    try:
        urls = [rtmp_server.url("a"), other.url("b")]
        engine = StreamEngine(settings(), TestPatternAvatar(W, H, FPS), IdleRenderer(), extra_rtmp=urls)
        with engine:
            assert wait_until(lambda: all(s.state == "publishing" for s in engine.health.sinks.values()), 5)
            time.sleep(1.0)
            b = engine.health.sinks["rtmp2"]
            rtmp_server.freeze()
            t_freeze, b_bytes = time.monotonic(), b.bytes
            samples = []
            while time.monotonic() - t_freeze < 6.0:
                time.sleep(0.5)
                samples.append((b.state, b.bytes))
            rtmp_server.thaw()
            assert engine.health.sinks["rtmp1"].state != "publishing" or engine.health.sinks["rtmp1"].reconnects >= 1
            time.sleep(1.0)
        assert all(state == "publishing" for state, _ in samples)
        grown = [b_bytes] + [n for _, n in samples]
        assert all(y > x for x, y in zip(grown, grown[1:])), "the healthy output stalled"
        assert b.reconnects == 0 and b.dropped_packets == 0
        got = probe_media(str(other.recordings()[-1]), decode_audio=False)
        assert np.max(np.diff(got.video.dts_seconds)) <= FRAME * 1.5 and got.video_duration > 7.0
    finally:
        other.stop()


def test_a_server_that_refuses_to_publish_gets_backoff_not_a_tight_loop(rtmp_server, tmp_path):
    s = settings(rtmp={"reconnect_initial_s": 0.5, "reconnect_max_s": 10.0})
    engine = StreamEngine(s, TestPatternAvatar(W, H, FPS), IdleRenderer(), extra_rtmp=[rtmp_server.url("x", app="deny")])
    with engine:
        time.sleep(5.0)
        sink = engine.health.sinks["rtmp1"]
        state, attempts, error = sink.state, sink.reconnects, sink.last_error
    assert state == "reconnecting" and error
    # 0.5 + 1 + 2 s of backoff between tries (plus connect time): 3 or 4 tries in 5 s, never dozens
    assert 2 <= attempts <= 5, attempts
