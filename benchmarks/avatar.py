"""Per-frame cost of the avatars at 1280x720 on one core: `python -m benchmarks.avatar [--frames N]`.

Measures frame() + draw_overlay() for the built-in presenter (idle, speaking with a realistic
mouth track, and worst case with a new mouth shape every frame) and for an avatar pack rendered
from it (decode on the worker thread, ping-pong), plus start-up time and peak RSS. The budget is
about 6 ms per frame (25 fps, ~0.2 core for everything but the encoder).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _stats(samples_ms: list[float]) -> str:
    a = np.asarray(samples_ms)
    return f"median {np.median(a):.2f} ms, p95 {np.percentile(a, 95):.2f} ms, max {a.max():.2f} ms"


def _run(label: str, fn, indices) -> None:
    wall, cpu0 = [], time.process_time()
    t_all = time.perf_counter()
    for i in indices:
        t = time.perf_counter()
        fn(i)
        wall.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t_all
    cpu = (time.process_time() - cpu0) / len(wall) * 1000  # all threads of the process (decoder included)
    print(f"{label:<46} {_stats(wall)}; process CPU {cpu:.2f} ms/frame ({len(wall)} frames, {total:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=500, help="frames per measurement (default 500)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()

    import cv2

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as in the budget

    from avatars.base import MouthShape, OverlayData
    from avatars.builtin import BuiltinAvatar
    from avatars.pack import PackAvatar
    from avatars.prepare import PrepareOptions, prepare_pack

    w, h, n = args.width, args.height, args.frames
    print(f"avatar benchmark {w}x{h}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"pinned to one core, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    t = time.perf_counter()
    avatar = BuiltinAvatar(w, h, 25)
    avatar.frame(0)
    print(f"built-in start-up: {time.perf_counter() - t:.2f} s (backdrop, body, head, first frame)")
    overlay = OverlayData("小美的好物小店", "北欧风陶瓷马克杯 350ml 礼盒装", "¥59.9")
    loop = avatar.loop_length
    ping_pong = [(k % (2 * loop - 2)) for k in range(n)]
    ping_pong = [i if i < loop else 2 * loop - 2 - i for i in ping_pong]
    for i in range(loop):  # warm the per-blink head sprites and text cache
        avatar.draw_overlay(avatar.frame(i), overlay)

    def idle(i):
        f = avatar.frame(i)
        avatar.draw_overlay(f, overlay)

    _run("built-in idle: frame + overlay", idle, ping_pong)
    # A speech-like mouth track: syllables at ~4 Hz, quantised like the renderer's output.
    track = [MouthShape(max(0.0, np.sin(k * 0.5)) * 0.9, 0.3 * (np.sin(k * 0.13) > 0), 0.4 * (np.sin(k * 0.07) > 0.5))
             for k in range(n)]

    def speaking(k):
        f = avatar.frame(ping_pong[k], track[k])
        avatar.draw_overlay(f, overlay)

    _run("built-in speaking: frame(mouth) + overlay", speaking, range(n))
    rng = np.random.default_rng(0)
    random_mouths = [MouthShape(*rng.random(3)) for _ in range(n)]

    def worst(k):
        f = avatar.frame(ping_pong[k], random_mouths[k])
        avatar.draw_overlay(f, overlay)

    _run("built-in worst case: new mouth every frame", worst, range(n))

    tmp = Path(tempfile.mkdtemp(prefix="avatar-bench-"))
    try:
        from avatars.pack import LoopVideoWriter

        clip = tmp / "clip.mp4"
        writer = LoopVideoWriter(clip, w, h, 25, gop=25, crf=18, preset="veryfast")
        for i in range(loop):
            writer.write(avatar.frame(i))
        writer.close()
        t = time.perf_counter()
        pack = prepare_pack(PrepareOptions(source=clip, name="bench", out_dir=tmp / "bench", box=avatar.face_box(0),
                                           max_seconds=loop / 25, min_seconds=4.0, progress=False))
        print(f"avatar prepare (--box) of a {loop}-frame 720p clip: {time.perf_counter() - t:.1f} s")
        p = PackAvatar(pack, max_cached_frames=40)
        pp = [i % p.loop_length for i in ping_pong]
        pp = [min(i, p.loop_length - 1) for i in pp]

        def pack_frame(i):
            f = p.frame(i)
            p.draw_overlay(f, overlay)

        _run("pack (H.264, 720p): frame + overlay, ping-pong", pack_frame, pp)
        print(f"pack decoder: peak {p.peak_cached_frames} frames cached, {p.frames_decoded} decoded for {len(pp)} served")
        p.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
