"""`avatar prepare`: clips and photos rendered here become packs; bad input gives one clear error."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from avatars.base import MouthShape
from avatars.builtin import BuiltinAvatar
from avatars.pack import LoopVideoWriter, PackAvatar, read_manifest
from avatars.prepare import PrepareError, PrepareOptions, choose_loop, prepare_pack

ROOT = Path(__file__).resolve().parents[1]
HAAR = hasattr(cv2, "CascadeClassifier")
needs_haar = pytest.mark.skipif(not HAAR, reason=f"OpenCV {cv2.__version__} ships no Haar cascades (needs opencv-python-headless<5)")
W, H = 320, 240


@pytest.fixture(scope="module")
def presenter():
    return BuiltinAvatar(W, H, 25, loop_seconds=4.0)


def write_clip(path: Path, frames) -> Path:
    w = None
    for f in frames:
        if w is None:
            w = LoopVideoWriter(path, f.shape[1], f.shape[0], 25, gop=25, crf=18, preset="ultrafast")
        w.write(f)
    w.close()
    return path


@pytest.fixture(scope="module")
def clip(presenter, tmp_path_factory) -> Path:
    """3 s of the built-in presenter talking (mouth moving), as an H.264 file."""
    path = tmp_path_factory.mktemp("clip") / "talk.mp4"
    frames = (presenter.frame(i, MouthShape(0.5 + 0.5 * np.sin(i * 0.7), 0.3, 0)) for i in range(75))
    return write_clip(path, frames)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / (aw * ah + bw * bh - ix * iy)


def opts(src: Path, out: Path, **kw) -> PrepareOptions:
    return PrepareOptions(source=src, name=out.name, out_dir=out, progress=False, **kw)


@needs_haar
def test_prepare_from_video_finds_the_face_and_builds_a_loop(clip, presenter, tmp_path):
    pack = prepare_pack(opts(clip, tmp_path / "anna", min_seconds=1.0))
    m = read_manifest(pack)
    assert m.source["detector"] == "haar" and m.fps == 25 and (m.width, m.height) == (W, H)
    assert 25 <= m.loop_length <= 75
    start = m.source["start_frame"]
    a = PackAvatar(pack)
    try:
        for k in (0, m.loop_length // 2, m.loop_length - 1):
            i = start + k
            # The detected, smoothed box sits on the presenter's face ...
            assert iou(a.face_box(k), presenter.face_box(i)) > 0.4
            # ... the mouth region covers her mouth ...
            mx, my, mw, mh = presenter.mouth_box(i)
            cx, cy = mx + mw / 2, my + mh / 2
            bx, by, bw, bh = a.mouth_box(k)
            assert bx <= cx <= bx + bw and by <= cy <= by + bh
            # ... and the stored frame is that clip frame.
            src = presenter.frame(i, MouthShape(0.5 + 0.5 * np.sin(i * 0.7), 0.3, 0))
            assert np.mean(np.abs(a.frame(k).astype(int) - src)) < 3
            crop = a.face_crop(k)
            assert crop.shape == (96, 96, 3) and crop.std() > 10
    finally:
        a.close()
    assert (pack / "preview.jpg").is_file() and (pack / "loop.mp4").is_file()


def test_prepare_with_a_box_skips_detection_and_can_store_images(clip, presenter, tmp_path):
    box = presenter.face_box(0)
    pack = prepare_pack(opts(clip, tmp_path / "boxed", box=box, min_seconds=1.0, frames_format="images"))
    m = read_manifest(pack)
    assert m.source["detector"] == "box" and m.frames.kind == "images"
    a = PackAvatar(pack)
    try:
        assert a.face_box(0) == box and a.face_box(a.loop_length - 1) == box
        assert a.frame(a.loop_length - 1).shape == (H, W, 3)
    finally:
        a.close()


@needs_haar
def test_prepare_from_a_photo_makes_a_gentle_loop(presenter, tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), presenter.frame(0))
    pack = prepare_pack(opts(photo, tmp_path / "still", image_loop_seconds=2.0))
    a = PackAvatar(pack)
    try:
        n = a.loop_length
        assert n == 50 and read_manifest(pack).source["still"]
        steps = [np.mean(np.abs(a.frame(i).astype(int) - a.frame(i + 1))) for i in range(n - 1)]
        assert max(steps) > 0  # it breathes
        assert steps[0] <= np.median(steps) + 0.05 and steps[-1] <= np.median(steps) + 0.05  # calm turns
        assert iou(a.face_box(0), presenter.face_box(0)) > 0.4
    finally:
        a.close()


def test_photo_with_box_works_without_detection(presenter, tmp_path):
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), presenter.frame(0))
    pack = prepare_pack(opts(photo, tmp_path / "still", box=(100, 40, 60, 60), image_loop_seconds=2.0))
    assert read_manifest(pack).loop_length == 50


def test_choose_loop_turns_at_calm_moments():
    rng = np.random.default_rng(1)
    motion = 1.0 + 0.2 * rng.random(199)
    motion[[30, 31]] = 0.01  # the presenter holds still around frames 31 and 160
    motion[[159, 160]] = 0.01
    s, e = choose_loop(motion, 200, min_frames=50)
    assert abs(s - 31) <= 1 and abs(e - 160) <= 1


def test_unreadable_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 50)
    with pytest.raises(PrepareError, match="cannot read .*broken.mp4"):
        prepare_pack(opts(bad, tmp_path / "x"))
    with pytest.raises(PrepareError, match="no such file"):
        prepare_pack(opts(tmp_path / "missing.mp4", tmp_path / "x"))
    img = tmp_path / "broken.png"
    img.write_bytes(b"nope")
    with pytest.raises(PrepareError, match="cannot read .*broken.png"):
        prepare_pack(opts(img, tmp_path / "x"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_clip_too_short(presenter, tmp_path):
    short = write_clip(tmp_path / "short.mp4", (presenter.frame(i) for i in range(12)))
    with pytest.raises(PrepareError, match=r"clip too short: .* 0\.5 s .*need at least 2 s"):
        prepare_pack(opts(short, tmp_path / "x", box=(100, 40, 60, 60)))


@needs_haar
def test_no_face(tmp_path):
    grad = np.tile(np.linspace(40, 200, W, dtype=np.uint8)[None, :, None], (H, 1, 3))
    clip = write_clip(tmp_path / "wall.mp4", (np.roll(grad, i, axis=1) for i in range(60)))
    with pytest.raises(PrepareError, match="no face found .*--box"):
        prepare_pack(opts(clip, tmp_path / "x", min_seconds=1.0))


@needs_haar
def test_several_faces(presenter, tmp_path):
    def two(i):
        f = presenter.frame(i)
        x, y, w, h = presenter.face_box(i)
        x0, y0 = max(0, x - w // 2), max(0, y - h // 3)
        head = f[y0:y0 + 2 * h, x0:x0 + 2 * w]
        out = f.copy()
        out[y0:y0 + head.shape[0], W - head.shape[1]:] = head  # a second presenter on the right
        return out

    clip = write_clip(tmp_path / "duo.mp4", (two(i) for i in range(30)))
    with pytest.raises(PrepareError, match="several faces"):
        prepare_pack(opts(clip, tmp_path / "x", min_seconds=1.0))


def test_existing_pack_needs_force(clip, presenter, tmp_path):
    out = tmp_path / "p"
    prepare_pack(opts(clip, out, box=presenter.face_box(0), min_seconds=1.0, max_seconds=1.5))
    with pytest.raises(PrepareError, match="--force"):
        prepare_pack(opts(clip, out, box=presenter.face_box(0), min_seconds=1.0, max_seconds=1.5))
    prepare_pack(opts(clip, out, box=presenter.face_box(0), min_seconds=1.0, max_seconds=1.5, force=True))


def test_cli_prepare(clip, presenter, tmp_path):
    x, y, w, h = presenter.face_box(0)
    out = tmp_path / "cli_pack"
    run = subprocess.run([sys.executable, "main.py", "avatar", "prepare", "--video", str(clip), "--name", "cli",
                          "--box", f"{x},{y},{w},{h}", "--out", str(out), "--max-seconds", "2", "--min-seconds", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "avatar pack ready" in run.stdout and read_manifest(out).name == "cli"
    bad = subprocess.run([sys.executable, "main.py", "avatar", "prepare", "--video", str(tmp_path / "nope.mp4"),
                          "--name", "z", "--out", str(tmp_path / "z")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: cannot read") and "Traceback" not in bad.stderr
    badbox = subprocess.run([sys.executable, "main.py", "avatar", "prepare", "--video", str(clip), "--name", "z",
                             "--box", "1,2,3"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert badbox.returncode == 2 and "x,y,w,h" in badbox.stderr


def test_audio_only_file_is_refused(tmp_path):
    import wave

    wav = tmp_path / "voice.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 16000)
    with pytest.raises(PrepareError, match="no video stream"):
        prepare_pack(opts(wav, tmp_path / "x"))


def test_large_and_odd_sized_inputs_are_scaled_and_made_even(clip, presenter, tmp_path):
    pack = prepare_pack(opts(clip, tmp_path / "small", box=(40, 20, 30, 30), max_height=120, min_seconds=1.0, max_seconds=1.5))
    m = read_manifest(pack)
    assert (m.width, m.height) == (160, 120) and m.face_boxes[0] == (40, 20, 30, 30)
    odd = tmp_path / "odd.png"
    cv2.imwrite(str(odd), np.full((241, 321, 3), 90, np.uint8))
    m2 = read_manifest(prepare_pack(opts(odd, tmp_path / "odd", box=(100, 40, 60, 60), image_loop_seconds=2.0)))
    assert (m2.width, m2.height) == (320, 240)
    with pytest.raises(PrepareError, match="not inside the 320x240 frame"):
        prepare_pack(opts(odd, tmp_path / "odd2", box=(300, 40, 60, 60)))


def test_cli_default_output_is_under_packs_dir(clip, presenter, tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[avatar]\npacks_dir = "{tmp_path / "packs"}"\n', encoding="utf-8")
    x, y, w, h = presenter.face_box(0)
    run = subprocess.run([sys.executable, "main.py", "avatar", "prepare", "--video", str(clip), "--name", "mia",
                          "--box", f"{x},{y},{w},{h}", "--max-seconds", "1.5", "--min-seconds", "1", "--config", str(cfg)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert read_manifest(tmp_path / "packs" / "mia").name == "mia"


def test_cli_list_and_preview(clip, presenter, tmp_path):
    packs = tmp_path / "packs"
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[stream]\nwidth = 320\nheight = 180\n[avatar]\npacks_dir = "{packs}"\n', encoding="utf-8")
    prepare_pack(opts(clip, packs / "anna", box=presenter.face_box(0), min_seconds=1.0, max_seconds=1.5))
    (packs / "junk").mkdir()
    run = subprocess.run([sys.executable, "main.py", "avatar", "list", "--config", str(cfg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("anna\t320x240 25 fps") and "junk" not in run.stdout
    out = tmp_path / "prev.png"
    run = subprocess.run([sys.executable, "main.py", "avatar", "preview", "--config", str(cfg), "--avatar", "anna",
                          "--out", str(out), "--product", "杯子", "--price", "¥9"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert cv2.imread(str(out)).shape == (180, 320, 3)
    run = subprocess.run([sys.executable, "main.py", "avatar", "preview", "--config", str(cfg), "--avatar", "ghost",
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "avatar pack not found" in run.stderr and "avatar prepare" in run.stderr


def test_sideways_phone_clip_is_turned_upright_like_players_do(presenter, tmp_path):
    """A clip stored landscape with a 90-degree display rotation: frames come out as ffmpeg shows them."""
    import shutil

    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg CLI not installed (make debs)")
    # Stored lying on its side; the display matrix written below turns it 90 degrees counterclockwise.
    lying = [np.ascontiguousarray(cv2.rotate(presenter.frame(i), cv2.ROTATE_90_CLOCKWISE)) for i in range(40)]
    stored = write_clip(tmp_path / "stored.mp4", lying)
    phone = tmp_path / "phone.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(stored), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    str(phone)], check=True, timeout=60)
    shown = tmp_path / "shown.png"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(phone), "-frames:v", "1", str(shown)], check=True, timeout=60)
    reference = cv2.imread(str(shown))  # what a player shows (ffmpeg autorotates)
    assert np.mean(np.abs(reference.astype(int) - presenter.frame(0))) < 6
    pack = prepare_pack(opts(phone, tmp_path / "phone_pack", box=(100, 40, 60, 60), min_seconds=1.0))
    m = read_manifest(pack)
    assert (m.width, m.height) == (W, H)
    a = PackAvatar(pack)
    try:
        src = presenter.frame(m.source["start_frame"])
        assert np.mean(np.abs(a.frame(0).astype(int) - src)) < 4  # upright, as the player shows it
    finally:
        a.close()
