"""Lip-sync speed on this machine: `python -m benchmarks.lipsync`.

Default (viseme) renderer fps at 720p on one core, for a photo avatar (mouth warp) and the built-in avatar;
Wav2Lip (random weights, same cost as the real ones) fps at batch 1/16/64 on the CPU.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

FPS, SR, SPF = 25, 48000, 1920


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Syllable-rate (4 Hz) modulated harmonics with pauses: speech-shaped loudness, 48 kHz stereo int16."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2 * (np.sin(2 * np.pi * 0.4 * t) > -0.6)
    x = 0.25 * voice * envelope + 0.002 * rng.normal(size=t.size)
    pcm = np.clip(x * 32767, -32768, 32767).astype(np.int16)
    return np.stack([pcm, pcm], axis=1)


def bench_viseme(avatar, seconds: float) -> tuple[float, float]:
    """(end-to-end fps, fps of the avatar's own frame() calls for the same frames)."""
    from lipsync.base import RenderJob
    from lipsync.viseme_renderer import VisemeRenderer

    audio = speech_like(seconds)
    n = len(audio) // SPF
    job = RenderJob(audio, SR, FPS, [i % avatar.loop_length for i in range(n)], avatar)
    renderer = VisemeRenderer()
    list(renderer.render(RenderJob(audio[: SPF * 10], SR, FPS, list(range(10)), avatar)))  # warm caches
    start = time.perf_counter()
    count = sum(1 for _ in renderer.render(job))
    total = time.perf_counter() - start
    shapes = renderer.mouth_shapes(job)
    start = time.perf_counter()
    for idx, shape in zip(job.loop_indices, shapes):
        avatar.frame(idx, None if shape.closed else shape) if avatar.draws_mouth else avatar.frame(idx)
    avatar_only = time.perf_counter() - start
    return count / total, count / avatar_only


def bench_track(seconds: float) -> float:
    """Milliseconds to compute the mouth shapes of one second of speech."""
    from lipsync.base import RenderJob
    from lipsync.synthetic_avatar import SyntheticFaceAvatar
    from lipsync.viseme_renderer import VisemeRenderer

    audio = speech_like(seconds)
    n = len(audio) // SPF
    job = RenderJob(audio, SR, FPS, list(range(n)), SyntheticFaceAvatar(64, 64, loop_length=n))
    renderer = VisemeRenderer()
    start = time.perf_counter()
    for _ in range(5):
        renderer.mouth_shapes(job)
    return (time.perf_counter() - start) / 5 / seconds * 1000


def bench_paste(repeats: int = 50) -> float:
    """Milliseconds per Wav2Lip paste-back (colour match + resize + feathered blend) of a 300x360 face box."""
    from lipsync.face_paste import crop_face, paste_face

    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    face = rng.uniform(0, 255, (96, 96, 3)).astype(np.float32)
    box = (500, 150, 300, 360)
    crop = crop_face(frame, box)
    start = time.perf_counter()
    for _ in range(repeats):
        paste_face(frame, box, face, 0.12, lower_only=True, original_crop=crop)
    return (time.perf_counter() - start) / repeats * 1000


def bench_wav2lip_cpu(batches: list[int], repeats: int) -> list[tuple[int, float, float]]:
    from lipsync.settings import LipsyncSettings
    from lipsync.wav2lip_model import Wav2Lip
    from lipsync.wav2lip_renderer import Wav2LipRenderer

    renderer = Wav2LipRenderer(LipsyncSettings(), device="cpu", model=Wav2Lip())
    rng = np.random.default_rng(1)
    out = []
    for batch in batches:
        mels = rng.uniform(-4, 4, (batch, 80, 16)).astype(np.float32)
        crops = rng.integers(0, 256, (batch, 96, 96, 3), dtype=np.uint8)
        renderer.infer(mels[:1], crops[:1])  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            renderer.infer(mels, crops)
        elapsed = time.perf_counter() - start
        out.append((batch, batch * repeats / elapsed, 1000 * elapsed / repeats))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="speech length for the viseme runs")
    parser.add_argument("--wav2lip-threads", type=int, default=1, help="torch threads for Wav2Lip (0: all cores)")
    parser.add_argument("--skip-wav2lip", action="store_true")
    args = parser.parse_args()

    import cv2
    import torch

    from avatars.builtin import BuiltinAvatar
    from lipsync.synthetic_avatar import SyntheticFaceAvatar

    print(f"# lipsync benchmark: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    # One core for the default renderer: OpenCV and torch single-threaded.
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    for label, avatar in (
        ("photo avatar (mouth warp)", SyntheticFaceAvatar(1280, 720, loop_length=10)),
        ("built-in avatar (draws mouth)", BuiltinAvatar(1280, 720, FPS, loop_seconds=2.0)),
    ):
        fps, avatar_fps = bench_viseme(avatar, args.seconds)
        extra = 1000 / fps - 1000 / avatar_fps
        print(f"viseme  720p {label}, 1 core: {fps:7.1f} fps end-to-end "
              f"(avatar.frame alone, warm {avatar_fps:7.1f} fps; the rest {extra:5.2f} ms/frame)")
    print(f"viseme  mouth track (features + visemes + smoothing): {bench_track(args.seconds):6.2f} ms per second of speech")
    print(f"wav2lip paste-back, 300x360 face box at 720p, 1 core: {bench_paste():6.2f} ms/frame")
    if args.skip_wav2lip:
        return
    threads = args.wav2lip_threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    for batch, fps, ms in bench_wav2lip_cpu([1, 16, 64], repeats=2):
        print(f"wav2lip 96px fp32 cpu, {threads} threads, batch {batch:3d}: {fps:7.1f} fps ({ms:8.1f} ms/batch)")


if __name__ == "__main__":
    main()
