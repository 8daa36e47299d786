"""Encode once: one libx264 and one AAC encoder; their packets fan out to every sink as plain bytes.

The encoders are the codec contexts of two streams in a ``null`` output container: opening that
container gives them global headers (avcC / AudioSpecificConfig extradata) and gives each sink a
template stream to copy codec parameters from (``add_stream_from_template``), so sinks never encode.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import cv2
import numpy as np

from streamer.media_clock import samples_per_frame
from streamer.settings import StreamSettings


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One encoded packet, immutable so sinks can share it; pts/dts in the stream's time base."""

    kind: Literal["video", "audio"]
    data: bytes
    pts: int
    dts: int
    keyframe: bool
    duration: int


class AVEncoder:
    """H.264 (zerolatency, fixed GOP, no B-frames) + AAC; called from one thread (the encode thread)."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self.fps = settings.fps
        self.sample_rate = settings.sample_rate
        self.spf = samples_per_frame(settings.sample_rate, settings.fps)
        self.video_time_base = Fraction(1, settings.fps)
        self.audio_time_base = Fraction(1, settings.sample_rate)
        self.layout = "stereo" if settings.channels == 2 else "mono"
        enc = settings.encoder
        self.gop = max(1, round(enc.gop_seconds * settings.fps))
        self._force_keyframe = threading.Event()
        self.container = av.open(os.devnull, "w", format="null")
        kbps = enc.video_bitrate_kbps
        try:
            video = self.container.add_stream(
                "libx264",
                rate=settings.fps,
                options={
                    "preset": enc.preset,
                    "tune": "zerolatency",
                    "maxrate": f"{kbps}k",
                    "bufsize": f"{kbps}k",
                    "x264-params": f"keyint={self.gop}:min-keyint={self.gop}:scenecut=0:bframes=0",
                },
            )
        except (av.FFmpegError, ValueError) as exc:
            raise RuntimeError(f"this FFmpeg has no libx264 encoder: {exc}") from exc
        video.width = settings.width
        video.height = settings.height
        video.pix_fmt = "yuv420p"
        ctx = video.codec_context
        ctx.time_base = self.video_time_base
        ctx.bit_rate = kbps * 1000
        ctx.gop_size = self.gop
        ctx.max_b_frames = 0
        ctx.thread_count = enc.threads
        ctx.flags |= av.codec.context.Flags.global_header
        audio = self.container.add_stream("aac", rate=settings.sample_rate)
        audio.layout = self.layout
        audio.codec_context.bit_rate = enc.audio_bitrate_kbps * 1000
        audio.codec_context.time_base = self.audio_time_base
        audio.codec_context.flags |= av.codec.context.Flags.global_header
        try:
            self.container.start_encoding()  # opens both encoders; fills extradata
        except av.FFmpegError as exc:
            raise RuntimeError(
                f"cannot open the encoders (stream.encoder.preset={enc.preset!r}?): {exc}"
            ) from exc
        self.video_template = video
        self.audio_template = audio
        self._yuv = np.empty((settings.height * 3 // 2, settings.width), dtype=np.uint8)
        self._closed = False
        self.frames_in = 0  # what was fed, for bookkeeping checks (soak)
        self.samples_in = 0

    def request_keyframe(self) -> None:
        """Make the next video frame an IDR (a sink reconnected and has no keyframe queued)."""
        self._force_keyframe.set()

    def encode(self, n: int, frame_bgr: np.ndarray, audio: np.ndarray) -> list[EncodedPacket]:
        """Encode tick n: its audio (int16 (k x spf, ch), see encode_audio) and video frame (BGR)."""
        return self.encode_audio(audio) + self.encode_video(n, frame_bgr)

    def encode_audio(self, audio: np.ndarray) -> list[EncodedPacket]:
        """The next audio blocks (int16 (samples, ch)): the audio track is contiguous, so its pts is the
        count of samples fed so far (speech may lead the pictures by a tick; see streamer/timeline.py)."""
        if not len(audio):
            return []
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio).reshape(1, -1), format="s16", layout=self.layout)
        af.sample_rate = self.sample_rate
        af.pts = self.samples_in
        af.time_base = self.audio_time_base
        self.samples_in += len(audio)
        return self._wrap("audio", self.audio_template.encode(af))

    def encode_video(self, n: int, frame_bgr: np.ndarray) -> list[EncodedPacket]:
        """Video frame n (BGR)."""
        cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420, dst=self._yuv)
        return self._encode_yuv(n)

    def _encode_yuv(self, n: int) -> list[EncodedPacket]:
        """Encode the picture in the reused I420 buffer as frame n."""
        vf = av.VideoFrame.from_ndarray(self._yuv, format="yuv420p")
        vf.pts = n
        vf.time_base = self.video_time_base
        if self._force_keyframe.is_set():
            self._force_keyframe.clear()
            vf.pict_type = av.video.frame.PictureType.I
        self.frames_in += 1
        return self._wrap("video", self.video_template.encode(vf))

    def flush(self) -> list[EncodedPacket]:
        """Drain both encoders (end of stream). If the stream stopped while speech audio led the pictures,
        the last picture is sent once more first, so both tracks end together."""
        if self._closed:
            return []
        ahead = []
        if self.frames_in and self.samples_in > self.frames_in * self.spf:
            ahead = self._encode_yuv(self.frames_in)
        return ahead + self._wrap("video", self.video_template.encode(None)) + self._wrap("audio", self.audio_template.encode(None))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.container.close()

    @staticmethod
    def _wrap(kind: Literal["video", "audio"], packets) -> list[EncodedPacket]:
        return [
            EncodedPacket(kind, bytes(p), p.pts, p.dts, bool(p.is_keyframe), p.duration or 0)
            for p in packets
            if p.size
        ]

