"""A cheap test-pattern avatar: checks the outputs without any asset (tests, benchmarks, doctor).

Each frame is a static backdrop (copied, never redrawn) plus a bar whose position follows the loop
index, and the loop index itself written as 16 black/white blocks along the top edge, so a decoded
frame tells which loop frame it was. ``draw_overlay`` paints a solid marker whose colour comes
from the overlay's price text, so tests can see that the overlay reached every frame.
"""
from __future__ import annotations

import zlib

import cv2
import numpy as np

from avatars.base import Avatar, Box, MouthShape, OverlayData

CODE_BITS = 16


class TestPatternAvatar(Avatar):
    """Colour bars and a moving bar; ``loop_length`` frames of idle loop."""

    name = "test-pattern"
    draws_mouth = True
    __test__ = False  # not a pytest test class

    def __init__(self, width: int, height: int, fps: int, loop_length: int = 50) -> None:
        self.width, self.height, self.fps, self.loop_length = width, height, fps, loop_length
        bars = np.array(
            [[192, 192, 192], [0, 192, 192], [192, 192, 0], [0, 192, 0], [192, 0, 192], [0, 0, 192], [192, 0, 0]],
            dtype=np.uint8,
        )
        cols = np.arange(width) * len(bars) // width
        self._base = np.ascontiguousarray(np.broadcast_to(bars[cols][None, :, :], (height, width, 3)))
        self.block = max(2, width // (CODE_BITS * 2))
        self.bar_w = max(2, width // 40)

    def frame(self, loop_index: int, mouth: MouthShape | None = None) -> np.ndarray:
        out = self._base.copy()
        x = (loop_index * (self.width - self.bar_w)) // max(1, self.loop_length - 1)
        out[self.height // 4 : self.height * 3 // 4, x : x + self.bar_w] = 255
        b = self.block
        for bit in range(CODE_BITS):
            out[0:b, bit * b : (bit + 1) * b] = 255 if (loop_index >> bit) & 1 else 0
        if mouth is not None and not mouth.closed:
            mx, my, mw, mh = self.mouth_box(loop_index)
            cv2.rectangle(out, (mx, my), (mx + mw, my + int(mh * mouth.open)), (0, 0, 0), -1)
        return out

    def face_box(self, loop_index: int) -> Box:
        return (self.width // 3, self.height // 4, self.width // 3, self.height // 2)

    def mouth_box(self, loop_index: int) -> Box:
        return (self.width * 5 // 12, self.height * 5 // 8, self.width // 6, self.height // 8)

    def draw_overlay(self, frame: np.ndarray, overlay: OverlayData) -> None:
        if not overlay.price:
            return
        colour = zlib.crc32(overlay.price.encode()) & 0xFFFFFF
        b = self.block
        frame[self.height - 2 * b :, self.width - 2 * b :] = (colour & 0xFF, (colour >> 8) & 0xFF, colour >> 16)


def read_loop_index(frame_bgr: np.ndarray, width: int) -> int:
    """Decode the loop index a TestPatternAvatar wrote into ``frame_bgr`` (after lossy coding too)."""
    b = max(2, width // (CODE_BITS * 2))
    value = 0
    for bit in range(CODE_BITS):
        cell = frame_bgr[b // 4 : b - b // 4, bit * b + b // 4 : (bit + 1) * b - b // 4]
        if cell.mean() > 127:
            value |= 1 << bit
    return value
