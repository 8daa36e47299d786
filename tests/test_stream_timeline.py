"""Fast unit tests of the real-time core: clock arithmetic, ping-pong, timeline bookkeeping, fades, held frames."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from lipsync.base import IdleRenderer, Renderer, RenderJob
from streamer.errors import StartupError
from streamer.health import StreamCounters
from streamer.idle_loop import ping_pong_index, ping_pong_indices
from streamer.media_clock import MediaClock, samples_per_frame
from streamer.settings import StreamSettings
from streamer.test_pattern import TestPatternAvatar, read_loop_index
from streamer.timeline import SpeechState, Timeline

W, H, FPS, SR = 96, 64, 25, 48000
SPF = 1920


class RecordingRenderer(Renderer):
    """Loop frames, remembering every job and clear() call."""

    name = "recording"

    def __init__(self) -> None:
        self.jobs: list[RenderJob] = []
        self.clears = 0

    def render(self, job):
        self.jobs.append(job)
        for idx in job.loop_indices:
            yield job.avatar.frame(idx)

    def clear(self) -> None:
        self.clears += 1


class GatedRenderer(Renderer):
    """Yields the first ``free`` frames at once, then waits for ``gate`` (a deliberately slow renderer)."""

    name = "gated"

    def __init__(self, free: int) -> None:
        self.free = free
        self.gate = threading.Event()

    def render(self, job):
        for k, idx in enumerate(job.loop_indices):
            if k >= self.free:
                self.gate.wait(10)
            yield job.avatar.frame(idx)


def make_timeline(renderer=None, *, loop=10, prebuffer=2, fade=4, channels=2, realtime=True):
    avatar = TestPatternAvatar(W, H, FPS, loop_length=loop)
    counters = StreamCounters()
    tl = Timeline(
        avatar,
        renderer or IdleRenderer(),
        fps=FPS,
        sample_rate=SR,
        channels=channels,
        samples_per_frame=SPF,
        prebuffer_frames=prebuffer,
        fade_frames=fade,
        counters=counters,
        realtime=realtime,
    )
    tl.start()
    return tl, counters


def wait_ready(tl: Timeline, need: int, timeout: float = 5.0) -> None:
    """Block until the head segment has ``need`` frames rendered (so realtime ticks do not race the worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tl._lock:
            head = tl._queue[0] if tl._queue and tl._current is None else None
        if head is None or head.ticket.frames.qsize() >= need or head.ticket.finished.is_set():
            return
        time.sleep(0.005)
    raise AssertionError("renderer did not produce frames")


def ramp_pcm(n: int, channels: int = 2) -> np.ndarray:
    """Distinct sample values so positions can be checked exactly."""
    base = (np.arange(n) % 30000 + 1).astype(np.int16)
    return np.repeat(base[:, None], channels, axis=1)


# -- clock and loop arithmetic ---------------------------------------------------------------------


def test_ping_pong_goes_forward_then_back_and_never_repeats_an_end():
    assert [ping_pong_index(t, 4) for t in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert [ping_pong_index(t, 1) for t in range(3)] == [0, 0, 0]
    assert [ping_pong_index(t, 2) for t in range(5)] == [0, 1, 0, 1, 0]
    assert ping_pong_indices(5, 4, 4) == [1, 0, 1, 2]
    # no jumps: consecutive indices differ by exactly one, for any start
    seq = ping_pong_indices(10**9 + 7, 500, 37)
    assert all(abs(a - b) == 1 for a, b in zip(seq, seq[1:]))


def test_samples_per_frame_is_exact_or_rejected():
    assert samples_per_frame(48000, 25) == 1920
    assert samples_per_frame(48000, 30) == 1600
    assert samples_per_frame(44100, 25) == 1764
    with pytest.raises(ValueError, match="stream.fps 7"):
        samples_per_frame(48000, 7)


def test_engine_rejects_fps_without_whole_samples_per_frame():
    from streamer.engine import StreamEngine

    with pytest.raises(ValueError, match="fps 7 does not divide sample_rate 48000"):
        StreamSettings(width=W, height=H, fps=7)
    settings = StreamSettings(width=W, height=H).model_copy(update={"fps": 7})  # bypassing validation
    with pytest.raises(StartupError, match="stream.sample_rate"):
        StreamEngine(settings, TestPatternAvatar(W, H, 7), IdleRenderer())


def test_engine_rejects_avatar_of_other_size():
    from streamer.engine import StreamEngine

    with pytest.raises(StartupError, match="stream.width"):
        StreamEngine(StreamSettings(width=W, height=H), TestPatternAvatar(W + 2, H, FPS), IdleRenderer())


def test_media_clock_uses_absolute_deadlines_and_resyncs_when_far_behind():
    clock = MediaClock(25)
    clock.start(now=100.0)
    assert clock.deadline(0) == 100.0
    assert clock.deadline(250) == pytest.approx(110.0)
    stop = threading.Event()
    clock.start(now=time.monotonic() - 5.0)  # 5 s behind
    late = clock.wait_for(0, stop)
    assert late >= 5.0 and clock.resyncs == 1
    assert clock.wait_for(1, stop) < 1.0  # re-anchored, not bursting 125 frames


# -- timeline ---------------------------------------------------------------------------------------


def test_every_tick_is_one_frame_the_audio_is_contiguous_and_speech_lands_where_planned():
    tl, counters = make_timeline()
    pcm = ramp_pcm(SPF * 5 + 700)  # 5.36 frames -> 6 frames, last one zero padded
    handle = tl.say(pcm, text="hello")
    wait_ready(tl, 2)
    blocks, speech_flags = [], []
    for n in range(20):
        frame, audio, fresh, speech = tl.tick(n)
        assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
        assert audio.shape[1:] == (2,) and audio.dtype == np.int16 and len(audio) % SPF == 0
        blocks.append(audio.copy())
        speech_flags.append(speech)
    tl.close()
    audio = np.concatenate(blocks)
    start = handle.start_frame
    # The speech's audio leads its frames by one tick (the AAC encoder's delay): two blocks on its first
    # tick, none on its last, one everywhere else; the idle loop hands out its own tick's silence.
    assert [len(b) // SPF for b in blocks] == [2 if n == start else 0 if n == start + 5 else 1 for n in range(20)]
    assert len(audio) == 20 * SPF
    assert handle.state is SpeechState.DONE
    assert handle.start_pts == start * SPF
    assert handle.played_samples == len(pcm)
    assert speech_flags == [start <= n < start + 6 for n in range(20)]
    np.testing.assert_array_equal(audio[start * SPF : start * SPF + len(pcm)], pcm)
    assert not audio[: start * SPF].any() and not audio[start * SPF + len(pcm) :].any()
    assert counters.speech_frames == 6 and counters.idle_frames == 14 and counters.held_frames == 0


def test_mono_input_is_duplicated_and_bad_audio_is_refused():
    tl, _ = make_timeline()
    mono = np.arange(1, SPF + 1, dtype=np.int16)
    handle = tl.say(mono)
    wait_ready(tl, 1)
    out = [tl.tick(n)[1].copy() for n in range(8)]
    tl.close()
    got = out[handle.start_frame]
    np.testing.assert_array_equal(got[:, 0], mono)
    np.testing.assert_array_equal(got[:, 1], mono)
    tl2, _ = make_timeline()
    with pytest.raises(ValueError, match="int16"):
        tl2.say(np.zeros(100, dtype=np.float32))
    with pytest.raises(ValueError, match="shaped"):
        tl2.say(np.zeros((100, 3), dtype=np.int16))
    tl2.close()


def test_speech_is_rendered_over_the_loop_frames_that_are_on_air():
    renderer = RecordingRenderer()
    tl, _ = make_timeline(renderer, loop=7)
    h1 = tl.say(ramp_pcm(SPF * 4))
    h2 = tl.say(ramp_pcm(SPF * 3))  # queued back to back
    indices = []
    for n in range(30):
        wait_ready(tl, 2)
        frame, *_ = tl.tick(n)
        indices.append(read_loop_index(frame, W))
    tl.close()
    assert indices == [ping_pong_index(n, 7) for n in range(30)]  # the body never jumps
    assert h2.start_frame == h1.start_frame + 4  # no gap between queued segments
    assert list(renderer.jobs[0].loop_indices) == ping_pong_indices(h1.start_frame, 4, 7)


def test_interrupt_fades_out_then_idle_resumes_and_records_what_was_heard():
    renderer = RecordingRenderer()
    tl, counters = make_timeline(renderer, fade=4)
    tone = np.full((SPF * 20, 2), 20000, dtype=np.int16)
    handle = tl.say(tone, text="long")
    wait_ready(tl, 2)
    out = []
    n = 0
    while not handle.wait_started(0):
        out.append(tl.tick(n)[1].copy())
        n += 1
    for _ in range(3):
        out.append(tl.tick(n)[1].copy())
        n += 1
    handle.interrupt()  # after 4 ticks of speech; its audio has gone out up to the 5th block
    for _ in range(8):
        out.append(tl.tick(n)[1].copy())
        n += 1
    deadline = time.monotonic() + 5
    while renderer.clears == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    tl.close()
    assert handle.state is SpeechState.INTERRUPTED
    audio = np.concatenate(out)[handle.start_pts :]
    assert len(audio) == (4 + 8) * SPF  # contiguous: as long as the ticks
    peaks = [int(np.abs(audio[k * SPF : (k + 1) * SPF].astype(np.int32)).max()) for k in range(12)]
    # silent fade_frames (4) ticks after the interrupt: the block already handed out plays whole,
    # the next three fade out to ~0 (no click), then the idle loop's silence
    assert peaks[:5] == [20000] * 5
    fade = peaks[5:8]
    assert fade[0] <= 20000 and all(a > b for a, b in zip(fade, fade[1:]))
    assert audio[8 * SPF - 1, 0] < 20000 / (3 * SPF) * 2
    assert peaks[8:] == [0, 0, 0, 0]
    assert handle.played_samples == 8 * SPF  # what went out, fade included
    assert counters.segments_interrupted == 1
    assert renderer.clears >= 1  # the renderer was told to drop its state


def test_interrupting_a_queued_segment_drops_it_and_skip_all_clears_everything():
    tl, _ = make_timeline()
    h1 = tl.say(ramp_pcm(SPF * 10))
    h2 = tl.say(ramp_pcm(SPF * 10))
    h2.interrupt()
    assert h2.state is SpeechState.INTERRUPTED and not h2.wait_started(0)
    h3 = tl.say(ramp_pcm(SPF * 10))
    assert tl.pending == 2
    wait_ready(tl, 2)
    n = 0
    while not h1.wait_started(0):
        tl.tick(n)
        n += 1
    tl.skip_all()
    for _ in range(tl.fade_frames + 2):
        tl.tick(n)
        n += 1
    tl.close()
    assert h1.state is SpeechState.INTERRUPTED and h3.state is SpeechState.INTERRUPTED
    assert h3.played_samples == 0 and h3.start_pts is None
    assert tl.pending == 0 and h1.wait_done(0)


def test_late_frames_are_held_while_audio_never_waits():
    renderer = GatedRenderer(free=3)
    tl, counters = make_timeline(renderer, prebuffer=2)
    pcm = ramp_pcm(SPF * 8)
    handle = tl.say(pcm)
    wait_ready(tl, 3)
    frames, blocks = [], []
    for n in range(30):
        if handle.start_frame is not None and n == handle.start_frame + 6:
            renderer.gate.set()  # renderer catches up after three late ticks
            time.sleep(0.2)
        frame, audio, fresh, speech = tl.tick(n)
        frames.append((frame, fresh, speech))
        blocks.append(audio.copy())
    tl.close()
    s = handle.start_frame
    assert counters.held_frames == 3
    held = [i - s for i, (_, fresh, speech) in enumerate(frames) if speech and not fresh]
    assert held == [3, 4, 5]
    assert all(frames[s + k][0] is frames[s + 2][0] for k in (3, 4, 5))  # the last good frame, repeated
    audio = np.concatenate(blocks)
    np.testing.assert_array_equal(audio[s * SPF : (s + 8) * SPF], pcm)  # audio on time regardless
    assert handle.played_samples == len(pcm)


def test_a_failing_renderer_costs_frames_not_the_utterance():
    class Broken(Renderer):
        name = "broken"

        def render(self, job):
            yield job.avatar.frame(job.loop_indices[0])
            raise RuntimeError("model fell over")

    tl, counters = make_timeline(Broken(), prebuffer=1)
    handle = tl.say(ramp_pcm(SPF * 4))
    wait_ready(tl, 1)
    for n in range(15):
        tl.tick(n)
    tl.close()
    assert handle.state is SpeechState.DONE and handle.played_samples == SPF * 4
    assert "model fell over" in handle.error
    assert counters.segments_failed == 1 and counters.held_frames == 3


def test_after_an_interrupt_the_next_utterance_is_pulled_forward_without_a_jump():
    renderer = RecordingRenderer()
    tl, _ = make_timeline(renderer, loop=9, prebuffer=2, fade=3)
    h1 = tl.say(ramp_pcm(SPF * 100))  # 4 s planned
    h2 = tl.say(ramp_pcm(SPF * 5))
    indices, n = [], 0
    while h2.state is not SpeechState.DONE and n < 200:
        wait_ready(tl, 2)
        if h1.start_frame is not None and n == h1.start_frame + 5:
            h1.interrupt()
            interrupted_at = n
        frame, *_ = tl.tick(n)
        indices.append(read_loop_index(frame, W))
        n += 1
    tl.close()
    assert h1.state is SpeechState.INTERRUPTED and h2.state is SpeechState.DONE
    # h2 was planned ~100 frames out; it now follows the fade after the prebuffer lead
    assert h2.start_frame <= interrupted_at + max(3, tl._lead()) + 1
    assert indices == [ping_pong_index(k, 9) for k in range(n)]  # re-rendered over the new loop frames


def test_dropping_a_queued_utterance_moves_only_the_later_ones_up():
    tl, _ = make_timeline()
    h1, h2, h3 = (tl.say(ramp_pcm(SPF * 10)) for _ in range(3))
    planned = [seg.ticket.planned_start for seg in tl._queue]
    assert planned[1] == planned[0] + 10 and planned[2] == planned[1] + 10
    h2.interrupt()
    assert [seg.handle for seg in tl._queue] == [h1, h3]
    assert [seg.ticket.planned_start for seg in tl._queue] == [planned[0], planned[1]]
    tl.close()


def test_an_utterance_can_bring_its_own_frames():
    from streamer.timeline import GivenFrames

    tl, counters = make_timeline(prebuffer=2)
    clip = [np.full((H, W, 3), 10 * (k + 1), np.uint8) for k in range(3)]
    handle = tl.say(ramp_pcm(SPF * 5), renderer=GivenFrames(clip))
    wait_ready(tl, 2)
    frames = []
    n = 0
    while not handle.done:
        frames.append(tl.tick(n)[0])
        n += 1
    tl.close()
    got = [int(f[0, 0, 0]) for f in frames[handle.start_frame :]]
    assert got == [10, 20, 30, 30, 30]  # the clip, then its last frame held while the audio finishes
    assert counters.held_frames == 2 and handle.played_samples == SPF * 5
