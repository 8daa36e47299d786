"""Open the mouth of a photo/video avatar: a warp of the mouth box with a dark inner mouth and a feathered edge.

The lip line is taken as the horizontal centre line of the avatar's mouth box. The lower lip and jaw are pushed
down (the upper lip up a little) by the opening; the part between them becomes a soft dark lens; spread and
rounding scale the mouth horizontally. Every change fades to zero at the box edges, so nothing outside the box
moves and the box seam is invisible.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from avatars.base import Box, MouthShape

INNER_MOUTH_BGR = np.array([38.0, 28.0, 72.0], dtype=np.float32)  # dark red-brown, not pure black
MOUTH_HALF_WIDTH = 0.34  # share of the box width covered by each half of the lips
INNER_ALPHA = 0.92  # a little of the lip colour shows through, like teeth/tongue shading
UPPER_SHARE = 0.3  # share of the lip gap taken by the upper lip moving up


@lru_cache(maxsize=32)
def _grids(w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel grids, the horizontal falloff and the feather mask for a box size (cached: boxes repeat)."""
    u = np.arange(w, dtype=np.float32)[None, :].repeat(h, axis=0)
    v = np.arange(h, dtype=np.float32)[:, None].repeat(w, axis=1)
    falloff_x = np.sin(np.pi * (u + 0.5) / w).astype(np.float32)
    edge = 0.22

    def ramp(dist: np.ndarray) -> np.ndarray:
        x = np.clip(dist / edge, 0.0, 1.0)
        return x * x * (3.0 - 2.0 * x)  # smoothstep

    fx = ramp(np.minimum(u + 0.5, w - u - 0.5) / w)
    fy = ramp(np.minimum(v + 0.5, h - v - 0.5) / h)
    feather = (fx * fy).astype(np.float32)[..., None]
    for arr in (u, v, falloff_x, feather):
        arr.setflags(write=False)
    return u, v, falloff_x, feather


def clip_box(box: Box, width: int, height: int) -> Box:
    """The part of ``box`` inside a width x height frame (may be empty)."""
    x, y, w, h = (int(round(c)) for c in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def warp_mouth(frame: np.ndarray, box: Box, shape: MouthShape, gap_share: float = 0.45) -> None:
    """Draw ``shape`` into ``frame`` (BGR uint8, modified in place) inside the mouth ``box``; CLOSED is a no-op."""
    if shape.closed:
        return
    x, y, w, h = clip_box(box, frame.shape[1], frame.shape[0])
    if w < 8 or h < 8:
        return
    roi = frame[y : y + h, x : x + w]
    u, v, falloff_x, feather = _grids(w, h)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0

    gap = float(np.clip(shape.open, 0.0, 1.0)) * gap_share * h
    sx = 1.0 + 0.22 * shape.wide - 0.28 * shape.round
    half_w = MOUTH_HALF_WIDTH * w * sx * (1.0 - 0.25 * shape.round)
    # Lip profile: the gap is widest at the centre and closes at the mouth corners (a lens), so cheeks stay put.
    profile = np.sqrt(np.clip(1.0 - ((u[:1] - cx) / half_w) ** 2, 0.0, 1.0))
    lift = UPPER_SHARE * gap * profile
    drop = (1.0 - UPPER_SHARE) * gap * profile
    # Vertical: rows below the gap come from a compressed copy of the lower half (the jaw drops), rows above it
    # from the upper half (the lip rises); the top and bottom rows of the box map to themselves.
    lower_src = cy + (v - cy - drop) * (h - 1 - cy) / np.maximum(h - 1 - cy - drop, 1.0)
    upper_src = cy - (cy - lift - v) * cy / np.maximum(cy - lift, 1.0)
    in_gap = (v > cy - lift) & (v < cy + drop)
    map_y = np.where(v >= cy + drop, lower_src, np.where(v <= cy - lift, upper_src, cy))
    # Horizontal: spread widens, rounding narrows, fading to no shift at the box sides.
    map_x = u + ((cx + (u - cx) / sx) - u) * falloff_x
    warped = cv2.remap(
        roi, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    ).astype(np.float32)

    # Inner mouth: the lens between the lips, dark and slightly blurred so the lip edges are soft.
    if gap >= 1.0:
        inner = in_gap.astype(np.float32)
        k = max(3, (int(gap * 0.2) // 2) * 2 + 1)
        inner = cv2.GaussianBlur(inner, (k, k), 0)[..., None] * INNER_ALPHA
        warped += (INNER_MOUTH_BGR - warped) * inner

    out = roi.astype(np.float32)
    out += (warped - out) * feather
    np.clip(out, 0, 255, out=out)
    roi[...] = np.rint(out).astype(np.uint8)
