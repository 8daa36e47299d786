"""Face crops for Wav2Lip and paste-back with a feathered mask and a colour-matched seam."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from avatars.base import Box

# Wav2Lip redraws the lower half of its 96 px input; its upper half is a blurry copy of the crop, so by default
# only the part below the eyes is pasted back (sharp eyes and brows stay from the original frame).
LOWER_START = 0.40
LOWER_RAMP = 0.15


def padded_box(box: Box, pads: Sequence[int], width: int, height: int) -> Box:
    """``box`` grown by (top, bottom, left, right) pixels and clipped to the frame, as Wav2Lip's ``pads``."""
    x, y, w, h = box
    top, bottom, left, right = pads
    x0, y0 = max(0, x - left), max(0, y - top)
    x1, y1 = min(width, x + w + right), min(height, y + h + bottom)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def smooth_boxes(boxes: Sequence[Box], window: int) -> list[Box]:
    """Centred moving average of boxes over ``window`` neighbours (clamped at the ends) to stop crop jitter."""
    arr = np.asarray(boxes, dtype=np.float64)
    if window <= 1 or len(arr) <= 1:
        return [tuple(int(v) for v in b) for b in arr]  # type: ignore[misc]
    half = window // 2
    out: list[Box] = []
    for i in range(len(arr)):
        lo, hi = max(0, i - half), min(len(arr), i + half + 1)
        x, y, w, h = np.rint(arr[lo:hi].mean(axis=0)).astype(int)
        out.append((int(x), int(y), int(w), int(h)))
    return out


def crop_face(frame: np.ndarray, box: Box, size: int = 96) -> np.ndarray:
    """The face box of ``frame`` resized to size x size (BGR uint8)."""
    x, y, w, h = box
    return cv2.resize(frame[y : y + h, x : x + w], (size, size), interpolation=cv2.INTER_AREA)


@lru_cache(maxsize=64)
def feather_mask(w: int, h: int, feather: float, lower_only: bool = False) -> np.ndarray:
    """(h, w, 1) float32 mask: 1 inside, smoothly 0 at the box edge over ``feather`` of the smaller side.

    ``lower_only``: also 0 above ~40% of the height, rising to 1 by ~55% (only the mouth and jaw are pasted).
    """
    band = max(1.0, feather * min(w, h))
    u = np.minimum(np.arange(w) + 0.5, w - np.arange(w) - 0.5)[None, :]
    v = np.minimum(np.arange(h) + 0.5, h - np.arange(h) - 0.5)[:, None]
    d = np.clip(np.minimum(u, v) / band, 0.0, 1.0)
    mask = d * d * (3.0 - 2.0 * d)
    if lower_only:
        rows = np.clip(((np.arange(h) + 0.5) / h - LOWER_START) / LOWER_RAMP, 0.0, 1.0)[:, None]
        mask = mask * (rows * rows * (3.0 - 2.0 * rows))
    out = mask.astype(np.float32)[..., None]
    out.setflags(write=False)
    return out


@lru_cache(maxsize=64)
def _blend_weights(w: int, h: int, feather: float, lower_only: bool) -> tuple[np.ndarray, np.ndarray]:
    # (mask, 1 - mask) as contiguous 2-D float32, the form cv2.blendLinear takes.
    mask = np.ascontiguousarray(feather_mask(w, h, feather, lower_only)[..., 0])
    keep = np.ascontiguousarray(1.0 - mask)
    for arr in (mask, keep):
        arr.setflags(write=False)
    return mask, keep


@lru_cache(maxsize=16)
def _ring(w: int, h: int, feather: float, lower_only: bool) -> np.ndarray:
    # The seam ring: where the mask blends, the generated face must have the original's colour statistics.
    mask = feather_mask(w, h, feather, lower_only)[..., 0]
    ring = (mask > 0.02) & (mask < 0.98)
    ring.setflags(write=False)
    return ring


def colour_transfer(generated: np.ndarray, original: np.ndarray, ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (gain, offset) that give ``generated`` the original's mean/std inside ``ring``."""
    if not ring.any():
        return np.ones(3, np.float32), np.zeros(3, np.float32)
    g = generated[ring].astype(np.float32)
    o = original[ring].astype(np.float32)
    g_mean, g_std = g.mean(axis=0), g.std(axis=0)
    o_mean, o_std = o.mean(axis=0), o.std(axis=0)
    gain = np.clip(o_std / np.maximum(g_std, 1.0), 0.5, 2.0)  # flat patches: don't blow noise up
    return gain.astype(np.float32), (o_mean - g_mean * gain).astype(np.float32)


def match_colour(generated: np.ndarray, original: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Shift/scale each channel of ``generated`` so its mean/std in ``ring`` equal the original's there."""
    gain, offset = colour_transfer(generated, original, ring)
    return generated.astype(np.float32) * gain + offset


def paste_face(
    frame: np.ndarray,
    box: Box,
    face: np.ndarray,
    feather: float = 0.12,
    opacity: float = 1.0,
    lower_only: bool = False,
    original_crop: np.ndarray | None = None,
) -> None:
    """Blend a generated face (BGR, float 0..255 or uint8) into ``frame``'s ``box`` in place; outside is untouched.

    ``opacity`` scales the whole blend (0 leaves the frame as it is), for fading in and out; ``lower_only``
    pastes only the mouth/jaw part of the box (see :func:`feather_mask`). Colours are matched in the feather
    ring at the face's own resolution, against ``original_crop`` (the same-size crop the model was given) or a
    crop cut here.
    """
    if opacity <= 0.0:
        return
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return
    region = frame[y : y + h, x : x + w]
    face = np.asarray(face, dtype=np.float32)
    size_h, size_w = face.shape[:2]
    if original_crop is None or original_crop.shape[:2] != (size_h, size_w):
        original_crop = cv2.resize(region, (size_w, size_h), interpolation=cv2.INTER_AREA)
    ring = _ring(size_w, size_h, feather, lower_only)
    # Matching at 96 px and then resizing equals matching after resizing (the transfer is affine per channel).
    gain, offset = colour_transfer(face, original_crop, ring)
    matched = cv2.resize(face * gain + offset, (w, h), interpolation=cv2.INTER_LINEAR)
    matched = np.clip(matched, 0, 255, out=matched).astype(np.uint8)
    mask, keep = _blend_weights(w, h, feather, lower_only)
    if opacity < 1.0:
        mask = mask * np.float32(opacity)
        keep = np.ascontiguousarray(1.0 - mask)
    region[...] = cv2.blendLinear(matched, region, mask, keep)
