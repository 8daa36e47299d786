"""Compressed-time soak: hours of timeline through the whole engine with no pacing and a null sink.

    .venv/bin/python -m benchmarks.soak                 # 24 h of timeline (long: tens of minutes)
    .venv/bin/python -m benchmarks.soak --hours 0.5     # quick check

Checks the bookkeeping that must hold forever: audio samples fed == frames x samples_per_frame
exactly, the AAC output covers exactly those samples, one video packet per frame, every utterance
started where planned; and reports RSS at start and end (a leak shows as growth).
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=24.0, help="hours of timeline to produce")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--speech-every-s", type=float, default=60.0, help="splice a 5 s utterance this often (timeline seconds)")
    args = parser.parse_args(argv)

    import numpy as np
    import psutil

    from lipsync.base import IdleRenderer
    from streamer.engine import StreamEngine
    from streamer.settings import StreamSettings
    from streamer.test_pattern import TestPatternAvatar

    settings = StreamSettings(
        width=args.width, height=args.height, fps=args.fps, preview={"enabled": False},
        encoder={"preset": "ultrafast", "video_bitrate_kbps": 200},
    )
    spf = settings.sample_rate // settings.fps
    frames = int(round(args.hours * 3600 * settings.fps))
    engine = StreamEngine(settings, TestPatternAvatar(args.width, args.height, args.fps), IdleRenderer(),
                          realtime=False, null_sink=True, frame_limit=frames, status_interval_s=0)
    t = np.arange(5 * settings.sample_rate) / settings.sample_rate
    speech = (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)
    every = max(1, int(args.speech_every_s * settings.fps))
    plan = list(range(every, frames - 5 * settings.fps, every))
    handles = []

    def queue_ahead() -> None:
        # Keep a few utterances queued ahead of the clock (queuing all of 24 h up front would hold GBs of PCM).
        while len(handles) < len(plan) and plan[len(handles)] < engine.timeline.next_tick + 3 * every:
            handles.append(engine.timeline.say(speech, (), "soak", start_tick=plan[len(handles)]))

    queue_ahead()
    proc = psutil.Process()
    rss_start = proc.memory_info().rss
    wall0 = time.monotonic()
    engine.start()
    rss_mid = None
    last_print = 0.0
    while not engine.join(0.02):
        queue_ahead()
        if time.monotonic() - last_print < 5.0:
            continue
        last_print = time.monotonic()
        if rss_mid is None and engine.health.counters.frames_sent > frames // 2:
            rss_mid = proc.memory_info().rss
        done = engine.health.counters.frames_sent
        print(f"\r{done / frames:6.1%} of {args.hours:g} h timeline, {time.monotonic() - wall0:6.0f} s", end="", file=sys.stderr, flush=True)
    engine.stop()
    print(file=sys.stderr)
    wall = time.monotonic() - wall0
    rss_end = proc.memory_info().rss
    enc = engine.encoder
    null = next(s for s in engine.sinks if s.kind == "null")
    priming = 1024  # AAC encoder delay: the first packet starts 1024 samples early
    result = {
        "timeline_hours": args.hours,
        "frames": enc.frames_in,
        "samples": enc.samples_in,
        "samples_equal_frames_x_spf": enc.samples_in == enc.frames_in * spf,
        "aac_output_samples_match": null.audio_samples - priming == enc.samples_in,
        "video_packets_match_frames": null.video_packets == enc.frames_in == frames,
        "utterances": len(handles),
        "utterances_on_plan": sum(h.start_frame == k for h, k in zip(handles, plan)),
        "held_frames": engine.health.counters.held_frames,
        "wall_s": round(wall, 1),
        "speedup_x": round(frames / settings.fps / wall, 1),
        "rss_start_mib": round(rss_start / 2**20, 1),
        "rss_mid_mib": round((rss_mid or rss_end) / 2**20, 1),
        "rss_end_mib": round(rss_end / 2**20, 1),
    }
    print(json.dumps(result))
    ok = result["samples_equal_frames_x_spf"] and result["aac_output_samples_match"] and result["video_packets_match_frames"]
    ok = ok and result["utterances_on_plan"] == len(handles) == len(plan)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
