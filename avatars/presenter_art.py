"""The built-in presenter's artwork, drawn in code: studio backdrop, body, head (per blink level), mouth.

All geometry is in design units of a 1280x720 frame and scaled to the output height. The head
and body are drawn in a local frame whose origin is the base of the neck (the head's pivot);
y grows downwards, as on screen. Everything here runs once at start-up (or once per cached
mouth shape), never per frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatars.base import MouthShape
from avatars.layers import (
    Canvas,
    Sprite,
    bezier,
    ellipse_pts,
    path,
    rgb,
    rounded_rect_pts,
)

# Palette (RGB).
SKIN = rgb("#f6d2bd")
SKIN_SHADE = rgb("#e2a98f")
SKIN_DEEP = rgb("#c98870")
BLUSH = rgb("#f3978f")
HAIR = rgb("#3b2724")
HAIR_DARK = rgb("#261816")
HAIR_LIGHT = rgb("#7a5147")
BROW = rgb("#4a302a")
LASH = rgb("#2a1c1c")
IRIS = rgb("#6b4431")
IRIS_DARK = rgb("#3a2418")
EYE_WHITE = rgb("#fbf8f6")
LIP = rgb("#d8746f")
LIP_DARK = rgb("#a44a4c")
MOUTH_IN = rgb("#5a2027")
TONGUE = rgb("#d0646a")
TEETH = rgb("#fbf7f2")
BLAZER = rgb("#2f5d7c")
BLAZER_DARK = rgb("#1f3f56")
BLAZER_LIGHT = rgb("#4d7fa0")
BLOUSE = rgb("#f7f1ea")
BLOUSE_SHADE = rgb("#ddd3c8")
ACCENT = rgb("#ee5a4f")
WALL_TOP = rgb("#f4ede6")
WALL_BOTTOM = rgb("#e4d6ca")
ARCH = rgb("#ead9cc")
ARCH_EDGE = rgb("#d9c3b3")
DESK_TOP = rgb("#fbf8f4")
DESK_FRONT = rgb("#d8c2ae")
DESK_FRONT_DARK = rgb("#b99d86")
PANEL = rgb("#ffffff")
BADGE = rgb("#232a3a")

# Head-local anchor points (design units, origin = neck base).
FACE_CENTER = (0.0, -150.0)
EYE_Y = -140.0
EYE_DX = 33.0
MOUTH_CENTER = (0.0, -88.0)
MOUTH_HALF = (30.0, 22.0)  # half extents of the region any mouth shape may touch
HEAD_BOUNDS = (-112.0, -292.0, 112.0, 8.0)  # x0, y0, x1, y1 of everything the head sprite holds
FACE_RECT = (-80.0, -262.0, 80.0, -50.0)  # forehead/hairline to chin, cheek to cheek
BODY_BOUNDS = (-215.0, -100.0, 215.0, 240.0)


@dataclass(frozen=True, slots=True)
class StudioLayout:
    """Where things sit on a frame of a given size (pixels).

    Landscape: presenter left of centre, product card lower right. Portrait (phone-style vertical
    streams): presenter centred, product card across the desk below her.
    """

    width: int
    height: int

    @property
    def portrait(self) -> bool:
        return self.height > self.width

    @property
    def s(self) -> float:
        """Design units (of a 1280x720 frame) -> pixels."""
        return self.width / 640.0 if self.portrait else self.height / 720.0

    @property
    def desk_y(self) -> int:
        return int(round(0.70 * self.height if self.portrait else 620.0 * self.s))

    @property
    def neck(self) -> tuple[float, float]:
        x = 0.5 * self.width if self.portrait else 0.37 * self.width
        return (x, self.desk_y - 180.0 * self.s)

    # Overlay regions: (x, y, w, h) in pixels. Right-side elements are anchored to the right edge.
    def _right(self, x_from_right: float) -> float:
        return self.width - x_from_right * self.s

    @property
    def badge_box(self) -> tuple[float, float, float, float]:
        s = self.s
        return (28 * s, 24 * s, min(420 * s, (0.85 if self.portrait else 0.45) * self.width), 56 * s)

    @property
    def live_pill(self) -> tuple[float, float, float, float]:
        s = self.s
        x, y, _, h = self.badge_box
        return (x + 10 * s, y + 12 * s, 84 * s, h - 24 * s)

    @property
    def shop_text_box(self) -> tuple[float, float, float, float]:
        s = self.s
        x, y, w, h = self.badge_box
        px, _, pw, _ = self.live_pill
        left = px + pw + 12 * s
        return (left, y, x + w - 14 * s - left, h)

    @property
    def panel_box(self) -> tuple[float, float, float, float]:
        s = self.s
        if self.portrait:
            h = min(168 * s, self.height - self.desk_y - 40 * s)
            return (28 * s, self.desk_y + 30 * s, self.width - 56 * s, h)
        w = min(472 * s, 0.40 * self.width)
        return (self._right(28) - w, 492 * s, w, 168 * s)

    @property
    def product_text_box(self) -> tuple[float, float, float, float]:
        s = self.s
        x, y, w, h = self.panel_box
        k = h / (168 * s)
        return (x + 30 * s, y + 14 * s * k, w - 50 * s, 58 * s * k)

    @property
    def price_text_box(self) -> tuple[float, float, float, float]:
        s = self.s
        x, y, w, h = self.panel_box
        k = h / (168 * s)
        return (x + 30 * s, y + 84 * s * k, w - 50 * s, 70 * s * k)


# ---------------------------------------------------------------------------------------------
# Backdrop
# ---------------------------------------------------------------------------------------------

def draw_backdrop(layout: StudioLayout) -> np.ndarray:
    """The static studio: wall, arch, shelves, desk and the empty overlay panels. BGR uint8."""
    W, H, s = layout.width, layout.height, layout.s
    c = Canvas(W, H, ss=2 if H <= 900 else 1, scale=1.0)  # 1080p+: already fine enough, and half the memory
    c.vertical_gradient(WALL_TOP, WALL_BOTTOM, y0=0, y1=layout.desk_y)
    cx, ny = layout.neck
    # Soft key light on the wall behind the presenter.
    c.fill(ellipse_pts(cx, ny - 140 * s, 420 * s, 330 * s), (255, 252, 248), 0.55, blur=120 * s)
    # Vertical wall panels (wainscot) with soft inner shadows.
    step = 150 * s
    x = (cx % step) - step
    while x < W + step:
        c.stroke([(x, 0), (x, layout.desk_y)], ARCH_EDGE, 2.0 * s, 0.35)
        c.stroke([(x + 3 * s, 0), (x + 3 * s, layout.desk_y)], (255, 255, 255), 1.5 * s, 0.35)
        x += step
    # Arch behind the presenter.
    aw, top = 250 * s, ny - 370 * s
    arch = path(ellipse_pts(cx, top + aw, aw, aw, start=180, end=360, n=120),
                [(cx + aw, layout.desk_y + 2), (cx - aw, layout.desk_y + 2)])
    c.fill(arch, (120, 90, 70), 0.18, blur=14 * s)  # shadow
    c.fill(arch, ARCH)
    inner = path(ellipse_pts(cx, top + aw, aw - 18 * s, aw - 18 * s, start=180, end=360, n=120),
                 [(cx + aw - 18 * s, layout.desk_y + 2), (cx - aw + 18 * s, layout.desk_y + 2)])
    c.fill(inner, rgb("#f1e4d9"))
    c.fill(ellipse_pts(cx, ny - 210 * s, 200 * s, 170 * s), (255, 250, 244), 0.45, blur=60 * s, clip=c.mask(inner))
    # Shelves with products on both sides (landscape; a vertical frame has no room beside the arch).
    if not layout.portrait:
        shelf_y = ny - 190 * s
        _shelf(c, 40 * s, shelf_y, min(230 * s, cx - aw - 70 * s), s, left=True)
        px, _, pw, _ = layout.panel_box
        _shelf(c, px + 40 * s, shelf_y, pw - 80 * s, s, left=False)
    # Desk: light top surface, warm front with a thin accent stripe.
    dy = layout.desk_y
    c.fill([(0, dy), (W, dy), (W, dy + 18 * s), (0, dy + 18 * s)], DESK_TOP)
    c.fill([(0, dy - 6 * s), (W, dy - 6 * s), (W, dy + 2 * s), (0, dy + 2 * s)], (90, 60, 40), 0.10, blur=4 * s)
    front = Canvas(W, H, ss=c.ss)
    front.vertical_gradient(DESK_FRONT, DESK_FRONT_DARK, y0=dy + 18 * s, y1=H)
    m = c.mask([(0, dy + 18 * s), (W, dy + 18 * s), (W, H + 2), (0, H + 2)])[..., None]
    c.rgba[..., :3] = c.rgba[..., :3] * (1 - m) + front.rgba[..., :3] * m
    del front
    c.fill([(0, dy + 18 * s), (W, dy + 18 * s), (W, dy + 22 * s), (0, dy + 22 * s)], ACCENT, 0.9)
    c.fill([(0, dy + 22 * s), (W, dy + 22 * s), (W, dy + 34 * s), (0, dy + 34 * s)], (60, 40, 30), 0.15, blur=5 * s)
    # Vignette.
    hh, ww = c.rgba.shape[:2]
    yy = ((np.arange(hh, dtype=np.float32) + 0.5) / hh - 0.45) / 0.8
    xx = ((np.arange(ww, dtype=np.float32) + 0.5) / ww - 0.5) / 0.75
    r = np.sqrt(xx[None, :] ** 2 + yy[:, None] ** 2)
    c.paint(np.clip((r - 0.55) * 0.9, 0, 0.28), (40, 30, 30))
    # The badge is part of the set (its LIVE pill is always on); the product card is drawn by the
    # overlay only while there is a product to show.
    _badge(c, layout)
    out = c.to_bgra()[..., :3]
    return np.ascontiguousarray(out)


def _shelf(c: Canvas, x: float, y: float, w: float, s: float, *, left: bool) -> None:
    if w < 60 * s:
        return
    c.fill([(x, y + 10 * s), (x + w, y + 10 * s), (x + w, y + 26 * s), (x, y + 26 * s)], (90, 60, 40), 0.18, blur=6 * s)
    c.fill(rounded_rect_pts(x, y, w, 12 * s, 3 * s), rgb("#fdfaf6"))
    c.fill([(x, y + 10 * s), (x + w, y + 10 * s), (x + w, y + 12 * s), (x, y + 12 * s)], ARCH_EDGE, 0.8)
    items = [("#f2b8a2", 46, 62), ("#9cc5c0", 34, 84), ("#f7dd9b", 52, 48)] if left else \
        [("#b9c7e6", 40, 70), ("#f2b8a2", 56, 52), ("#cfe0b5", 30, 88)]
    cursor = x + 14 * s
    for color, iw, ih in items:
        iw, ih = iw * s, ih * s
        if cursor + iw > x + w - 10 * s:
            break
        c.fill(rounded_rect_pts(cursor + 4 * s, y - ih + 4 * s, iw, ih, 5 * s), (90, 60, 40), 0.15, blur=4 * s)
        c.fill(rounded_rect_pts(cursor, y - ih, iw, ih, 5 * s), rgb(color))
        c.fill(rounded_rect_pts(cursor + 6 * s, y - ih * 0.62, iw - 12 * s, ih * 0.22, 3 * s), (255, 255, 255), 0.55)
        cursor += iw + 14 * s
    # A small plant at the outer end.
    px = x + w - 28 * s if left else x + w - 30 * s
    if px - 20 * s > cursor - 10 * s:
        c.fill(rounded_rect_pts(px - 16 * s, y - 34 * s, 32 * s, 34 * s, 6 * s), rgb("#e9e2da"))
        for ang, ln in ((-115, 58), (-80, 70), (-50, 56), (-140, 46), (-20, 44)):
            a = np.deg2rad(ang)
            tip = (px + np.cos(a) * ln * s, y - 30 * s + np.sin(a) * ln * s)
            mid = (px + np.cos(a) * ln * 0.5 * s, y - 30 * s + np.sin(a) * ln * 0.5 * s)
            leaf = ellipse_pts(mid[0], mid[1], ln * 0.5 * s, 9 * s, angle=ang)
            c.fill(leaf, rgb("#6f9f78"))
            c.stroke([(px, y - 30 * s), tip], rgb("#4f7f5a"), 1.2 * s, 0.6)


def _badge(c: Canvas, layout: StudioLayout) -> None:
    s = layout.s
    x, y, w, h = layout.badge_box
    c.fill(rounded_rect_pts(x + 2 * s, y + 5 * s, w, h, h / 2), (30, 20, 20), 0.25, blur=6 * s)
    c.fill(rounded_rect_pts(x, y, w, h, h / 2), BADGE, 0.92)
    px, py, pw, ph = layout.live_pill
    c.fill(rounded_rect_pts(px, py, pw, ph, ph / 2), ACCENT)
    c.fill(ellipse_pts(px + ph / 2 + 2 * s, py + ph / 2, 5 * s, 5 * s), (255, 255, 255))
    _draw_word_live(c, px + ph + 2 * s, py + ph / 2, ph * 0.55, s)


def _draw_word_live(c: Canvas, x: float, cy: float, size: float, s: float) -> None:
    """'LIVE' in strokes (the backdrop needs no font for this)."""
    h, w, t = size, size * 0.55, max(1.0, 2.0 * s)
    top, bot = cy - h / 2, cy + h / 2
    white = (255, 255, 255)
    c.stroke([(x, top), (x, bot), (x + w * 0.8, bot)], white, t)
    x += w * 0.8 + 3 * s
    c.stroke([(x, top), (x, bot)], white, t)
    x += 4 * s
    c.stroke([(x, top), (x + w / 2, bot), (x + w, top)], white, t)
    x += w + 4 * s
    c.stroke([(x + w * 0.8, top), (x, top), (x, bot), (x + w * 0.8, bot)], white, t)
    c.stroke([(x, cy), (x + w * 0.65, cy)], white, t)


def _product_panel(c: Canvas, layout: StudioLayout) -> None:
    s = layout.s
    x, y, w, h = layout.panel_box
    r = 14 * s
    c.fill(rounded_rect_pts(x + 3 * s, y + 8 * s, w, h, r), (60, 40, 30), 0.22, blur=10 * s)
    c.fill(rounded_rect_pts(x, y, w, h, r), PANEL, 0.96)
    bar = c.mask(rounded_rect_pts(x, y, w, h, r))
    c.fill([(x - 1, y - 1), (x + 12 * s, y - 1), (x + 12 * s, y + h + 1), (x - 1, y + h + 1)], ACCENT, clip=bar)
    ly = y + 78 * s
    c.stroke([(x + 30 * s, ly), (x + w - 24 * s, ly)], rgb("#ece4dc"), 1.5 * s)


def draw_overlay_panels(layout: StudioLayout, *, badge: bool = True) -> Sprite:
    """The badge (optional) and the product card alone, transparent elsewhere; the overlay blends them."""
    c = Canvas(layout.width, layout.height, ss=2)
    if badge:
        _badge(c, layout)
    _product_panel(c, layout)
    return c.to_sprite()


# ---------------------------------------------------------------------------------------------
# Presenter
# ---------------------------------------------------------------------------------------------

def _local_canvas(bounds, s: float, ss: int) -> Canvas:
    x0, y0, x1, y1 = bounds
    pad = 2
    w = int(np.ceil((x1 - x0) * s)) + 2 * pad
    h = int(np.ceil((y1 - y0) * s)) + 2 * pad
    return Canvas(w, h, ss=ss, origin=(-x0 * s + pad, -y0 * s + pad), scale=s)


def draw_body(s: float) -> Sprite:
    """Neck, shoulders, blazer over a blouse, lapel microphone. Pivot = neck base."""
    c = _local_canvas(BODY_BOUNDS, s, ss=3)
    # Neck (under the head; its top hides behind the chin).
    neck = path([(-25, -100), (25, -100)], bezier((25, -100), (26, -30), (34, -6), (52, 4), n=16),
                [(0, 40)], bezier((-52, 4), (-34, -6), (-26, -30), (-25, -100), n=16))
    neck_m = c.fill(neck, SKIN)
    c.fill(ellipse_pts(0, -60, 46, 26), SKIN_DEEP, 0.55, blur=9, clip=neck_m)
    c.fill(ellipse_pts(-26, -40, 10, 50), SKIN_SHADE, 0.35, blur=6, clip=neck_m)
    # Torso: shoulders falling into sleeves, below the desk line.
    torso = path(
        bezier((-30, -4), (-70, 8), (-120, 10), (-160, 30), n=20),
        bezier((-160, 30), (-192, 44), (-200, 90), (-204, 240), n=20),
        [(204, 240)],
        bezier((204, 240), (200, 90), (192, 44), (160, 30), n=20),
        bezier((160, 30), (120, 10), (70, 8), (30, -4), n=20),
        [(0, 150)],  # the V is cut out: the blouse shows through it
    )
    torso_m = c.fill(torso, BLAZER)
    c.fill(ellipse_pts(0, 40, 120, 60), BLAZER_LIGHT, 0.35, blur=30, clip=torso_m)
    for side in (-1, 1):
        c.fill(ellipse_pts(side * 200, 150, 50, 140), BLAZER_DARK, 0.55, blur=26, clip=torso_m)
        # Sleeve seam.
        c.stroke(bezier((side * 150, 60), (side * 146, 120), (side * 150, 180), (side * 156, 240)), BLAZER_DARK, 2.2, 0.6)
    # Blouse in the V, with a rounded neckline showing a little skin.
    v = path(bezier((-40, -2), (-30, 60), (-16, 110), (0, 160), n=20), bezier((0, 160), (16, 110), (30, 60), (40, -2), n=20))
    vm = c.fill(v, BLOUSE)
    c.fill(ellipse_pts(0, 20, 50, 40), BLOUSE_SHADE, 0.5, blur=10, clip=vm)
    skin_v = path(bezier((-30, -3), (-24, 24), (-10, 40), (0, 42), n=16), bezier((0, 42), (10, 40), (24, 24), (30, -3), n=16))
    c.fill(skin_v, SKIN, clip=vm)
    c.fill(ellipse_pts(0, -6, 40, 18), SKIN_SHADE, 0.2, blur=10, clip=c.mask(skin_v))
    # Necklace: a thin chain with a small pendant.
    chain = bezier((-27, 0), (-18, 32), (18, 32), (27, 0), n=30)
    c.stroke(chain, rgb("#c9a86a"), 1.3, 0.9)
    c.fill(ellipse_pts(0, 25, 3.6, 4.4), rgb("#e8cf8f"))
    # Lapels.
    for side in (-1, 1):
        lapel = [(side * 38, -4), (side * 66, 6), (side * 62, 70), (side * 76, 84), (side * 22, 186), (side * 4, 186),
                 (side * 28, 60)]
        lapel = path(*[np.array(p, float) for p in lapel])
        lm = c.fill(lapel, BLAZER)
        c.fill(ellipse_pts(side * 60, 60, 30, 70), BLAZER_LIGHT, 0.35, blur=12, clip=lm)
        c.stroke(path(lapel, lapel[:1]), BLAZER_DARK, 1.8, 0.85)
    # Buttons below the V.
    for by in (196, 228):
        c.fill(ellipse_pts(0, by, 4.5, 4.5), BLAZER_DARK)
        c.fill(ellipse_pts(-1, by - 1, 2.0, 2.0), BLAZER_LIGHT, 0.8)
    # Lapel microphone.
    c.fill(rounded_rect_pts(-62, 74, 8, 14, 3), rgb("#1a1a1e"))
    c.fill(ellipse_pts(-58, 70, 6.5, 6.5), rgb("#26262b"))
    c.fill(ellipse_pts(-60, 68, 2.2, 2.2), (120, 120, 130), 0.8)
    c.stroke(bezier((-58, 88), (-62, 130), (-70, 170), (-90, 240)), rgb("#1a1a1e"), 1.3, 0.8)
    # Rim light along the top of the shoulders.
    for side in (-1, 1):
        rim = bezier((side * 40, 0), (side * 80, 8), (side * 130, 12), (side * 168, 34), n=24)
        c.stroke(rim, (255, 255, 255), 3.0, 0.18, blur=1.5, clip=torso_m)
    return c.to_sprite()


def _face_outline() -> np.ndarray:
    cx, cy = FACE_CENTER
    t = np.deg2rad(np.linspace(0, 360, 180, endpoint=False))
    st, ct = np.sin(t), np.cos(t)
    low = st > 0
    x = 74.0 * ct
    y = np.where(low, 96.0, 90.0) * st
    x = np.where(low, x * (1 - 0.30 * st**3), x)
    return np.stack([cx + x, cy + y], axis=1)


def _eye_curves(side: int, blink: float):
    """Upper (possibly lowered by ``blink``) and lower lid curves of one eye, inner to outer."""
    ex, ey = side * EYE_DX, EYE_Y
    xs = np.linspace(-16, 16, 40)
    u = (xs + 16) / 32  # 0 at inner (towards the nose) corner for both eyes when mirrored
    upper = ey - 10.5 * np.sin(np.pi * u) ** 0.8 + 1.5 * u - 1.0
    lower = ey + 6.5 * np.sin(np.pi * u) ** 1.2 + 0.5 * u
    upper = (1 - blink) * upper + blink * (lower + 0.6)
    x = ex + side * xs
    return np.stack([x, upper], axis=1), np.stack([x, lower], axis=1)


def draw_head(s: float, blink: float) -> Sprite:
    """Hair, face, eyes (lids at ``blink`` 0..1), brows, nose, blush; no mouth. Pivot = neck base."""
    c = _local_canvas(HEAD_BOUNDS, s, ss=3)
    # Back hair: fills the space between the jaw and the bob's strands.
    back = path(ellipse_pts(0, -160, 99, 120, start=180, end=360, n=100),
                bezier((99, -160), (104, -120), (102, -90), (90, -66), n=14),
                bezier((90, -66), (60, -60), (-60, -60), (-90, -66), n=14),
                bezier((-90, -66), (-102, -90), (-104, -120), (-99, -160), n=14))
    c.fill(back, HAIR_DARK)
    # Face.
    face = _face_outline()
    face_m = c.fill(face, SKIN)
    for side in (-1, 1):
        c.fill(ellipse_pts(side * 84, -130, 26, 90), SKIN_SHADE, 0.55, blur=14, clip=face_m)
        c.fill(ellipse_pts(side * 45, -110, 16, 9.5), BLUSH, 0.42, blur=6, clip=face_m)
    c.fill(ellipse_pts(0, -52, 60, 16), SKIN_SHADE, 0.45, blur=8, clip=face_m)  # chin underside
    c.fill(ellipse_pts(-10, -190, 40, 30), (255, 240, 230), 0.35, blur=16, clip=face_m)  # forehead light
    # Nose: a soft side shadow, a highlight and a small base line.
    c.fill(path(bezier((3, -136), (8, -126), (10, -116), (7, -108), n=12), [(2, -108), (2, -136)]), SKIN_SHADE, 0.6, blur=2.5)
    c.fill(ellipse_pts(-3, -122, 2.5, 8), (255, 246, 238), 0.55, blur=1.8)
    c.stroke(bezier((-7, -106), (-3, -102.5), (3, -102.5), (7, -106), n=16), SKIN_DEEP, 1.8, 0.85)
    # Eyes.
    for side in (-1, 1):
        _draw_eye(c, side, blink, face_m)
    # Brows: tapered strokes.
    for side in (-1, 1):
        top = bezier((side * 17, -168), (side * 28, -177), (side * 44, -178), (side * 55, -170), n=24)
        bot = bezier((side * 55, -168.5), (side * 44, -174), (side * 28, -172), (side * 18, -162.5), n=24)
        c.fill(path(top, bot), BROW, 0.92)
    # Front hair: a side-swept fringe and chin-length strands over the ears.
    front = path(
        # Sides join the crown's ellipse tangentially (no kink at the temples).
        bezier((-92, -68), (-104, -100), (-101.5, -166), (-97.8, -185.4), n=20),
        ellipse_pts(0, -160, 100, 122, start=192, end=348, n=100),
        bezier((97.8, -185.4), (101.5, -166), (104, -100), (92, -68), n=20),
        bezier((92, -68), (86, -70), (80, -76), (76, -84), n=8),
        bezier((76, -84), (78, -120), (76, -160), (62, -196), n=16),
        bezier((62, -196), (40, -230), (0, -226), (-30, -204), n=20),
        bezier((-30, -204), (-56, -186), (-70, -166), (-74, -140), n=16),
        bezier((-74, -140), (-78, -110), (-78, -94), (-80, -82), n=12),
        bezier((-80, -82), (-84, -72), (-88, -68), (-92, -68), n=8),
    )
    hair_m = c.fill(front, HAIR)
    c.fill(ellipse_pts(-20, -250, 70, 26, angle=-8), HAIR_LIGHT, 0.7, blur=10, clip=hair_m)  # sheen
    c.fill(ellipse_pts(40, -230, 40, 14, angle=20), HAIR_LIGHT, 0.45, blur=8, clip=hair_m)
    for side in (-1, 1):
        c.fill(ellipse_pts(side * 92, -110, 12, 50), HAIR_DARK, 0.6, blur=8, clip=hair_m)
    for pts in (bezier((-40, -270), (-10, -240), (20, -220), (50, -200)),
                bezier((-10, -278), (20, -250), (50, -228), (70, -180)),
                bezier((-60, -255), (-70, -210), (-84, -150), (-88, -90)),
                bezier((70, -250), (86, -200), (92, -140), (90, -90))):
        c.stroke(pts, HAIR_DARK, 1.1, 0.35, blur=0.4, clip=hair_m)
    # Soft shadow the fringe casts on the forehead.
    fringe_shadow = path(bezier((62, -190), (40, -222), (0, -218), (-30, -196), n=20),
                         bezier((-30, -196), (-56, -178), (-70, -158), (-72, -130), n=16), [(-60, -130), (50, -170)])
    c.fill(fringe_shadow, SKIN_DEEP, 0.35, blur=5, clip=face_m * (1 - hair_m))
    return c.to_sprite()


def _draw_eye(c: Canvas, side: int, blink: float, face_m: np.ndarray) -> None:
    upper, lower = _eye_curves(side, blink)
    ex, ey = side * EYE_DX, EYE_Y
    # Lid crease above the open eye; it fades as the lid comes down.
    if blink < 0.6:
        rest, _ = _eye_curves(side, 0.0)
        crease = rest + np.array([0.0, -4.5])
        c.stroke(crease[8:-4], SKIN_DEEP, 1.2, 0.4 * (1 - blink / 0.6), blur=0.6)
    if blink < 0.97:
        white = path(upper, lower[::-1])
        wm = c.fill(white, EYE_WHITE)
        iris_c = (ex + side * 0.5, ey - 1.5)
        c.fill(ellipse_pts(*iris_c, 9.2, 9.6), IRIS, clip=wm)
        c.fill(ellipse_pts(iris_c[0], iris_c[1] + 3, 7, 5), rgb("#a8714f"), 0.6, blur=1.5, clip=wm)
        c.stroke(ellipse_pts(*iris_c, 9.2, 9.6), IRIS_DARK, 1.2, 0.9, closed=True, clip=wm)
        c.fill(ellipse_pts(*iris_c, 4.3, 4.6), rgb("#1c1212"), clip=wm)
        c.fill(ellipse_pts(iris_c[0] - 3.2, iris_c[1] - 3.6, 2.5, 2.5), (255, 255, 255), 0.95, clip=wm)
        c.fill(ellipse_pts(iris_c[0] + 3.5, iris_c[1] + 3.2, 1.2, 1.2), (255, 255, 255), 0.8, clip=wm)
        # Shadow of the upper lid on the eyeball.
        shade = path(upper, upper[::-1] + np.array([0, 3.5]))
        c.fill(shade, rgb("#8a6a66"), 0.35, blur=1.2, clip=wm)
        c.stroke(lower[4:-1], SKIN_DEEP, 1.0, 0.55)
    # Lash line: thicker towards the outer corner, where a short tapered wing extends it.
    c.stroke(upper, LASH, 2.2)
    c.stroke(upper[len(upper) // 2:], LASH, 3.0)
    outer = upper[-1]
    wing = path(upper[-6:], [(outer[0] + side * 4.5, outer[1] - 1.8)])
    c.fill(path(wing, upper[-6:][::-1] + np.array([0, 1.2])), LASH)


def mouth_patch_size(s: float) -> tuple[int, int]:
    """(w, h) in pixels of the patch any mouth is drawn into."""
    return int(np.ceil(2 * MOUTH_HALF[0] * s)) + 4, int(np.ceil(2 * MOUTH_HALF[1] * s)) + 4


def draw_mouth(s: float, shape: MouthShape) -> np.ndarray:
    """Premultiplied BGRA patch of the mouth centred in ``mouth_patch_size`` (transparent around it)."""
    w, h = mouth_patch_size(s)
    c = Canvas(w, h, ss=3, origin=(w / 2, h / 2 - 2 * s), scale=s)
    o = float(np.clip(shape.open, 0, 1))
    wd = float(np.clip(shape.wide, 0, 1))
    rd = float(np.clip(shape.round, 0, 1))
    hw = 16.5 * (1 + 0.30 * wd - 0.32 * rd)
    gap = 20.0 * o * (1 - 0.25 * wd) + 5.0 * rd * o
    xs = np.linspace(-1, 1, 48)
    smile = 1.8 - 3.8 * xs**2 * (1 - 0.6 * rd)  # centre lower than the corners: a calm smile
    p = 0.55 + 0.4 * (1 - rd)  # rounder -> more elliptical opening
    g = (1 - xs**2) ** p
    upper = smile - gap * 0.30 * g
    lower = smile + gap * 0.70 * g
    x = xs * hw
    lip_u = 3.4 * (0.55 + 0.45 * min(1.0, o * 3 + rd)) * (1 - xs**2) ** 0.6
    lip_l = 4.6 * (0.55 + 0.45 * min(1.0, o * 3 + rd)) * (1 - xs**2) ** 0.6
    outer = path(np.stack([x, upper - lip_u], 1), np.stack([x, lower + lip_l], 1)[::-1])
    # Lips: soft at rest (a hint of colour), fuller when speaking.
    c.fill(outer, LIP, 0.45 + 0.4 * min(1.0, o * 2 + rd), blur=0.5)
    c.fill(ellipse_pts(0, lower.max() + lip_l.max() * 0.45, hw * 0.35, 1.3), (255, 235, 230), 0.35 * min(1, 0.4 + o), blur=0.8)
    if gap > 0.05:
        inner = path(np.stack([x, upper], 1), np.stack([x, lower], 1)[::-1])
        im = c.fill(inner, MOUTH_IN)
        teeth_h = min(5.5, gap * 0.35)
        c.fill(path(np.stack([x * 0.82, upper - 1], 1), np.stack([x * 0.82, upper + teeth_h * g], 1)[::-1]), TEETH, clip=im)
        c.fill(ellipse_pts(0, lower.max() + gap * 0.05, hw * 0.55, max(0.5, gap * 0.35)), TONGUE, 0.9, blur=0.6, clip=im)
    # The line between the lips (the whole mouth when closed), with small corner tucks.
    c.stroke(np.stack([x, smile + (lower - smile) * 0.0], 1), LIP_DARK, 1.9 * (1 - 0.4 * min(1, o * 4)), 0.95)
    for sgn in (-1, 1):
        cx = sgn * hw
        cy = smile[-1] if sgn > 0 else smile[0]
        c.stroke([(cx - sgn * 1.5, cy + 0.3), (cx + sgn * 1.8, cy - 1.8)], LIP_DARK, 1.3, 0.6 * (1 - rd))
    return c.to_bgra()
