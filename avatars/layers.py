"""Drawing and compositing primitives for avatars drawn in code.

Static art is drawn once on a supersampled float canvas (anti-aliased polygons, blurred shading)
and reduced to a premultiplied BGRA ``Sprite``; per frame only sprites are warped and blended,
each on its own small region of interest, with OpenCV's SIMD kernels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Color = tuple[int, int, int]  # RGB, as designers write them; converted to BGR when drawn


def rgb(hex_or_tuple: str | Color) -> Color:
    """'#rrggbb' or an RGB tuple -> RGB tuple."""
    if isinstance(hex_or_tuple, str):
        h = hex_or_tuple.lstrip("#")
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    return hex_or_tuple


class Canvas:
    """A premultiplied float RGBA surface drawn at ``ss`` times its output size.

    Coordinates are in output pixels (floats); ``origin`` is where (0, 0) of the caller's local
    coordinate system sits on the output. Polygons are rasterised with 4 bits of sub-pixel
    precision and LINE_AA on the supersampled grid, then reduced with INTER_AREA.
    """

    def __init__(self, width: int, height: int, *, ss: int = 4, origin: tuple[float, float] = (0.0, 0.0), scale: float = 1.0):
        self.width, self.height, self.ss = int(width), int(height), int(ss)
        self.origin = origin
        self.scale = scale  # local units -> output pixels
        self.rgba = np.zeros((self.height * ss, self.width * ss, 4), np.float32)

    # -- geometry -------------------------------------------------------------------------
    def _px(self, pts) -> np.ndarray:
        p = np.asarray(pts, np.float64).reshape(-1, 2)
        out = (p * self.scale + np.asarray(self.origin)) * self.ss
        return np.round(out * 16).astype(np.int32)  # shift=4

    def mask(self, pts, *, blur: float = 0.0) -> np.ndarray:
        """Coverage (0..1 float) of a closed polygon given in local units; ``blur`` is a sigma in local units."""
        sigma = blur * self.scale * self.ss
        h, w = self.rgba.shape[:2]
        if sigma > 6:  # wide soft shapes: rasterise and blur at reduced resolution (same look, ~f^2 faster)
            f = int(sigma // 3)
            small = np.zeros((h // f + 2, w // f + 2), np.uint8)
            px = np.round(self._px(pts).astype(np.float64) / f).astype(np.int32)
            cv2.fillPoly(small, [px], 255, lineType=cv2.LINE_AA, shift=4)
            small = cv2.GaussianBlur(small.astype(np.float32) * (1.0 / 255.0), (0, 0), sigma / f)
            big = cv2.resize(small, (small.shape[1] * f, small.shape[0] * f), interpolation=cv2.INTER_LINEAR)
            return np.ascontiguousarray(big[:h, :w])
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [self._px(pts)], 255, lineType=cv2.LINE_AA, shift=4)
        out = m.astype(np.float32) * (1.0 / 255.0)
        if sigma > 0:
            out = cv2.GaussianBlur(out, (0, 0), sigma)
        return out

    def stroke_mask(self, pts, thickness: float, *, closed: bool = False, blur: float = 0.0) -> np.ndarray:
        """Coverage (0..1 float) of a polyline ``thickness`` local units wide."""
        m = np.zeros(self.rgba.shape[:2], np.uint8)
        t = max(1, int(round(thickness * self.scale * self.ss)))
        cv2.polylines(m, [self._px(pts)], closed, 255, thickness=t, lineType=cv2.LINE_AA, shift=4)
        out = m.astype(np.float32) * (1.0 / 255.0)
        if blur > 0:
            out = cv2.GaussianBlur(out, (0, 0), blur * self.scale * self.ss)
        return out

    # -- painting -------------------------------------------------------------------------
    def paint(self, coverage: np.ndarray, color: Color, alpha: float = 1.0, *, clip: np.ndarray | None = None,
              blend: str = "over") -> None:
        """Composite ``color`` with per-pixel ``coverage`` (0..1) over the canvas.

        ``blend='atop'`` paints only where the canvas is already opaque (shading on a shape).
        """
        a = coverage * alpha if clip is None else coverage * clip * alpha
        rows = np.flatnonzero(a.max(axis=1) > 1e-4)
        if rows.size == 0:
            return
        cols = np.flatnonzero(a[rows[0]:rows[-1] + 1].max(axis=0) > 1e-4)
        ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
        a = a[ys, xs]
        dst = self.rgba[ys, xs]
        if blend == "atop":
            a = a * dst[..., 3]
        r, g, b = (c / 255.0 for c in rgb(color))
        inv = 1.0 - a
        dst[..., 0] = dst[..., 0] * inv + b * a
        dst[..., 1] = dst[..., 1] * inv + g * a
        dst[..., 2] = dst[..., 2] * inv + r * a
        if blend != "atop":
            dst[..., 3] = dst[..., 3] * inv + a

    def fill(self, pts, color: Color, alpha: float = 1.0, *, blur: float = 0.0, clip: np.ndarray | None = None,
             blend: str = "over") -> np.ndarray:
        """Fill a polygon; returns its coverage mask so later shading can be clipped to it."""
        m = self.mask(pts, blur=blur)
        self.paint(m, color, alpha, clip=clip, blend=blend)
        return m

    def stroke(self, pts, color: Color, thickness: float, alpha: float = 1.0, *, closed: bool = False,
               blur: float = 0.0, clip: np.ndarray | None = None, blend: str = "over") -> None:
        """Draw a polyline in ``color``."""
        self.paint(self.stroke_mask(pts, thickness, closed=closed, blur=blur), color, alpha, clip=clip, blend=blend)

    def vertical_gradient(self, top: Color, bottom: Color, *, y0: float = 0.0, y1: float | None = None) -> None:
        """Fill the whole canvas (opaque) with a vertical gradient between output rows y0..y1."""
        h = self.rgba.shape[0]
        y1 = self.height if y1 is None else y1
        ys = (np.arange(h, dtype=np.float32) + 0.5) / self.ss
        t = np.clip((ys - y0) / max(1e-6, y1 - y0), 0, 1)[:, None]
        top_c, bot_c = np.array(rgb(top)[::-1], np.float32) / 255, np.array(rgb(bottom)[::-1], np.float32) / 255
        col = top_c[None, :] * (1 - t) + bot_c[None, :] * t  # (h, 3)
        self.rgba[..., :3] = col[:, None, :]
        self.rgba[..., 3] = 1.0

    # -- output ---------------------------------------------------------------------------
    def to_bgra(self) -> np.ndarray:
        """Reduce to output size: premultiplied BGRA uint8."""
        small = cv2.resize(self.rgba, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def to_sprite(self) -> "Sprite":
        """Reduce to a Sprite whose pivot is the canvas origin."""
        return Sprite(self.to_bgra(), pivot=self.origin)


@dataclass(slots=True)
class Sprite:
    """A premultiplied BGRA image; ``pivot`` is the pixel that maps to the placement point."""

    bgra: np.ndarray
    pivot: tuple[float, float] = (0.0, 0.0)


def blend_premultiplied(dst: np.ndarray, x: int, y: int, src_bgr: np.ndarray, src_alpha3: np.ndarray) -> None:
    """dst[y:, x:] = src + dst * (1 - alpha), clipped to dst; src is premultiplied BGR, alpha 3-channel."""
    h, w = src_bgr.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(dst.shape[1], x + w), min(dst.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    sb = src_bgr[y0 - y:y1 - y, x0 - x:x1 - x]
    sa = src_alpha3[y0 - y:y1 - y, x0 - x:x1 - x]
    roi = dst[y0:y1, x0:x1]
    dst[y0:y1, x0:x1] = cv2.add(cv2.subtract(roi, cv2.multiply(roi, sa, scale=1 / 255)), sb)


def place_sprite(dst: np.ndarray, sprite: Sprite, matrix: np.ndarray, *, clip_bottom: int | None = None) -> tuple[int, int, int, int]:
    """Warp ``sprite`` by the 2x3 affine ``matrix`` (sprite px -> dst px) and blend it into ``dst``.

    Only the destination box covered by the warped sprite is touched. Returns that box (x, y, w, h).
    """
    x0, y0, x1, y1 = warped_bounds(sprite.bgra.shape, matrix, dst.shape, clip_bottom=clip_bottom)
    if x1 <= x0 or y1 <= y0:
        return (x0, y0, 0, 0)
    m = matrix.astype(np.float64).copy()
    m[0, 2] -= x0
    m[1, 2] -= y0
    warped = cv2.warpAffine(sprite.bgra, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    alpha3 = cv2.cvtColor(warped[..., 3], cv2.COLOR_GRAY2BGR)
    blend_premultiplied(dst, x0, y0, cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR), alpha3)
    return (x0, y0, x1 - x0, y1 - y0)


def warped_bounds(src_shape, matrix: np.ndarray, dst_shape, *, clip_bottom: int | None = None, pad: int = 1):
    """Integer destination box (x0, y0, x1, y1) covered by a warped image, clipped to dst."""
    h, w = src_shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
    p = corners @ np.asarray(matrix, np.float64).T
    x0 = max(0, int(np.floor(p[:, 0].min())) - pad)
    y0 = max(0, int(np.floor(p[:, 1].min())) - pad)
    x1 = min(dst_shape[1], int(np.ceil(p[:, 0].max())) + pad)
    y1 = min(dst_shape[0] if clip_bottom is None else min(dst_shape[0], clip_bottom), int(np.ceil(p[:, 1].max())) + pad)
    return x0, y0, x1, y1


def affine(pivot_src: tuple[float, float], pivot_dst: tuple[float, float], angle_deg: float = 0.0,
           sx: float = 1.0, sy: float = 1.0) -> np.ndarray:
    """2x3 matrix: scale and rotate about ``pivot_src`` (sprite px), then put it at ``pivot_dst``."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    lin = np.array([[c * sx, -s * sy], [s * sx, c * sy]])
    t = np.asarray(pivot_dst, np.float64) - lin @ np.asarray(pivot_src, np.float64)
    return np.hstack([lin, t[:, None]])


