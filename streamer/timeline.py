"""The timeline: at every tick one video frame and its audio (speech segment or idle loop).

A speech segment is PCM at the stream rate plus a renderer. When queued it gets a planned start tick,
so the loop indices it will be on air over are known in advance; one worker thread renders segments
in FIFO order into small bounded buffers. The clock never waits for the renderer: a missing frame is
held (the previous one repeated) while the audio goes on.

While an utterance plays, its audio is handed out one tick ahead of its frames (its first tick gives
two blocks, its last none): the AAC encoder holds about 3,072 samples back, so without that lead the
first syllable would leave the encoder a tick after its picture. Timestamps are unchanged (the audio
stream stays contiguous); the lead never reaches past the utterance's end, so what follows it is
decided as late as before, and an interrupt fades from the first block not yet handed out.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from avatars.base import Avatar
from lipsync.base import Renderer, RenderJob, Timing
from streamer.health import StreamCounters
from streamer.idle_loop import ping_pong_index, ping_pong_indices

log = logging.getLogger(__name__)

# Non-realtime mode (offline render, soak) waits this long for a renderer before holding a frame.
OFFLINE_RENDER_WAIT_S = 60.0
RENDER_NICENESS = 4  # added to the render worker thread's nice value


class SpeechState(str, Enum):
    QUEUED = "queued"
    PLAYING = "playing"
    DONE = "done"  # played to the end
    INTERRUPTED = "interrupted"  # faded out early, or dropped before it started


class SpeechHandle:
    """One utterance on the timeline: interrupt it, wait for it, read what was really played.

    ``start_pts`` is the audio pts of its first sample, in samples at the stream rate
    (= ``start_frame`` x samples_per_frame); ``played_samples`` counts samples actually sent (fade included).
    """

    def __init__(self, timeline: Timeline, text: str, total_samples: int, sample_rate: int, samples_per_frame: int):
        self._timeline = timeline
        self.text = text
        self.total_samples = total_samples
        self.sample_rate = sample_rate
        self._spf = samples_per_frame
        self.state = SpeechState.QUEUED
        self.start_frame: int | None = None
        self.played_samples = 0
        self.error: str | None = None  # renderer failure, if any (audio still played)
        self._cond = threading.Condition()

    @property
    def start_pts(self) -> int | None:
        """Audio pts (samples) at which this utterance started, or None if it never started."""
        return None if self.start_frame is None else self.start_frame * self._spf

    @property
    def start_media_time(self) -> float | None:
        return None if self.start_frame is None else self.start_frame * self._spf / self.sample_rate

    @property
    def played_seconds(self) -> float:
        return self.played_samples / self.sample_rate

    @property
    def done(self) -> bool:
        return self.state in (SpeechState.DONE, SpeechState.INTERRUPTED)

    def interrupt(self) -> None:
        """Fade out now if playing (over stream.fade_frames), or drop it if still queued."""
        self._timeline.interrupt(self)

    def wait_started(self, timeout: float | None = None) -> bool:
        """True once it is on air; False on timeout or if it ended without ever starting."""
        with self._cond:
            self._cond.wait_for(lambda: self.state is not SpeechState.QUEUED, timeout)
            return self.start_frame is not None

    def wait_done(self, timeout: float | None = None) -> bool:
        """True once it has finished or was interrupted/dropped."""
        with self._cond:
            return self._cond.wait_for(lambda: self.done, timeout)

    def _set(self, state: SpeechState) -> None:
        with self._cond:
            self.state = state
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"<SpeechHandle {self.state.value} start={self.start_frame} played={self.played_samples} {self.text[:30]!r}>"


@dataclass
class _RenderTicket:
    """One render of a segment over known loop indices; replaced (and cancelled) when re-planned."""

    planned_start: int
    loop_indices: list[int]
    frames: queue.Queue
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    produced: int = 0
    error: str | None = None


@dataclass
class _Segment:
    handle: SpeechHandle
    audio: np.ndarray  # int16 (n_frames * spf, channels), zero padded
    raw_audio: np.ndarray  # what the renderer gets (unpadded)
    n_frames: int
    timings: Sequence[Timing]
    ticket: _RenderTicket
    renderer: Renderer | None = None  # this utterance's frame source, if not the engine's renderer
    pos: int = 0  # next frame index within the segment
    apos: int = 0  # next audio block to hand out (pos, or pos + 1 while the audio leads)
    end: int = 0  # frames it lasts: n_frames, or where an interrupt's fade ends
    last_frame: np.ndarray | None = None
    fade_from: int | None = None  # first faded audio block, once interrupted

    def __post_init__(self) -> None:
        self.end = self.n_frames


class Timeline:
    """Hands out (frame, audio block) per tick; thread-safe ``say``/``interrupt``/``skip_all``."""

    def __init__(
        self,
        avatar: Avatar,
        renderer: Renderer,
        *,
        fps: int,
        sample_rate: int,
        channels: int,
        samples_per_frame: int,
        prebuffer_frames: int,
        fade_frames: int,
        counters: StreamCounters,
        realtime: bool = True,
    ) -> None:
        self.avatar = avatar
        self.renderer = renderer
        self.fps = fps
        self.sample_rate = sample_rate
        self.channels = channels
        self.spf = samples_per_frame
        self.prebuffer = prebuffer_frames
        self.fade_frames = fade_frames
        self.counters = counters
        self.realtime = realtime
        self.buffer_frames = max(prebuffer_frames + 4, fps // 2)
        self.silence = np.zeros((samples_per_frame, channels), dtype=np.int16)
        self.silence.setflags(write=False)
        self.next_tick = 0  # the tick the clock will produce next
        self._lock = threading.Lock()
        self._queue: deque[_Segment] = deque()
        self._current: _Segment | None = None
        self._jobs: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._render_worker, name="stream-render", daemon=True)
        self._worker_started = False
        self._closed = False

    # -- public API (any thread) -----------------------------------------------------------------

    def start(self) -> None:
        if not self._worker_started:
            self._worker_started = True
            self._worker.start()

    def close(self) -> None:
        """Drop everything and stop the render worker."""
        self.skip_all()
        self._closed = True
        self._jobs.put(None)
        if self._worker_started:
            self._worker.join(timeout=5)

    def say(
        self,
        audio: np.ndarray,
        timings: Sequence[Timing] = (),
        text: str = "",
        *,
        start_tick: int | None = None,
        renderer: Renderer | None = None,
    ) -> SpeechHandle:
        """Queue PCM (int16, (n,) or (n, channels), stream rate) to play after what is queued.

        ``renderer`` overrides the engine's renderer for this utterance (e.g. ``GivenFrames``).
        """
        pcm = self._normalize_audio(audio)
        n_frames = max(1, -(-len(pcm) // self.spf))
        padded = np.zeros((n_frames * self.spf, self.channels), dtype=np.int16)
        padded[: len(pcm)] = pcm
        handle = SpeechHandle(self, text, len(pcm), self.sample_rate, self.spf)
        with self._lock:
            if self._closed:
                raise RuntimeError("the stream engine is stopped")
            start = self._plan_start(n_frames) if start_tick is None else start_tick
            seg = _Segment(handle, padded, pcm, n_frames, tuple(timings), self._ticket(start, n_frames), renderer)
            self._queue.append(seg)
            self._jobs.put(seg)
        log.debug("speech queued", extra={"text": text[:60], "frames": n_frames, "planned_start": start})
        return handle

    def interrupt(self, handle: SpeechHandle) -> None:
        with self._lock:
            cur = self._current
            if cur is not None and cur.handle is handle:
                if cur.fade_from is None:
                    # Silent fade_frames ticks from now: the fade starts at the first block not handed out
                    # yet (the one that leads the frames is already encoded) and lasts at least one block.
                    cur.fade_from = cur.apos
                    cur.end = min(cur.n_frames, max(cur.apos + 1, cur.pos + self.fade_frames))
                    # The fade plays from frames already buffered (or held); free the worker for what is next.
                    cur.ticket.cancel.set()
                    # Queued segments were planned after this one's full length: pull them forward.
                    self._replan_queue(self.next_tick + cur.end - cur.pos)
                return
            for i, seg in enumerate(self._queue):
                if seg.handle is handle:
                    del self._queue[i]
                    self._drop(seg)
                    # Those after it move up to where it would have started.
                    self._replan_queue(seg.ticket.planned_start, first=i)
                    return

    def skip_all(self) -> None:
        """Fade out the current utterance and drop every queued one."""
        with self._lock:
            queued, self._queue = list(self._queue), deque()
            for seg in queued:
                self._drop(seg)
            cur = self._current
        if cur is not None:
            self.interrupt(cur.handle)

    @property
    def speaking(self) -> str | None:
        """Text of the utterance on air, or None."""
        cur = self._current
        return cur.handle.text if cur is not None else None

    @property
    def pending(self) -> int:
        """Utterances queued or playing."""
        with self._lock:
            return len(self._queue) + (self._current is not None)

    # -- clock side (one thread) ------------------------------------------------------------------

    def tick(self, n: int) -> tuple[np.ndarray, np.ndarray, bool, bool]:
        """Frame n and the audio to send with it: (bgr frame, int16 (k x spf, ch) audio, fresh, speech).

        The audio is tick n's block, except while an utterance plays (see the module doc): its first tick
        gives 2 blocks, its last 0. Concatenated over the ticks the audio is contiguous from tick 0.
        ``fresh`` is False when the frame is a held (already overlaid) one that must not be drawn on again.
        """
        self.next_tick = n + 1
        loop_index = ping_pong_index(n, self.avatar.loop_length)
        with self._lock:
            head = None
            if self._current is None and self._queue and self._queue[0].ticket.planned_start <= n:
                head = self._queue[0]
                ticket = head.ticket
        # Checked without the lock: offline mode waits here for the renderer, and say() must not block on it.
        if head is not None and self._ready(ticket, min(self.prebuffer, head.n_frames)):
            with self._lock:
                if self._queue and self._queue[0] is head and head.ticket is ticket:
                    self._queue.popleft()
                    self._start(head, n)
        elif head is not None:
            self.counters.start_delayed_frames += 1
        with self._lock:
            seg = self._current
        if seg is None:
            self.counters.idle_frames += 1
            return self.avatar.frame(loop_index), self.silence, True, False
        return self._segment_tick(seg, n, loop_index)

    # -- internals ---------------------------------------------------------------------------------

    def _normalize_audio(self, audio: np.ndarray) -> np.ndarray:
        pcm = np.asarray(audio)
        if pcm.dtype != np.int16:
            raise ValueError(f"speech audio must be int16 PCM at {self.sample_rate} Hz, got dtype {pcm.dtype}")
        if pcm.ndim == 1:
            pcm = pcm[:, None]
        if pcm.ndim != 2 or pcm.shape[1] not in (1, self.channels):
            raise ValueError(f"speech audio must be shaped (samples,) or (samples, {self.channels}), got {pcm.shape}")
        if pcm.shape[1] != self.channels:
            pcm = np.repeat(pcm, self.channels, axis=1)
        return pcm

    def _ticket(self, start: int, n_frames: int) -> _RenderTicket:
        indices = ping_pong_indices(start, n_frames, self.avatar.loop_length)
        return _RenderTicket(start, indices, queue.Queue(maxsize=self.buffer_frames))

    def _busy_until(self) -> int:
        """First tick after what is playing (lock held)."""
        cur = self._current
        if cur is None:
            return self.next_tick
        return self.next_tick + cur.end - cur.pos

    def _lead(self) -> int:
        """Ticks after the next one at which an utterance is planned to start: its prebuffer is rendered in
        that time plus what is left of the tick in progress (one frame needs no extra tick); a start whose
        prebuffer is not ready waits (``start_delayed_frames``)."""
        return max(self.prebuffer - 1, 0)

    def _plan_start(self, n_frames: int) -> int:
        """Back to back after the queue, but no sooner than the prebuffer lead allows (lock held)."""
        start = max(self.next_tick + self._lead(), self._busy_until())
        if self._queue:
            last = self._queue[-1]
            start = max(start, last.ticket.planned_start + last.n_frames)
        return start

    def _replan_queue(self, from_tick: int, first: int = 0) -> None:
        """Re-plan queued segments from index ``first`` on, back to back from ``from_tick``, and
        re-render them over the loop indices they will now be on air at (lock held)."""
        start = max(from_tick, self.next_tick + self._lead())
        for i, seg in enumerate(self._queue):
            if i < first:
                continue
            if seg.ticket.planned_start != start:
                seg.ticket.cancel.set()
                seg.ticket = self._ticket(start, seg.n_frames)
                self._jobs.put(seg)
            start += seg.n_frames

    def _ready(self, ticket: _RenderTicket, need: int) -> bool:
        if ticket.frames.qsize() >= need or ticket.finished.is_set():
            return True
        if self.realtime:
            return False
        # Offline: wait for the renderer instead of playing idle.
        waited = 0.0
        while waited < OFFLINE_RENDER_WAIT_S and not ticket.finished.is_set():
            if ticket.frames.qsize() >= need:
                return True
            ticket.finished.wait(0.01)
            waited += 0.01
        return True

    def _start(self, seg: _Segment, n: int) -> None:
        self._current = seg
        seg.handle.start_frame = n
        seg.handle._set(SpeechState.PLAYING)
        self.counters.segments_started += 1
        late = n - seg.ticket.planned_start
        log.debug("speech started", extra={"text": seg.handle.text[:60], "tick": n, "late_ticks": late})

    def _drop(self, seg: _Segment) -> None:
        seg.ticket.cancel.set()
        seg.handle._set(SpeechState.INTERRUPTED)

    def _next_frame(self, seg: _Segment) -> np.ndarray | None:
        ticket, k = seg.ticket, seg.pos
        deadline_wait = 0.0 if self.realtime else OFFLINE_RENDER_WAIT_S
        while True:
            try:
                if deadline_wait and not ticket.finished.is_set():
                    idx, frame = ticket.frames.get(timeout=0.05)
                else:
                    idx, frame = ticket.frames.get_nowait()
            except queue.Empty:
                if deadline_wait and not ticket.finished.is_set():
                    deadline_wait = max(0.0, deadline_wait - 0.05)
                    continue
                return None
            if idx >= k:
                return frame  # idx == k: frames come in order and we never skip ahead
            # idx < k: a frame that arrived after we held over its tick; discard it.

    def _segment_tick(self, seg: _Segment, n: int, loop_index: int) -> tuple[np.ndarray, np.ndarray, bool, bool]:
        frame = self._next_frame(seg)
        fresh = frame is not None
        if frame is None:
            self.counters.held_frames += 1
            frame = seg.last_frame
            if frame is None:  # nothing rendered yet (prebuffer 0 or renderer failed): the loop frame
                frame = self.avatar.frame(loop_index)
                fresh = True
        seg.last_frame = frame
        spf = self.spf
        with self._lock:  # interrupt() may start a fade from another thread
            first, stop = seg.apos, min(seg.pos + 2, seg.end)  # the audio leads the frames by one block
            audio = seg.audio[first * spf : stop * spf]
            if seg.fade_from is not None and stop > seg.fade_from:
                total = (seg.end - seg.fade_from) * spf
                at = np.arange(first * spf, stop * spf, dtype=np.float32) - seg.fade_from * spf
                ramp = np.clip(1.0 - at / total, 0.0, 1.0)
                audio = (audio * ramp[:, None]).astype(np.int16)
            seg.apos = stop  # never behind first: end >= apos and pos + 2 > apos
            seg.pos += 1
            seg.handle.played_samples = min(seg.apos * spf, seg.handle.total_samples)
            self.counters.speech_frames += 1
            if seg.pos >= seg.end:
                self._finish(seg)
        return frame, audio, fresh, True

    def _finish(self, seg: _Segment) -> None:
        """End the current segment (lock held)."""
        interrupted = seg.end < seg.n_frames
        self._current = None
        seg.ticket.cancel.set()
        if seg.ticket.error:
            seg.handle.error = seg.ticket.error
        if interrupted:
            self.counters.segments_interrupted += 1
        seg.handle._set(SpeechState.INTERRUPTED if interrupted else SpeechState.DONE)
        log.debug(
            "speech ended",
            extra={"text": seg.handle.text[:60], "played_samples": seg.handle.played_samples, "interrupted": interrupted},
        )

    def _render_worker(self) -> None:
        """Runs renderer.render for each ticket in order; renderers never run concurrently."""
        try:
            # Under CPU pressure a late render costs a held frame, a late clock or encoder costs the
            # stream: let the scheduler favour them (Linux: niceness is per thread).
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + RENDER_NICENESS))
        except (AttributeError, OSError):
            pass
        while True:
            seg = self._jobs.get()
            if seg is None:
                return
            ticket = seg.ticket
            if ticket.cancel.is_set() or ticket.finished.is_set():
                continue
            job = RenderJob(
                audio=seg.raw_audio,
                sample_rate=self.sample_rate,
                fps=self.fps,
                loop_indices=ticket.loop_indices,
                avatar=self.avatar,
                timings=seg.timings,
            )
            frames = None
            try:
                renderer = seg.renderer or self.renderer
                frames = renderer.render(job)
                shape = (self.avatar.height, self.avatar.width, 3)
                for k, frame in enumerate(frames):
                    if k >= seg.n_frames or ticket.cancel.is_set():
                        break
                    if frame.shape != shape or frame.dtype != np.uint8:
                        raise ValueError(f"renderer {renderer.name} gave a {frame.shape} {frame.dtype} frame, want {shape} uint8")
                    while not ticket.cancel.is_set():
                        try:
                            ticket.frames.put((k, frame), timeout=0.1)
                            ticket.produced += 1
                            break
                        except queue.Full:
                            continue
            except Exception as exc:  # a broken renderer costs frames (held), never the stream
                ticket.error = f"{type(exc).__name__}: {exc}"
                self.counters.segments_failed += 1
                log.error("renderer failed; the utterance plays over held frames", extra={"renderer": (seg.renderer or self.renderer).name, "error": ticket.error})
            finally:
                close = getattr(frames, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:
                        pass
                ticket.finished.set()
            if ticket.cancel.is_set():
                try:
                    (seg.renderer or self.renderer).clear()
                except Exception:
                    log.exception("renderer.clear() failed")


class GivenFrames(Renderer):
    """A frame source of ready frames (a pre-rendered clip): frame k goes on air at the utterance's k-th tick.

    Fewer frames than the audio needs: the last one is held. ``frames`` is any iterable of BGR arrays.
    """

    name = "given-frames"

    def __init__(self, frames) -> None:
        self.frames = frames

    def render(self, job: RenderJob):
        yield from self.frames
