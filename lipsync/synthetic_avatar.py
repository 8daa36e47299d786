"""A photo-like synthetic avatar (textured face, lips, a swaying idle loop) for renderer tests and benchmarks.

It needs no files, so lip-sync can be measured at any size before (or without) a prepared avatar pack.
"""
from __future__ import annotations

import cv2
import numpy as np

from avatars.base import Avatar, Box, MouthShape


class SyntheticFaceAvatar(Avatar):
    """``loop_length`` precomputed frames of a face that sways a few pixels; optionally draws its own mouth."""

    def __init__(
        self,
        width: int = 320,
        height: int = 240,
        loop_length: int = 12,
        fps: int = 25,
        draws_mouth: bool = False,
        sway_px: float = 2.0,
        seed: int = 7,
    ) -> None:
        self.name = "synthetic"
        self.width, self.height, self.fps, self.loop_length = width, height, fps, loop_length
        self.draws_mouth = draws_mouth
        rng = np.random.default_rng(seed)
        base = self._draw_base(width, height, rng)
        self._offsets = [
            (sway_px * np.sin(2 * np.pi * i / loop_length), 0.5 * sway_px * np.sin(4 * np.pi * i / loop_length))
            for i in range(loop_length)
        ]
        self._frames = []
        for dx, dy in self._offsets:
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            self._frames.append(cv2.warpAffine(base, m, (width, height), borderMode=cv2.BORDER_REFLECT))

    def _draw_base(self, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.stack([90 + 60 * xx / w, 110 + 40 * yy / h, 140 - 30 * xx / w], axis=-1)
        img += rng.normal(0, 6, (h, w, 3)).astype(np.float32)  # texture, so warps and pastes show up in diffs
        self._cx, self._cy = w / 2.0, h * 0.45
        self._fw, self._fh = w * 0.22, h * 0.36
        face = np.zeros((h, w), np.uint8)
        cv2.ellipse(face, (int(self._cx), int(self._cy)), (int(self._fw), int(self._fh)), 0, 0, 360, 255, -1)
        face_f = cv2.GaussianBlur(face, (0, 0), 3).astype(np.float32)[..., None] / 255.0
        skin = np.array([120, 150, 200], np.float32) + rng.normal(0, 4, (h, w, 3)).astype(np.float32)
        img = img * (1 - face_f) + skin * face_f
        out = np.clip(img, 0, 255).astype(np.uint8)
        eye_dy, eye_dx = int(self._fh * 0.25), int(self._fw * 0.4)
        for sx in (-1, 1):
            cv2.circle(out, (int(self._cx + sx * eye_dx), int(self._cy - eye_dy)), max(2, int(w * 0.012)), (40, 30, 30), -1)
        self._mouth_y = self._cy + self._fh * 0.5
        self._mouth_w = self._fw * 0.45
        cv2.ellipse(out, (int(self._cx), int(self._mouth_y)), (int(self._mouth_w), max(1, int(h * 0.006))),
                    0, 0, 360, (70, 60, 160), -1, cv2.LINE_AA)
        return out

    def frame(self, loop_index: int, mouth: MouthShape | None = None) -> np.ndarray:
        out = self._frames[loop_index % self.loop_length].copy()
        if self.draws_mouth and mouth is not None and not mouth.closed:
            dx, dy = self._offsets[loop_index % self.loop_length]
            centre = (int(round(self._cx + dx)), int(round(self._mouth_y + dy)))
            half_w = self._mouth_w * (1 + 0.3 * mouth.wide - 0.35 * mouth.round)
            half_h = max(1.0, mouth.open * self._fh * 0.18)
            cv2.ellipse(out, centre, (int(half_w), int(half_h)), 0, 0, 360, (40, 30, 80), -1, cv2.LINE_AA)
        return out

    def _shifted(self, x: float, y: float, w: float, h: float, loop_index: int) -> Box:
        dx, dy = self._offsets[loop_index % self.loop_length]
        return int(round(x + dx)), int(round(y + dy)), int(round(w)), int(round(h))

    def face_box(self, loop_index: int) -> Box:
        return self._shifted(self._cx - self._fw, self._cy - self._fh, 2 * self._fw, 2 * self._fh, loop_index)

    def mouth_box(self, loop_index: int) -> Box:
        w, h = self._mouth_w * 2.8, self._fh * 0.62
        return self._shifted(self._cx - w / 2, self._mouth_y - h / 2, w, h, loop_index)
