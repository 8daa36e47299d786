"""Open the mouth of a photo/video avatar: a warp of the mouth box with a dark inner mouth and a feathered edge.

The lip line is the darkest row near the middle of the avatar's mouth box (found once per loop frame), or the
box's centre line. The lower lip and jaw are pushed
down (the upper lip up a little) by the opening; the part between them becomes a soft dark lens; spread and
rounding scale the mouth horizontally. Every change fades to zero at the box edges, so nothing outside the box
moves and the box seam is invisible.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from avatars.base import Box, MouthShape

INNER_MOUTH_BGR = (38, 28, 72)  # dark red-brown, not pure black
MOUTH_HALF_WIDTH = 0.34  # share of the box width covered by each half of the lips
TEETH_SHARE = 0.28  # upper-teeth band height, share of the lip gap
TEETH_ALPHA = 0.7  # teeth are shaded by the lip above, never pure white
TEETH_BGR = (205, 212, 222)
INNER_ALPHA = 0.92  # a little of the lip colour shows through, like teeth/tongue shading
UPPER_SHARE = 0.3  # share of the lip gap taken by the upper lip moving up


@dataclass(frozen=True, slots=True)
class _Grid:
    """Per-box-size constants (cached: mouth boxes keep their size along the loop)."""

    u: np.ndarray  # (w,) column coordinates
    v: np.ndarray  # (h, 1) row coordinates
    falloff_x: np.ndarray  # (w,) horizontal shift weight, 0 at the box sides
    feather: np.ndarray  # (h, w) weight of the warped image, 0 at the box edge
    keep: np.ndarray  # (h, w) 1 - feather
    inner: np.ndarray  # (h, w, 3) uint8 inner-mouth colour
    teeth: np.ndarray  # (h, w, 3) uint8 teeth colour


@lru_cache(maxsize=32)
def _grid(w: int, h: int) -> _Grid:
    u = np.arange(w, dtype=np.float32)
    v = np.arange(h, dtype=np.float32)[:, None]
    falloff_x = np.sin(np.pi * (u + 0.5) / w).astype(np.float32)
    edge = 0.22

    def ramp(dist: np.ndarray) -> np.ndarray:
        x = np.clip(dist / edge, 0.0, 1.0)
        return x * x * (3.0 - 2.0 * x)  # smoothstep

    fx = ramp(np.minimum(u + 0.5, w - u - 0.5) / w)[None, :]
    fy = ramp(np.minimum(v + 0.5, h - v - 0.5) / h)
    feather = np.ascontiguousarray((fx * fy).astype(np.float32))
    keep = np.ascontiguousarray(1.0 - feather)
    inner = np.empty((h, w, 3), np.uint8)
    inner[...] = INNER_MOUTH_BGR
    teeth = np.empty((h, w, 3), np.uint8)
    teeth[...] = TEETH_BGR
    grid = _Grid(u, v, falloff_x, feather, keep, inner, teeth)
    for arr in (u, v, falloff_x, feather, keep, inner, teeth):
        arr.setflags(write=False)
    return grid


def clip_box(box: Box, width: int, height: int) -> Box:
    """The part of ``box`` inside a width x height frame (may be empty)."""
    x, y, w, h = (int(round(c)) for c in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def find_lip_line(frame: np.ndarray, box: Box) -> float:
    """Row (relative to the box top) where the lips meet: the darkest row of the box's central part.

    Searched in the middle 60% of the box height, over the middle half of its width; falls back to the centre.
    """
    x, y, w, h = clip_box(box, frame.shape[1], frame.shape[0])
    if w < 8 or h < 8:
        return (h - 1) / 2.0
    centre = frame[y : y + h, x + w // 4 : x + w - w // 4]
    gray = cv2.cvtColor(np.ascontiguousarray(centre), cv2.COLOR_BGR2GRAY).astype(np.float32)
    rows = cv2.GaussianBlur(gray.mean(axis=1)[:, None], (1, 3), 0)[:, 0]
    lo, hi = int(0.2 * h), int(0.8 * h)
    band = rows[lo:hi]
    if band.size == 0 or band.max() - band.min() < 8.0:  # no visible lip line: assume the box is centred on it
        return (h - 1) / 2.0
    return float(lo + int(np.argmin(band)))


def warp_mouth(
    frame: np.ndarray, box: Box, shape: MouthShape, gap_share: float = 0.45, lip_y: float | None = None
) -> None:
    """Draw ``shape`` into ``frame`` (BGR uint8, in place) inside the mouth ``box``; CLOSED is a no-op.

    ``lip_y``: row of the lip line relative to the box top (default: the box's centre line).
    """
    if shape.closed:
        return
    x, y, w, h = clip_box(box, frame.shape[1], frame.shape[0])
    if w < 8 or h < 8:
        return
    roi = frame[y : y + h, x : x + w]
    g = _grid(w, h)
    cx = (w - 1) / 2.0
    cy = (h - 1) / 2.0 if lip_y is None else float(np.clip(lip_y - (y - box[1]), 0.2 * h, 0.8 * h))

    gap = float(np.clip(shape.open, 0.0, 1.0)) * gap_share * h
    sx = 1.0 + 0.22 * shape.wide - 0.28 * shape.round
    half_w = MOUTH_HALF_WIDTH * w * sx * (1.0 - 0.25 * shape.round)
    # Lip profile: the gap is widest at the centre and closes at the mouth corners (a lens), so cheeks stay put.
    profile = np.sqrt(np.clip(1.0 - ((g.u - cx) / half_w) ** 2, 0.0, 1.0))
    lift = (UPPER_SHARE * gap) * profile  # (w,)
    drop = ((1.0 - UPPER_SHARE) * gap) * profile
    # Vertical: rows below the gap come from a compressed copy of the lower half (the jaw drops), rows above it
    # from the upper half (the lip rises); the top and bottom rows of the box map to themselves. Both maps are
    # linear in the row, so each is a per-column scale and offset.
    k_low = (h - 1 - cy) / np.maximum(h - 1 - cy - drop, 1.0)
    k_up = cy / np.maximum(cy - lift, 1.0)
    lower_src = g.v * k_low + (cy - (cy + drop) * k_low)
    upper_src = g.v * k_up + (cy - (cy - lift) * k_up)
    below, above = g.v >= cy + drop, g.v <= cy - lift
    map_y = np.where(below, lower_src, np.where(above, upper_src, np.float32(cy))).astype(np.float32)
    # Horizontal: spread widens, rounding narrows, fading to no shift at the box sides (same for every row).
    map_x = np.broadcast_to((g.u + ((cx + (g.u - cx) / sx) - g.u) * g.falloff_x).astype(np.float32), (h, w))
    warped = cv2.remap(roi, np.ascontiguousarray(map_x), map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    # Inner mouth: the lens between the lips, dark and slightly blurred so the lip edges are soft.
    if gap >= 1.0:
        in_gap = (~(below | above)).astype(np.float32)
        k = max(3, (int(gap * 0.2) // 2) * 2 + 1)
        alpha = cv2.GaussianBlur(in_gap, (k, k), 0) * np.float32(INNER_ALPHA)
        warped = cv2.blendLinear(g.inner, warped, alpha, np.ascontiguousarray(1.0 - alpha))
        if gap >= 6.0:
            # Upper teeth: a soft light band under the upper lip, narrower than the lips, once the mouth is open.
            teeth_profile = np.sqrt(np.clip(1.0 - ((g.u - cx) / (0.75 * half_w)) ** 2, 0.0, 1.0))
            teeth = ((g.v > cy - lift) & (g.v < cy - lift + TEETH_SHARE * gap * teeth_profile)).astype(np.float32)
            t_alpha = cv2.GaussianBlur(teeth, (k, k), 0) * np.float32(TEETH_ALPHA)
            warped = cv2.blendLinear(g.teeth, warped, t_alpha, np.ascontiguousarray(1.0 - t_alpha))
    # Feathered seam: the original at the box edge, the warp inside; blendLinear rounds and saturates.
    roi[...] = cv2.blendLinear(warped, roi, g.feather, g.keep)
