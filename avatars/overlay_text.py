"""Shop name, product name and price drawn over a frame from ``OverlayData``.

Text is rendered once per distinct string with Pillow (CJK font when the system has one), fitted
to its box (smaller size, then an ellipsis) and cached as a premultiplied image, so drawing it on
each frame is one alpha blend over a small region.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatars.base import OverlayData
from avatars.layers import Sprite, blend_premultiplied, rgb
from avatars.presenter_art import ACCENT, StudioLayout

log = logging.getLogger("avatars.overlay")

# Fonts with CJK glyphs first (Debian paths), then Latin-only fallbacks.
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


def find_font(preferred: str | None = None) -> tuple[str | None, bool]:
    """Path of the font to use and whether it covers CJK; warns once when only Latin is available."""
    if preferred:
        if not Path(preferred).is_file():
            raise FileNotFoundError(f"avatar.font: font file not found: {preferred}")
        return preferred, True
    for p in CJK_FONTS:
        if Path(p).is_file():
            return p, True
    for p in LATIN_FONTS:
        if Path(p).is_file():
            log.warning("no CJK font found; Chinese overlay text will not render. Install fonts-wqy-microhei "
                        "(make debs) or set avatar.font", extra={"font": p})
            return p, False
    log.warning("no TrueType font found; overlay text uses Pillow's built-in font. Install fonts-wqy-microhei")
    return None, False


@dataclass(slots=True)
class TextImage:
    """Premultiplied BGR + 3-channel alpha of one rendered string."""

    bgr: np.ndarray
    alpha3: np.ndarray

    @property
    def width(self) -> int:
        return self.bgr.shape[1]


class TextRenderer:
    """Renders strings to cached premultiplied images, fitted to a maximum width."""

    def __init__(self, font_path: str | None = None, *, cache_size: int = 64):
        self.font_path, self.cjk = find_font(font_path)
        if self.font_path:  # a bad font file fails here, at start-up, not at the first overlay on air
            from PIL import ImageFont

            try:
                ImageFont.truetype(self.font_path, 12)
            except OSError as exc:
                raise ValueError(f"avatar.font: cannot load font {self.font_path}: {exc}") from None
        self._fonts: dict[int, object] = {}
        self._cache: OrderedDict[tuple, TextImage] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _font(self, size: int):
        from PIL import ImageFont

        f = self._fonts.get(size)
        if f is None:
            if self.font_path:
                f = ImageFont.truetype(self.font_path, size)
            else:
                f = ImageFont.load_default(size)
            self._fonts[size] = f
        return f

    def render(self, text: str, *, size: int, height: int, max_width: int, color, bold: bool = False,
               max_lines: int = 1) -> TextImage:
        """``text`` vertically centred in ``height`` px, at most ``max_width`` px wide.

        Too long for one line: the font shrinks (to 80%), then wraps onto ``max_lines`` lines when
        they fit the height, then shrinks further (to 62%) and is cut with an ellipsis.
        """
        key = (text, size, height, max_width, tuple(color), bold, max_lines)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            img = self._render(text, size, height, max_width, color, bold, max_lines)
            self._cache[key] = img
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return img

    def _layout(self, text: str, size: int, height: int, max_width: int, bold: bool, max_lines: int):
        """(font, stroke, lines) that fit, preferring one line at a large size."""
        stroke_of = lambda s: max(1, s // 28) if bold else 0  # noqa: E731
        fits = lambda f, s, t: f.getlength(t) + 2 * stroke_of(s) <= max_width  # noqa: E731
        s = size
        while s >= max(8, int(size * 0.8)):
            f = self._font(s)
            if fits(f, s, text):
                return f, stroke_of(s), [text]
            s -= max(1, s // 16)
        if max_lines >= 2:
            s = max(8, int(size * 0.72))
            if 2 * s * 1.2 <= height:
                f = self._font(s)
                first = _longest_prefix(text, lambda t: fits(f, s, t))
                rest = text[len(first):].lstrip()
                if first and fits(f, s, rest):
                    return f, stroke_of(s), [first.rstrip(), rest]
                if first:
                    return f, stroke_of(s), [first.rstrip(), _ellipsize(rest, lambda t: fits(f, s, t))]
        s = max(8, int(size * 0.62))
        f = self._font(s)
        if fits(f, s, text):
            return f, stroke_of(s), [text]
        return f, stroke_of(s), [_ellipsize(text, lambda t: fits(f, s, t))]

    def _render(self, text: str, size: int, height: int, max_width: int, color, bold: bool, max_lines: int) -> TextImage:
        from PIL import Image, ImageDraw

        text = " ".join(text.split())  # one paragraph: newlines/tabs from data become spaces
        font, stroke, lines = self._layout(text, size, height, max_width, bold, max_lines)
        width = max(font.getlength(t) for t in lines) + 2 * stroke
        w = max(1, min(max_width, int(np.ceil(width)) + 2))
        mask = Image.new("L", (w, height), 0)
        draw = ImageDraw.Draw(mask)
        line_h = font.size * 1.2
        top = height / 2 - line_h * (len(lines) - 1) / 2
        for k, line in enumerate(lines):
            draw.text((stroke + 1, top + k * line_h), line, fill=255, font=font, anchor="lm",
                      stroke_width=stroke, stroke_fill=255)
        a = np.asarray(mask, np.uint8)
        r, g, b = rgb(color)
        bgr = np.empty((height, w, 3), np.uint8)
        for ch, v in enumerate((b, g, r)):
            bgr[..., ch] = (a.astype(np.uint16) * v + 127) // 255
        return TextImage(np.ascontiguousarray(bgr), np.ascontiguousarray(np.repeat(a[..., None], 3, axis=2)))


def _longest_prefix(text: str, fits) -> str:
    """Longest prefix that fits; breaks after a space when there is one in the last third (Latin words)."""
    lo, hi = 0, len(text)
    while lo < hi:  # binary search on the character count
        mid = (lo + hi + 1) // 2
        if fits(text[:mid]):
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    if lo < len(text) and " " in cut[int(len(cut) * 0.66):]:
        cut = cut[: cut.rindex(" ") + 1]
    return cut


def _ellipsize(text: str, fits) -> str:
    if fits(text):
        return text
    keep = _longest_prefix(text, lambda t: fits(t + "…"))
    return keep.rstrip() + "…"


class OverlayPainter:
    """Draws ``OverlayData`` into the studio layout's reserved boxes.

    ``panels`` (for avatars without a studio backdrop) is drawn under the text only while there is
    text for it, so an empty overlay leaves the frame untouched.
    """

    def __init__(self, layout: StudioLayout, *, font_path: str | None = None, panels: Sprite | None = None):
        self.layout = layout
        self.text = TextRenderer(font_path)
        s = layout.s
        self._sizes = {"shop": max(9, round(26 * s)), "product": max(9, round(30 * s)), "price": max(10, round(44 * s))}
        self._panels: dict[str, tuple[int, int, np.ndarray, np.ndarray]] = {}
        if panels is not None:
            for key, box in (("shop", layout.badge_box), ("product", layout.panel_box)):
                crop = _crop_panel(panels, box, pad=int(np.ceil(14 * s)))
                if crop[3].any():  # a panel the sprite does not hold is part of the backdrop
                    self._panels[key] = crop

    def boxes(self) -> list[tuple[int, int, int, int]]:
        """Every region (x, y, w, h) draw() may change."""
        out = []
        for key in ("shop", "product"):
            if key in self._panels:
                x, y, bgr, _ = self._panels[key]
                out.append((x, y, bgr.shape[1], bgr.shape[0]))
        for box in (self.layout.shop_text_box, self.layout.product_text_box, self.layout.price_text_box):
            out.append(_int_box(box))
        return out

    def draw(self, frame: np.ndarray, overlay: OverlayData) -> None:
        """Blend the panels (when they have text) and the cached text images into ``frame`` in place."""
        shop, product, price = overlay.shop_name or "", overlay.product_name or "", overlay.price or ""
        if shop.strip() and "shop" in self._panels:
            self._blend_panel(frame, "shop")
        if (product.strip() or price.strip()) and "product" in self._panels:
            self._blend_panel(frame, "product")
        self._draw_text(frame, shop, self.layout.shop_text_box, self._sizes["shop"], (255, 255, 255), False)
        self._draw_text(frame, product, self.layout.product_text_box, self._sizes["product"], rgb("#2b2b35"), False,
                        max_lines=2)
        self._draw_text(frame, price, self.layout.price_text_box, self._sizes["price"], ACCENT, True)

    def _blend_panel(self, frame: np.ndarray, key: str) -> None:
        x, y, bgr, a3 = self._panels[key]
        blend_premultiplied(frame, x, y, bgr, a3)

    def _draw_text(self, frame, text: str, box, size: int, color, bold: bool, max_lines: int = 1) -> None:
        if not text.strip():
            return
        x, y, w, h = _int_box(box)
        if w <= 4 or h <= 4:
            return
        img = self.text.render(text, size=size, height=h, max_width=w, color=color, bold=bold, max_lines=max_lines)
        blend_premultiplied(frame, x, y, img.bgr, img.alpha3)


def _int_box(box) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return int(round(x)), int(round(y)), int(round(w)), int(round(h))


def _crop_panel(sprite: Sprite, box, pad: int):
    x, y, w, h = _int_box(box)
    H, W = sprite.bgra.shape[:2]
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(W, x + w + pad), min(H, y + h + pad)
    crop = sprite.bgra[y0:y1, x0:x1]
    bgr = np.ascontiguousarray(crop[..., :3])
    a3 = np.ascontiguousarray(np.repeat(crop[..., 3:4], 3, axis=2))
    return x0, y0, bgr, a3
