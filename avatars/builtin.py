"""The built-in presenter: a stylized 2D host in a studio, drawn in code, so a first run needs no assets.

Per frame: copy the static backdrop, warp the body sprite (breathing) and the head sprite (sway,
tilt, blink level, mouth patch) onto two small regions, and let the desk occlude them. All idle
motion is a sum of cos(pi*k*t) terms of t = index / (loop_length - 1): their velocity is zero at
both ends, so the ping-pong turns ease out and back in instead of bouncing.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import numpy as np

from avatars.base import CLOSED, Avatar, Box, MouthShape, OverlayData
from avatars.layers import Sprite, affine, place_sprite, transform_points
from avatars.overlay_text import OverlayPainter
from avatars.presenter_art import (
    FACE_RECT,
    MOUTH_CENTER,
    StudioLayout,
    draw_backdrop,
    draw_body,
    draw_head,
    draw_mouth,
    draw_overlay_panels,
    mouth_patch_size,
)

log = logging.getLogger("avatars.builtin")

BLINK_LEVELS = (0.0, 0.3, 0.65, 1.0)
# Lid level per frame around a blink's start (25 fps): fast close, slightly slower open.
BLINK_PROFILE = (1, 2, 3, 3, 2, 1)
BLINK_AT = (0.27, 0.71)  # where in the loop (0..1) blinks start; away from the turn points
HEAD_DROP = 10.0  # design px the head sits lower than the neck base (a shorter, natural neck)
MOUTH_STEPS = 50  # mouth parameters are quantised to 1/50 (cache key; invisible at this size)


class BuiltinAvatar(Avatar):
    """Anti-aliased 2D presenter with blink, breathing and head sway; draws its own mouth."""

    name = "builtin"
    draws_mouth = True

    def __init__(self, width: int = 1280, height: int = 720, fps: int = 25, *, loop_seconds: float = 10.0,
                 font_path: str | None = None):
        if width < 64 or height < 64:
            raise ValueError(f"built-in avatar needs at least 64x64 pixels, got {width}x{height}")
        self.width, self.height, self.fps = int(width), int(height), int(fps)
        self.loop_length = max(8, int(round(loop_seconds * fps)))
        self.layout = StudioLayout(self.width, self.height)
        self._s = self.layout.s
        self._backdrop = draw_backdrop(self.layout)
        self._body = draw_body(self._s)
        self._heads: dict[int, Sprite] = {}
        self._mouths: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()
        self._closed_heads: dict[int, Sprite] = {}
        self._lock = threading.Lock()  # the streamer and a renderer thread both call frame()
        self._overlay = OverlayPainter(self.layout, font_path=font_path,
                                       panels=draw_overlay_panels(self.layout, badge=False))
        self._plan_motion()
        # Every blink level now, not at the first blink on air (each costs ~0.15 s of drawing at 720p).
        for level in range(len(BLINK_LEVELS)):
            self._head_with_mouth(level, (0, 0, 0))

    # -- motion --------------------------------------------------------------------------------
    def _plan_motion(self) -> None:
        n, s = self.loop_length, self._s
        t = np.arange(n) / (n - 1)
        cos = lambda k: np.cos(np.pi * k * t)  # noqa: E731 - zero slope at t = 0 and t = 1 for any k
        k_breath = max(1, int(round(2 * (n - 1) / (self.fps * 3.8))))  # ~3.8 s per breath
        breath = 0.5 - 0.5 * cos(k_breath)
        sway = s * (2.6 * cos(2) + 0.9 * cos(5))
        nod = s * (0.9 * cos(4) - 0.5 * cos(1))
        tilt = 1.3 * cos(3) - 0.6 * cos(1)  # degrees
        neck = np.array(self.layout.neck)
        desk = np.array([neck[0], float(self.layout.desk_y)])
        self._body_m, self._head_m = [], []
        for i in range(n):
            sx, sy = 1 + 0.004 * breath[i], 1 + 0.011 * breath[i]
            neck_i = desk + np.array([sx, sy]) * (neck - desk)
            self._body_m.append(affine(self._body.pivot, tuple(neck_i), 0.0, sx, sy))
            head_at = (neck_i[0] + sway[i], neck_i[1] + nod[i] + HEAD_DROP * s)
            self._head_m.append(affine(self._head_pivot(), head_at, tilt[i]))
        blink = np.zeros(n, np.int64)
        if n >= 2 * self.fps:
            for at in BLINK_AT:
                start = int(round(at * (n - 1)))
                for j, level in enumerate(BLINK_PROFILE):
                    if 0 <= start + j < n:
                        blink[start + j] = level
        self._blink = blink

    def _head_pivot(self) -> tuple[float, float]:
        if 0 not in self._heads:
            self._heads[0] = draw_head(self._s, BLINK_LEVELS[0])
        return self._heads[0].pivot

    def _head(self, level: int) -> Sprite:
        sprite = self._heads.get(level)
        if sprite is None:
            with self._lock:
                sprite = self._heads.get(level)
                if sprite is None:
                    sprite = self._heads[level] = draw_head(self._s, BLINK_LEVELS[level])
        return sprite

    def motion(self, loop_index: int) -> dict[str, float]:
        """Debug view of the idle motion at one index (for tests and tuning)."""
        i = self._index(loop_index)
        return {"blink": BLINK_LEVELS[self._blink[i]], "head_x": float(self._head_m[i][0, 2]),
                "head_y": float(self._head_m[i][1, 2])}

    def _index(self, loop_index: int) -> int:
        return int(loop_index) % self.loop_length

    # -- mouth ---------------------------------------------------------------------------------
    def _mouth_key(self, mouth: MouthShape | None) -> tuple[int, int, int]:
        m = mouth or CLOSED
        q = lambda v: int(round(min(1.0, max(0.0, float(v))) * MOUTH_STEPS))  # noqa: E731
        return q(m.open), q(m.wide), q(m.round)

    def _mouth_patch(self, key: tuple[int, int, int]) -> np.ndarray:
        with self._lock:
            patch = self._mouths.get(key)
            if patch is not None:
                self._mouths.move_to_end(key)
                return patch
        patch = draw_mouth(self._s, MouthShape(*(k / MOUTH_STEPS for k in key)))
        with self._lock:
            self._mouths[key] = patch
            if len(self._mouths) > 256:
                self._mouths.popitem(last=False)
        return patch

    def _mouth_origin(self, sprite: Sprite) -> tuple[int, int]:
        """Top-left pixel of the mouth patch inside the head sprite (fixed: stable mouth geometry)."""
        w, h = mouth_patch_size(self._s)
        px = sprite.pivot[0] + MOUTH_CENTER[0] * self._s - w / 2
        py = sprite.pivot[1] + MOUTH_CENTER[1] * self._s - h / 2
        return int(round(px)), int(round(py))

    def _head_with_mouth(self, level: int, key: tuple[int, int, int]) -> Sprite:
        closed = key == (0, 0, 0)
        if closed and level in self._closed_heads:
            return self._closed_heads[level]
        base = self._head(level)
        patch = self._mouth_patch(key)
        bgra = base.bgra.copy()
        x, y = self._mouth_origin(base)
        h, w = patch.shape[:2]
        region = bgra[y:y + h, x:x + w].astype(np.uint16)
        a = patch[..., 3:4].astype(np.uint16)
        region = patch.astype(np.uint16) + (region * (255 - a) + 127) // 255
        bgra[y:y + h, x:x + w] = np.minimum(region, 255).astype(np.uint8)
        sprite = Sprite(bgra, base.pivot)
        if closed:
            with self._lock:
                self._closed_heads[level] = sprite
        return sprite

    # -- Avatar --------------------------------------------------------------------------------
    def frame(self, loop_index: int, mouth: MouthShape | None = None) -> np.ndarray:
        i = self._index(loop_index)
        out = self._backdrop.copy()
        desk = self.layout.desk_y
        place_sprite(out, self._body, self._body_m[i], clip_bottom=desk)
        head = self._head_with_mouth(int(self._blink[i]), self._mouth_key(mouth))
        place_sprite(out, head, self._head_m[i], clip_bottom=desk)
        return out

    def _box_of(self, local_pts, i: int, pad: int) -> Box:
        sprite = self._head(0)
        px = np.asarray(local_pts, np.float64) * self._s + np.asarray(sprite.pivot)
        p = transform_points(self._head_m[i], px)
        x0 = max(0, int(np.floor(p[:, 0].min())) - pad)
        y0 = max(0, int(np.floor(p[:, 1].min())) - pad)
        x1 = min(self.width, int(np.ceil(p[:, 0].max())) + pad)
        y1 = min(self.height, int(np.ceil(p[:, 1].max())) + pad)
        return (x0, y0, x1 - x0, y1 - y0)

    def face_box(self, loop_index: int) -> Box:
        x0, y0, x1, y1 = FACE_RECT
        return self._box_of([(x0, y0), (x1, y0), (x0, y1), (x1, y1)], self._index(loop_index), pad=0)

    def mouth_box(self, loop_index: int) -> Box:
        i = self._index(loop_index)
        sprite = self._head(0)
        w, h = mouth_patch_size(self._s)
        x, y = self._mouth_origin(sprite)
        corners = np.array([(x, y), (x + w, y), (x, y + h), (x + w, y + h)], np.float64)
        local = (corners - np.asarray(sprite.pivot)) / self._s
        return self._box_of(local, i, pad=2)

    def draw_overlay(self, frame: np.ndarray, overlay: OverlayData) -> None:
        self._overlay.draw(frame, overlay)

    def overlay_boxes(self) -> list[Box]:
        """Regions draw_overlay may change (x, y, w, h)."""
        return self._overlay.boxes()