def transform_points(matrix: np.ndarray, pts) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    return p @ matrix[:, :2].T + matrix[:, 2]


def ellipse_pts(cx: float, cy: float, ax: float, ay: float, *, start: float = 0.0, end: float = 360.0,
                n: int = 96, angle: float = 0.0) -> np.ndarray:
    """Points of an (arc of an) ellipse; angles in degrees, 0 = +x, 90 = +y (down)."""
    t = np.deg2rad(np.linspace(start, end, n))
    x, y = ax * np.cos(t), ay * np.sin(t)
    if angle:
        r = np.deg2rad(angle)
        x, y = x * np.cos(r) - y * np.sin(r), x * np.sin(r) + y * np.cos(r)
    return np.stack([cx + x, cy + y], axis=1)


def rounded_rect_pts(x: float, y: float, w: float, h: float, r: float, n: int = 12) -> np.ndarray:
    """Closed outline of a rounded rectangle."""
    r = min(r, w / 2, h / 2)
    parts = [
        ellipse_pts(x + w - r, y + r, r, r, start=-90, end=0, n=n),
        ellipse_pts(x + w - r, y + h - r, r, r, start=0, end=90, n=n),
        ellipse_pts(x + r, y + h - r, r, r, start=90, end=180, n=n),
        ellipse_pts(x + r, y + r, r, r, start=180, end=270, n=n),
    ]
    return np.concatenate(parts)


def bezier(*ctrl, n: int = 32) -> np.ndarray:
    """Points of a quadratic or cubic Bezier curve through the given control points."""
    p = np.asarray(ctrl, np.float64)
    t = np.linspace(0, 1, n)[:, None]
    if len(p) == 3:
        return (1 - t) ** 2 * p[0] + 2 * (1 - t) * t * p[1] + t**2 * p[2]
    if len(p) == 4:
        return (1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]
    raise ValueError("bezier needs 3 or 4 control points")


def path(*segments) -> np.ndarray:
    """Concatenate point arrays / single points into one polyline."""
    out = []
    for s in segments:
        a = np.asarray(s, np.float64)
        out.append(a.reshape(-1, 2))
    return np.concatenate(out)
