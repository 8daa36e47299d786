"""Offline render of one utterance over the idle loop to an H.264 + AAC MP4 (the `render` subcommand's writer).

Frames come from the same ``Renderer.render(RenderJob)`` call the live engine makes, over the ping-pong loop
indices that would be on air; idle lead-in and tail frames are the loop frames with silence, as on air.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from avatars.base import Avatar
from lipsync.base import Renderer, RenderJob, Timing

log = logging.getLogger(__name__)


def ping_pong(tick: int, loop_length: int) -> int:
    """Loop index on air at ``tick``: 0..L-1 then back down (the streamer's idle-loop rule)."""
    if loop_length <= 1:
        return 0
    period = 2 * loop_length - 2
    phase = tick % period
    return phase if phase < loop_length else period - phase


def read_audio(path: str | Path, sample_rate: int, channels: int) -> np.ndarray:
    """Decode an audio file with PyAV to int16 (samples, channels) at ``sample_rate``; clear errors for bad files."""
    import av  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        container = av.open(str(path))
    except av.error.InvalidDataError:
        raise ValueError(f"not an audio file PyAV can read: {path}") from None
    with container:
        if not container.streams.audio:
            raise ValueError(f"no audio stream in {path}")
        layout = "mono" if channels == 1 else "stereo"
        resampler = av.AudioResampler(format="s16", layout=layout, rate=sample_rate)
        blocks = []
        for frame in container.decode(audio=0):
            blocks += [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(frame)]
        blocks += [f.to_ndarray().reshape(-1, channels) for f in resampler.resample(None)]
    if not blocks:
        raise ValueError(f"no audio samples in {path}")
    return np.ascontiguousarray(np.concatenate(blocks), dtype=np.int16)


def render_utterance_mp4(
    avatar: Avatar,
    renderer: Renderer,
    pcm: np.ndarray,
    sample_rate: int,
    out_path: str | Path,
    *,
    timings: Sequence[Timing] = (),
    lead_in_s: float = 0.5,
    tail_s: float = 0.5,
    video_bitrate_kbps: int = 2500,
    audio_bitrate_kbps: int = 128,
    preset: str = "veryfast",
) -> dict[str, float]:
    """Write idle lead-in, the utterance (lip-synced) and an idle tail to ``out_path``; returns frame counts."""
    import av  # noqa: PLC0415

    fps = int(avatar.fps)
    channels = pcm.shape[1]
    if sample_rate % fps:
        raise ValueError(f"sample rate {sample_rate} is not a whole number of samples per frame at {fps} fps")
    spf = sample_rate // fps
    lead, tail = int(round(lead_in_s * fps)), int(round(tail_s * fps))
    n_speech = -(-len(pcm) // spf)
    padded = np.zeros((n_speech * spf, channels), np.int16)
    padded[: len(pcm)] = pcm
    speech_indices = [ping_pong(t, avatar.loop_length) for t in range(lead, lead + n_speech)]
    job = RenderJob(padded, sample_rate, fps, speech_indices, avatar, tuple(timings))

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(out_path), "w", format="mp4") as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = avatar.width, avatar.height, "yuv420p"
        vstream.bit_rate = video_bitrate_kbps * 1000
        vstream.options = {"preset": preset, "bf": "0", "g": str(2 * fps)}
        astream = container.add_stream("aac", rate=sample_rate, layout=layout)
        astream.bit_rate = audio_bitrate_kbps * 1000
        astream.codec_context.time_base = Fraction(1, sample_rate)
        silence = np.zeros((spf, channels), np.int16)

        def write(tick: int, image: np.ndarray, audio: np.ndarray) -> None:
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = tick
            frame.time_base = Fraction(1, fps)
            container.mux(vstream.encode(frame))
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio.reshape(1, -1)), format="s16", layout=layout)
            chunk.sample_rate = sample_rate
            chunk.pts = tick * spf
            chunk.time_base = Fraction(1, sample_rate)
            container.mux(astream.encode(chunk))

        tick = 0
        for _ in range(lead):
            write(tick, avatar.frame(ping_pong(tick, avatar.loop_length)), silence)
            tick += 1
        rendered = 0
        for k, image in enumerate(renderer.render(job)):
            if k >= n_speech:
                break
            write(tick, image, padded[k * spf : (k + 1) * spf])
            tick += 1
            rendered += 1
        for k in range(rendered, n_speech):  # a renderer that stops early: the loop frame, audio still plays
            write(tick, avatar.frame(speech_indices[k]), padded[k * spf : (k + 1) * spf])
            tick += 1
        for _ in range(tail):
            write(tick, avatar.frame(ping_pong(tick, avatar.loop_length)), silence)
            tick += 1
        container.mux(vstream.encode(None))
        container.mux(astream.encode(None))
    log.debug("rendered", extra={"path": str(out_path), "frames": tick, "speech_frames": n_speech})
    return {"frames": tick, "speech_frames": n_speech, "rendered_frames": rendered, "seconds": tick / fps}
