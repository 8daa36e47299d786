"""The default renderer: mouth shapes from loudness, spectrum and phonemes; needs no weights, runs on one core."""
from __future__ import annotations

from collections.abc import Iterator
from weakref import WeakKeyDictionary

import numpy as np

from avatars.base import Avatar, MouthShape
from lipsync.audio_features import frame_features, to_mono_float
from lipsync.base import Renderer, RenderJob, register
from lipsync.mouth_warp import find_lip_line, warp_mouth
from lipsync.settings import LipsyncSettings
from lipsync.visemes import mouth_track


@register
class VisemeRenderer(Renderer):
    """Drives the avatar's own mouth (``draws_mouth``) or warps the mouth box of a photo/video loop frame."""

    name = "viseme"

    def __init__(self, settings: LipsyncSettings | None = None, device: str = "cpu") -> None:
        self.settings = settings or LipsyncSettings()
        self.device = "cpu"  # numpy/OpenCV only; the argument exists so every renderer is built the same way
        # avatar -> {loop index: lip row in the mouth box}; weak, so a replaced avatar's entries go with it
        self._lip_lines: WeakKeyDictionary[Avatar, dict[int, float]] = WeakKeyDictionary()

    def mouth_shapes(self, job: RenderJob) -> list[MouthShape]:
        """The mouth shape of every output frame of ``job`` (silent frames are exactly CLOSED)."""
        n = len(job.loop_indices)
        wav = to_mono_float(job.audio)
        features = frame_features(wav, job.sample_rate, job.fps, n)
        return mouth_track(features, job.fps, self.settings.viseme, job.timings)

    def render(self, job: RenderJob) -> Iterator[np.ndarray]:
        avatar = job.avatar
        gap_share = self.settings.viseme.warp_strength
        for loop_index, shape in zip(job.loop_indices, self.mouth_shapes(job)):
            if avatar.draws_mouth:
                # A closed mouth is requested as None: exactly the idle loop frame.
                yield avatar.frame(loop_index, None if shape.closed else shape)
                continue
            frame = avatar.frame(loop_index)
            if not shape.closed:
                box = avatar.mouth_box(loop_index)
                lines = self._lip_lines.setdefault(avatar, {})
                if loop_index not in lines:  # loop frames never change: find each lip line once
                    lines[loop_index] = find_lip_line(frame, box)
                warp_mouth(frame, box, shape, gap_share, lip_y=lines[loop_index])
            yield frame
