"""Avatar packs on disk: manifest round trip, lazy bounded decoding (also backwards), loader errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avatars.base import OverlayData
from avatars.loader import load_avatar
from avatars.pack import (
    FramesSpec,
    ImageSequenceWriter,
    LoopVideoWriter,
    PackAvatar,
    PackError,
    PackManifest,
    write_manifest,
)
from avatars.settings import AvatarSettings

BITS = 11  # frame index encoded as 11 black/white 16x16 blocks: survives H.264 exactly


def coded_frame(i: int, w: int = 96, h: int = 48) -> np.ndarray:
    f = np.full((h, w, 3), 128, np.uint8)
    for b in range(BITS):
        y, x = (b // 6) * 16, (b % 6) * 16
        f[y:y + 16, x:x + 16] = 255 if (i >> b) & 1 else 0
    return f


def read_code(f: np.ndarray) -> int:
    return sum(1 << b for b in range(BITS) if f[(b // 6) * 16 + 8, (b % 6) * 16 + 8, 1] > 128)


def make_pack(root: Path, n: int, *, kind: str = "video", gop: int = 10, w: int = 96, h: int = 48, crops: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if kind == "video":
        writer = LoopVideoWriter(root / "loop.mp4", w, h, 25, gop=gop, crf=18, preset="ultrafast")
        spec = FramesSpec(kind="video", file="loop.mp4", gop=gop)
    else:
        writer = ImageSequenceWriter(root)
        spec = FramesSpec(kind="images", pattern="frames/%06d.png", gop=gop)
    for i in range(n):
        writer.write(coded_frame(i, w, h))
    writer.close()
    faces = [(40 + i % 3, 8, 24, 24) for i in range(n)]
    face_crops = None
    if crops:
        from avatars.pack import FaceCropsSpec

        np.save(root / "faces.npy", np.zeros((n, 96, 96, 3), np.uint8) + np.arange(n, dtype=np.uint8)[:, None, None, None])
        face_crops = FaceCropsSpec(file="faces.npy", size=96, boxes=[(40, 8, 24, 34)] * n)
    write_manifest(root, PackManifest(name=root.name, fps=25, width=w, height=h, loop_length=n, frames=spec,
                                      face_boxes=faces, mouth_boxes=[(45, 22, 14, 8)] * n, face_crops=face_crops))
    return root


@pytest.mark.parametrize("kind", ["video", "images"])
def test_pack_round_trip(tmp_path, kind):
    pack = make_pack(tmp_path / "p", 37, kind=kind, crops=True)
    a = PackAvatar(pack)
    try:
        assert (a.name, a.fps, a.width, a.height, a.loop_length, a.draws_mouth) == ("p", 25, 96, 48, 37, False)
        for i in (0, 1, 9, 10, 11, 36, 20, 3):
            f = a.frame(i)
            assert f.shape == (48, 96, 3) and f.dtype == np.uint8
            assert read_code(f) == i
            assert a.face_box(i) == (40 + i % 3, 8, 24, 24)
            assert a.mouth_box(i) == (45, 22, 14, 8)
            assert a.face_crop(i)[0, 0, 0] == i and a.face_crop_box(i) == (40, 8, 24, 34)
        f = a.frame(5)
        f[:] = 0
        assert read_code(a.frame(5)) == 5  # frames are fresh copies
    finally:
        a.close()


def test_lazy_decoder_is_bounded_and_ping_pong_does_not_redecode(tmp_path):
    n = 2000
    pack = make_pack(tmp_path / "long", n, gop=10)
    a = PackAvatar(pack, max_cached_frames=40)
    try:
        order = list(range(n)) + list(range(n - 2, -1, -1)) + list(range(1, 300))
        for i in order:
            assert read_code(a.frame(i)) == i
            assert a.cached_frames <= 40
        assert a.peak_cached_frames <= 40
        # Backwards costs about the same as forwards: each chunk is decoded once per pass.
        assert a.frames_decoded < 1.3 * len(order)
    finally:
        a.close()


def test_pack_is_scaled_to_the_stream_size(tmp_path):
    pack = make_pack(tmp_path / "p", 12, w=96, h=48)
    a = PackAvatar(pack, size=(192, 96))
    try:
        f = a.frame(3)
        assert f.shape == (96, 192, 3)
        assert read_code(f[::2, ::2]) == 3
        assert a.face_box(0) == (80, 16, 48, 48)
    finally:
        a.close()


def test_load_avatar_builtin_and_pack(tmp_path):
    class Stream:
        width, height, fps = 256, 144, 25

    b = load_avatar(AvatarSettings(name="builtin", loop_seconds=2), Stream)
    assert b.name == "builtin" and b.frame(0).shape == (144, 256, 3)
    make_pack(tmp_path / "packs" / "anna", 12)
    a = load_avatar(AvatarSettings(name="anna", packs_dir=str(tmp_path / "packs")), Stream)
    try:
        assert isinstance(a, PackAvatar) and a.frame(0).shape == (144, 256, 3)
    finally:
        a.close()
    by_path = load_avatar(AvatarSettings(name=str(tmp_path / "packs" / "anna")), Stream)
    by_path.close()


def test_missing_pack_names_the_path_and_the_command(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_avatar(AvatarSettings(name="nobody", packs_dir=str(tmp_path)))
    msg = str(err.value)
    assert str(tmp_path / "nobody") in msg and "avatar prepare" in msg and "avatar.name" in msg


def test_broken_packs_give_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackError, match="avatar.json not found"):
        PackAvatar(tmp_path / "empty")
    pack = make_pack(tmp_path / "p", 12)
    data = json.loads((pack / "avatar.json").read_text())
    data["face_boxes"] = data["face_boxes"][:5]
    (pack / "avatar.json").write_text(json.dumps(data))
    with pytest.raises(PackError, match="face_boxes has 5 entries"):
        PackAvatar(pack)
    (pack / "avatar.json").write_text("{not json")
    with pytest.raises(PackError, match="not valid JSON"):
        PackAvatar(pack)
    pack2 = make_pack(tmp_path / "q", 12)
    (pack2 / "loop.mp4").unlink()
    with pytest.raises(PackError, match="loop.mp4 not found"):
        PackAvatar(pack2)
    short = make_pack(tmp_path / "s", 12)
    data = json.loads((short / "avatar.json").read_text())
    data.update(loop_length=20, face_boxes=data["face_boxes"] * 2, mouth_boxes=data["mouth_boxes"] * 2)
    data["face_boxes"], data["mouth_boxes"] = data["face_boxes"][:20], data["mouth_boxes"][:20]
    (short / "avatar.json").write_text(json.dumps(data))
    with pytest.raises(PackError, match="has 12 frames, avatar.json says 20"):
        PackAvatar(short)
    pack3 = make_pack(tmp_path / "r", 12)
    (pack3 / "loop.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(PackError, match="cannot decode"):
        PackAvatar(pack3)


def test_pack_overlay_draws_panels_only_with_text(tmp_path):
    pack = make_pack(tmp_path / "p", 12, w=320, h=180)
    a = PackAvatar(pack)
    try:
        base = a.frame(0)
        same = base.copy()
        a.draw_overlay(same, OverlayData())
        assert np.array_equal(same, base)
        shown = base.copy()
        a.draw_overlay(shown, OverlayData("店", "杯子", "¥9"))
        changed = np.any(shown != base, axis=2)
        inside = np.zeros_like(changed)
        for x, y, w, h in a._overlay.boxes():
            inside[y:y + h, x:x + w] = True
        assert changed.sum() > 100 and not (changed & ~inside).any()
    finally:
        a.close()


def test_damaged_loop_on_disk_holds_the_last_good_frame(tmp_path, caplog):
    pack = make_pack(tmp_path / "p", 40, kind="images", gop=10)
    a = PackAvatar(pack)
    try:
        assert read_code(a.frame(9)) == 9  # chunk 0 served, chunk 1 read ahead; chunk 2 not touched yet
        (pack / "frames" / "000025.png").unlink()  # damaged after start-up, inside chunk 2
        with caplog.at_level("ERROR", logger="avatars.pack"):
            held = [a.frame(i) for i in (20, 21, 22)]
        assert all(read_code(f) == 9 for f in held) and a.decode_errors == 3
        assert caplog.text.count("cannot be decoded") == 1  # logged once per chunk, not per frame
        assert read_code(a.frame(12)) == 12 and read_code(a.frame(35)) == 35  # other chunks play on
    finally:
        a.close()


def test_streamer_and_renderer_threads_read_the_pack_together(tmp_path):
    """The streamer plays index i while a renderer reads ahead: both get the right frames, memory stays bounded."""
    import threading

    pack = make_pack(tmp_path / "p", 400, gop=10)
    a = PackAvatar(pack, max_cached_frames=40)
    bad, errors = [], []

    def play(indices):
        try:
            for i in indices:
                if read_code(a.frame(i)) != i:
                    bad.append(i)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    streamer = threading.Thread(target=play, args=(list(range(0, 300)),))
    renderer = threading.Thread(target=play, args=(list(range(25, 325)),))
    try:
        streamer.start()
        renderer.start()
        streamer.join(timeout=120)
        renderer.join(timeout=120)
        assert not errors and not bad
        assert a.peak_cached_frames <= 40
    finally:
        a.close()
