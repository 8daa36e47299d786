"""Real-time cost of the stream engine: CPU cores, encode ms/frame, late frames, peak RSS.

    .venv/bin/python -m benchmarks.stream                      # 720p25 and 1080p25, 60 s each
    .venv/bin/python -m benchmarks.stream --size 720p --seconds 20 --avatar pattern

Each size runs in its own process (so peak RSS is per size) with the real clock (paced), a null
sink (the encoder output is consumed but not sent anywhere) and, every 10 s, a 4 s speech segment.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


def make_avatar(kind: str, width: int, height: int, fps: int):
    if kind == "builtin":
        from avatars.builtin import BuiltinAvatar

        return BuiltinAvatar(width, height, fps)
    from streamer.test_pattern import TestPatternAvatar

    return TestPatternAvatar(width, height, fps)


def run_one(size: str, seconds: float, avatar_kind: str, preset: str, fps: int) -> dict:
    import numpy as np
    import psutil

    from lipsync.base import IdleRenderer
    from streamer.engine import StreamEngine
    from streamer.settings import StreamSettings

    width, height = SIZES[size]
    settings = StreamSettings(width=width, height=height, fps=fps, preview={"enabled": False}, encoder={"preset": preset})
    avatar = make_avatar(avatar_kind, width, height, fps)
    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    done = threading.Event()

    def sample_rss():
        while not done.wait(0.5):
            peak[0] = max(peak[0], proc.memory_info().rss)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    t = np.arange(4 * settings.sample_rate) / settings.sample_rate
    speech = (np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16)
    engine = StreamEngine(settings, avatar, IdleRenderer(), null_sink=True, status_interval_s=0)
    engine.start()
    time.sleep(2.0)  # warm-up excluded from the figures
    c = engine.health.counters
    late0, enc_ms0, enc_n0 = c.late_frames, c.encode_ms_total, c.encoded_frames
    cpu0, wall0 = sum(proc.cpu_times()[:2]), time.monotonic()
    next_say = wall0
    while time.monotonic() - wall0 < seconds:
        if time.monotonic() >= next_say:
            engine.say(speech, text="bench")
            next_say += 10.0
        time.sleep(0.2)
    cpu1, wall1 = sum(proc.cpu_times()[:2]), time.monotonic()
    late, enc_ms, enc_n = c.late_frames - late0, c.encode_ms_total - enc_ms0, c.encoded_frames - enc_n0
    held, speech_frames = c.held_frames, c.speech_frames
    engine.stop()
    done.set()
    return {
        "size": f"{size}{fps}",
        "avatar": avatar_kind,
        "preset": preset,
        "seconds": round(wall1 - wall0, 1),
        "cores": round((cpu1 - cpu0) / (wall1 - wall0), 3),
        "encode_ms_per_frame": round(enc_ms / max(1, enc_n), 2),
        "late_frames": late,
        "max_late_ms": round(c.max_late_ms, 1),
        "held_frames": held,
        "speech_frames": speech_frames,
        "peak_rss_mib": round(peak[0] / 2**20, 1),
        "video_kbps": round(c.encoded_video_bytes * 8 / 1000 / max(1e-9, engine.media_time), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=[*SIZES, "all"], default="all", help="frame size (all = 720p then 1080p)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per size (after 2 s warm-up)")
    parser.add_argument("--avatar", choices=["builtin", "pattern"], default="builtin", help="built-in presenter or the cheap test pattern")
    parser.add_argument("--preset", default="veryfast", help="libx264 preset")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.size, args.seconds, args.avatar, args.preset, args.fps)))
        return 0
    sizes = ["720p", "1080p"] if args.size == "all" else [args.size]
    results = []
    for size in sizes:
        cmd = [sys.executable, "-m", "benchmarks.stream", "--child", "--size", size, "--seconds", str(args.seconds),
               "--avatar", args.avatar, "--preset", args.preset, "--fps", str(args.fps)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print()
    print("| size | avatar | preset | cores | encode ms/frame | late frames | held | peak RSS MiB | video kbps |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['size']} | {r['avatar']} | {r['preset']} | {r['cores']} | {r['encode_ms_per_frame']} | "
              f"{r['late_frames']} / {r['seconds']:.0f} s | {r['held_frames']} | {r['peak_rss_mib']} | {r['video_kbps']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
