"""Renderers over a real avatar pack made by `avatar prepare` (photo source, given face box)."""
from __future__ import annotations


import cv2
import numpy as np
import pytest

from lipsync.base import RenderJob
from lipsync.mouth_warp import find_lip_line
from lipsync.synthetic_avatar import SyntheticFaceAvatar
from lipsync.viseme_renderer import VisemeRenderer

SR, SPF = 48000, 1920


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a shared CPU, more threads oversubscribe and run many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory):
    from avatars.pack import PackAvatar
    from avatars.prepare import PrepareOptions, prepare_pack

    src = SyntheticFaceAvatar(320, 240)
    folder = tmp_path_factory.mktemp("pack")
    cv2.imwrite(str(folder / "face.png"), src.frame(0))
    out = prepare_pack(
        PrepareOptions(source=folder / "face.png", name="t", out_dir=folder / "t", box=src.face_box(0),
                       image_loop_seconds=2.0, progress=False)
    )
    avatar = PackAvatar(out, size=(320, 240))
    yield avatar, src
    avatar.close()


def _voiced(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * 180 * t) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    pcm = (x * 32767).astype(np.int16)
    return np.stack([pcm, pcm], axis=1)


def test_lip_line_is_found_where_the_lips_are(pack) -> None:
    avatar, src = pack
    lips_row = src.mouth_box(0)[1] + src.mouth_box(0)[3] / 2  # the synthetic face draws its lips here
    x, y, w, h = avatar.mouth_box(0)
    assert abs(y + find_lip_line(avatar.frame(0), (x, y, w, h)) - lips_row) <= 2
    # A flat patch has no lip line: the box centre.
    flat = np.full((100, 100, 3), 128, np.uint8)
    assert find_lip_line(flat, (10, 10, 40, 30)) == pytest.approx(14.5)


def test_viseme_warp_on_a_pack(pack) -> None:
    avatar, _ = pack
    audio = _voiced(1.0)
    n = len(audio) // SPF
    job = RenderJob(audio, SR, avatar.fps, [i % avatar.loop_length for i in range(n)], avatar)
    renderer = VisemeRenderer()
    shapes = renderer.mouth_shapes(job)
    frames = list(renderer.render(job))
    opened = [k for k, s in enumerate(shapes) if s.open > 0.5]
    closed = [k for k, s in enumerate(shapes) if s.closed]
    assert opened and closed
    for k in opened + closed:
        idx = job.loop_indices[k]
        x, y, w, h = avatar.mouth_box(idx)
        idle = avatar.frame(idx)
        outside = np.ones(idle.shape[:2], bool)
        outside[y : y + h, x : x + w] = False
        assert np.array_equal(frames[k][outside], idle[outside])
        inside = np.abs(frames[k][y : y + h, x : x + w].astype(int) - idle[y : y + h, x : x + w]).mean()
        assert (inside > 3.0) if k in opened else (inside == 0)
    # The dark inner mouth sits on the lip line, not below it.
    k = max(opened, key=lambda i: shapes[i].open)
    idx = job.loop_indices[k]
    x, y, w, h = avatar.mouth_box(idx)
    column = frames[k][y : y + h, x + w // 2].astype(int).sum(axis=1)
    darkest = int(np.argmin(column))
    assert abs(darkest - find_lip_line(avatar.frame(idx), (x, y, w, h))) <= 0.3 * h


def test_wav2lip_on_a_pack_uses_its_crops(pack) -> None:
    from lipsync.settings import LipsyncSettings
    from lipsync.wav2lip_model import Wav2Lip
    from lipsync.wav2lip_renderer import Wav2LipRenderer

    avatar, _ = pack
    renderer = Wav2LipRenderer(LipsyncSettings(batch_size=2), device="cpu", model=Wav2Lip())
    seen = []
    real = renderer.infer
    renderer.infer = lambda mels, crops: seen.append(crops.copy()) or real(mels, crops)
    audio = _voiced(0.08)
    job = RenderJob(audio, SR, avatar.fps, [1, 2], avatar)
    frames = list(renderer.render(job))
    assert len(frames) == 2
    np.testing.assert_array_equal(np.concatenate(seen)[0], avatar.face_crop(1))
    x, y, w, h = avatar.face_crop_box(2)
    outside = np.ones((240, 320), bool)
    outside[y : y + h, x : x + w] = False
    assert np.array_equal(frames[1][outside], avatar.frame(2)[outside])
