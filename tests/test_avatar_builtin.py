"""The built-in presenter: frame format, idle motion, ping-pong turns, mouth confinement, overlays."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from avatars.base import CLOSED, MouthShape, OverlayData
from avatars.builtin import BuiltinAvatar

W, H = 320, 180


@pytest.fixture(scope="module")
def avatar():
    a = BuiltinAvatar(W, H, 25, loop_seconds=4.0)
    yield a
    a.close()


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


def _outside(mask_box, a, b) -> int:
    """Pixels that differ between a and b outside the (x, y, w, h) box."""
    changed = np.any(a != b, axis=2)
    x, y, w, h = mask_box
    changed[y:y + h, x:x + w] = False
    return int(changed.sum())


def test_frames_are_fresh_bgr_arrays_of_the_configured_size(avatar):
    assert (avatar.width, avatar.height, avatar.fps, avatar.loop_length) == (W, H, 25, 100)
    assert avatar.draws_mouth
    f = avatar.frame(0)
    assert f.shape == (H, W, 3) and f.dtype == np.uint8 and f.flags["C_CONTIGUOUS"]
    f[:] = 0  # the caller may scribble on it ...
    g = avatar.frame(0)  # ... without touching the next frame
    assert g.any() and np.array_equal(g, avatar.frame(0))
    assert np.array_equal(avatar.frame(avatar.loop_length + 3), avatar.frame(3))  # indices wrap


def test_idle_motion_exists_and_ping_pong_turns_are_smooth(avatar):
    n = avatar.loop_length
    frames = [avatar.frame(i) for i in range(n)]
    steps = np.array([_diff(frames[i], frames[i + 1]) for i in range(n - 1)])
    assert (steps > 0).mean() > 0.8, "the presenter should move a little on almost every frame"
    typical = float(np.median(steps))
    assert 0 < typical < 2.0, "idle motion is subtle"
    # A ping-pong turn plays ..., n-2, n-1, n-2, ...: the step at the turn must not exceed a typical step.
    assert steps[-1] <= typical and steps[0] <= typical
    # Away from blinks, no step is a jump compared with the loop's own pace.
    blink = np.array([avatar.motion(i)["blink"] > 0 for i in range(n)])
    calm = ~(blink[:-1] | blink[1:])
    assert steps[calm].max() < 4 * typical


def test_blinks_happen_inside_the_face(avatar):
    n = avatar.loop_length
    blinks = [i for i in range(n) if avatar.motion(i)["blink"] == 1.0]
    assert blinks, "the presenter blinks during the loop"
    i = blinks[0]
    assert 0 < i < n - 1
    a, b = avatar.frame(i - 3), avatar.frame(i)  # eyes open vs closed (head moved a hair)
    x, y, w, h = avatar.face_box(i)
    changed = np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 40
    assert changed[y:y + h, x:x + w].sum() > 10  # the eyes closed
    changed[y:y + h, x:x + w] = False
    assert changed.sum() == 0  # strong changes only on the face


@pytest.mark.parametrize("shape", [MouthShape(1, 0, 0), MouthShape(0.5, 1, 0), MouthShape(0.6, 0, 1), MouthShape(0.1, 0, 0)])
def test_mouth_shape_changes_only_the_mouth_box(avatar, shape):
    for i in (0, 37, avatar.loop_length - 1):
        rest = avatar.frame(i)
        speaking = avatar.frame(i, shape)
        box = avatar.mouth_box(i)
        assert _outside(box, rest, speaking) == 0
        x, y, w, h = box
        assert _diff(rest[y:y + h, x:x + w], speaking[y:y + h, x:x + w]) > (1.0 if shape.open >= 0.5 else 0.2)


def test_open_wide_round_are_distinct_and_closed_means_idle(avatar):
    i = 10
    assert np.array_equal(avatar.frame(i, None), avatar.frame(i, CLOSED))
    x, y, w, h = avatar.mouth_box(i)
    crops = [avatar.frame(i, s)[y:y + h, x:x + w] for s in (MouthShape(1, 0, 0), MouthShape(0.4, 1, 0), MouthShape(0.6, 0, 1))]
    assert _diff(crops[0], crops[1]) > 1 and _diff(crops[0], crops[2]) > 1 and _diff(crops[1], crops[2]) > 1
    # More opening -> more pixels turn to the dark mouth interior.
    rest = avatar.frame(i)[y:y + h, x:x + w].astype(int)
    dark = [int(((rest - avatar.frame(i, MouthShape(o, 0, 0))[y:y + h, x:x + w]).max(axis=2) > 40).sum())
            for o in (0.0, 0.3, 0.6, 1.0)]
    assert dark[0] == 0 and dark[1] < dark[2] < dark[3]


def test_boxes_follow_the_head(avatar):
    n = avatar.loop_length
    faces = [avatar.face_box(i) for i in range(n)]
    for i in (0, n // 2, n - 1):
        fx, fy, fw, fh = faces[i]
        mx, my, mw, mh = avatar.mouth_box(i)
        assert fx <= mx and mx + mw <= fx + fw and fy < my and my + mh <= fy + fh + 2
        assert 0.1 * H < fh < 0.5 * H
    assert len(set(faces)) > 1, "the face box moves with the head sway"


def test_overlay_draws_only_inside_its_boxes(avatar):
    base = avatar.frame(5)
    empty = base.copy()
    avatar.draw_overlay(empty, OverlayData())
    assert np.array_equal(empty, base)
    shown = base.copy()
    avatar.draw_overlay(shown, OverlayData("小美的好物小店", "北欧风陶瓷马克杯 350ml 礼盒装 超长的名字也不会越界", "¥59.9"))
    changed = np.any(shown != base, axis=2)
    inside = np.zeros_like(changed)
    boxes = avatar.overlay_boxes()
    for x, y, w, h in boxes:
        inside[y:y + h, x:x + w] = True
        assert changed[y:y + h, x:x + w].sum() > 20, "each text box shows its text"
    assert not (changed & ~inside).any()
    # Changing only the price changes only the price box.
    other = base.copy()
    avatar.draw_overlay(other, OverlayData("小美的好物小店", "北欧风陶瓷马克杯 350ml 礼盒装 超长的名字也不会越界", "¥49.9"))
    px, py, pw, ph = boxes[-1]
    diff = np.any(other != shown, axis=2)
    assert diff[py:py + ph, px:px + pw].any()
    diff[py:py + ph, px:px + pw] = False
    assert not diff.any()


def test_overlay_falls_back_to_a_latin_font_with_a_warning(monkeypatch, caplog):
    from avatars import overlay_text

    monkeypatch.setattr(overlay_text, "CJK_FONTS", ())
    with caplog.at_level(logging.WARNING, logger="avatars.overlay"):
        r = overlay_text.TextRenderer()
    assert not r.cjk and "fonts-wqy-microhei" in caplog.text
    img = r.render("Shop 42", size=14, height=20, max_width=200, color=(0, 0, 0))
    assert img.alpha3.max() > 0
    with pytest.raises(FileNotFoundError, match="avatar.font"):
        overlay_text.TextRenderer("/nonexistent/font.ttf")


def test_a_bad_font_file_is_refused_at_start_up(tmp_path):
    bogus = tmp_path / "font.ttf"
    bogus.write_bytes(b"not a font")
    with pytest.raises(ValueError, match=r"avatar.font: cannot load font .*font.ttf"):
        BuiltinAvatar(160, 90, 25, loop_seconds=2.0, font_path=str(bogus))


def test_overlay_text_is_cached_per_distinct_string(avatar):
    renderer = avatar._overlay.text
    a = renderer.render("商品", size=16, height=24, max_width=100, color=(1, 2, 3))
    b = renderer.render("商品", size=16, height=24, max_width=100, color=(1, 2, 3))
    assert a is b
    for k in range(100):  # a month of changing products must not grow the cache without bound
        renderer.render(f"product {k}", size=16, height=24, max_width=100, color=(1, 2, 3))
    assert len(renderer._cache) <= 64


@pytest.mark.parametrize("size", [(180, 320), (64, 64), (426, 240)])
def test_other_sizes_and_vertical_streams(size):
    w, h = size
    a = BuiltinAvatar(w, h, 25, loop_seconds=2.0)
    f = a.frame(7)
    assert f.shape == (h, w, 3)
    x, y, bw, bh = a.face_box(7)
    assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
    assert _outside(a.mouth_box(7), f, a.frame(7, MouthShape(1, 0.5, 0))) == 0
    shown = f.copy()
    a.draw_overlay(shown, OverlayData("店名", "商品名称", "¥1"))
    inside = np.zeros((h, w), bool)
    for bx, by, bw_, bh_ in a.overlay_boxes():
        inside[max(0, by):by + bh_, max(0, bx):bx + bw_] = True
    changed = np.any(shown != f, axis=2)
    assert changed.any() and not (changed & ~inside).any()
    if h > w:  # vertical: presenter centred, product card below her, nothing overlapping her face
        assert abs((x + bw / 2) - w / 2) < 0.1 * w
        px, py, pw, ph = (int(v) for v in a.layout.panel_box)
        assert py > y + bh and py + ph <= h


def test_mouth_cache_is_bounded_and_threads_share_the_avatar_safely():
    import threading

    a = BuiltinAvatar(160, 90, 25, loop_seconds=2.0)
    rng = np.random.default_rng(3)
    shapes = [MouthShape(*rng.random(3)) for _ in range(300)]
    expected = {k: a.frame(k % a.loop_length, shapes[k]) for k in range(0, 300, 29)}
    assert len(a._mouths) <= 256  # a month of speech cannot grow it without bound
    errors, mismatches = [], []

    def worker(offset: int) -> None:
        try:
            for k in range(offset, 300, 2):
                f = a.frame(k % a.loop_length, shapes[k])
                if k in expected and not np.array_equal(f, expected[k]):
                    mismatches.append(k)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(o,)) for o in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and not mismatches
