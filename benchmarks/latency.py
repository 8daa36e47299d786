"""Answer latency and /skip latency of the whole host, measured at an RTMP receiver.

A comment is posted through the console source; a PyAV player reading the stream back from a real
nginx-rtmp on 127.0.0.1 notes when the first sample of the answer arrives (the decoded frame whose
timestamp covers the answer's first sample, mapped through the RTMP output's timestamp base) and, more
conservatively, the first frame of it louder than -26 dBFS (which adds the voice's own attack). The LLM is a local
OpenAI-compatible server whose first token is fixed at 300 ms (the rest of the reply follows at once). Prints
p50/p95 of the total and of the breakdown (queue, LLM to the first clause, TTS of the first clause, render/start,
encode+mux+delivery) and the pipeline overhead
(answer heard minus the fixed LLM delay); then /skip -> silence (idle loop) at the receiver.

    .venv/bin/python -m benchmarks.latency [--questions 20] [--skips 5] [--width 1280 --height 720] [--set KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LLM_FIRST_TOKEN_S = 0.3
SILENCE_RMS = 0.0025  # a decoded audio frame this quiet (-52 dBFS) is silence (the voice is leveled to -20 dBFS)
# A frame holding a sample above this (-26 dBFS) holds speech: well above AAC pre-echo, which could otherwise
# show a frame before the onset; the stream is digital silence between utterances.
ONSET_PEAK = 0.05
QUESTIONS = [
    "how much is the Pulse Watch?",
    "does the watch work with an iPhone?",
    "do you ship to the UK?",
    "how long does the power bank take to recharge?",
    "can the buds connect to my laptop and phone at the same time?",
]
SHORT_ANSWER = "Good question, our team answers that in the product card below."
LONG_ANSWER = " ".join(["The Pulse Watch tracks your heart rate, your sleep and your runs all day long."] * 6)


class Receiver(threading.Thread):
    """Plays the RTMP stream back and keeps (arrival time, RMS, peak, end) of every decoded audio frame;
    ``end`` is the sample after its last one, in the connection's own timeline (48 kHz)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="rtmp-receiver")
        self.url = url
        self.frames: list[tuple[float, float, float, int]] = []
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        import av

        while not self.stop.is_set():  # a player reconnects when the publisher does
            try:
                container = av.open(self.url, options={"fflags": "nobuffer", "rw_timeout": "10000000"})
            except av.error.FFmpegError:
                time.sleep(0.2)
                continue
            self.ready.set()
            try:
                with container:
                    for frame in container.decode(audio=0):
                        pcm = frame.to_ndarray().astype(np.float32)  # AAC decodes to float planar
                        end = round(float(frame.pts * frame.time_base) * frame.sample_rate) + frame.samples
                        self.frames.append((time.monotonic(), float(np.sqrt(np.mean(pcm**2))),
                                            float(np.abs(pcm).max()), end))
                        if self.stop.is_set():
                            return
            except av.error.FFmpegError as exc:
                print(f"receiver: {exc}; reconnecting")

    def first_sound_after(self, t: float, timeout: float) -> float | None:
        """Arrival of the first frame holding a sample of speech (the stream is digital silence between)."""
        return self._wait(t, timeout, lambda rms, peak, end: peak > ONSET_PEAK)

    def first_silence_after(self, t: float, timeout: float) -> float | None:
        return self._wait(t, timeout, lambda rms, peak, end: rms < SILENCE_RMS)

    def arrival_of(self, sample: int, timeout: float) -> float | None:
        """Arrival of the frame holding ``sample`` (connection timeline; FLV's millisecond timestamps
        are allowed one millisecond of rounding, so the frame found may end up to 1 ms after it)."""
        return self._wait(0.0, timeout, lambda rms, peak, end: end > sample + 48)

    def _wait(self, t: float, timeout: float, cond) -> float | None:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            frames = self.frames
            for i in range(seen, len(frames)):
                arrived, rms, peak, end = frames[i]
                if arrived >= t and cond(rms, peak, end):
                    return arrived
            seen = max(0, len(frames) - 1)
            time.sleep(0.005)
        return None

    def silent_for(self, seconds: float) -> bool:
        now = time.monotonic()
        recent = [peak for arrived, _, peak, _ in self.frames if arrived >= now - seconds]
        return bool(recent) and max(recent) < ONSET_PEAK


def _config(tmp: Path, llm_url: str, width: int, height: int, overrides: list[str]):
    from configs.loader import load_config

    path = tmp / "latency.toml"
    path.write_text(f"""
[log]
level = "WARNING"
[stream]
width = {width}
height = {height}
[stream.preview]
enabled = false
[knowledge]
db_url = "sqlite:///{tmp}/host.db"
import_paths = ["{ROOT}/configs/demo/shop_en/knowledge.yaml"]
[brain.llm]
base_url = "{llm_url}"
api_key_env = "LATENCY_BENCH_KEY"
[speech]
engines = ["piper", "espeak"]
language = "en"
[speech.cache]
enabled = false
[chat]
source = "console"
[chat.moderation]
rate_limit_count = 1000
duplicate_window_s = 0
[director]
language = "en"
welcome_interval_s = 100000
""")
    return load_config(path, _overrides(overrides))


def _overrides(items: list[str]) -> dict:
    """['stream.prebuffer_frames=1', ...] -> nested dict (values in TOML syntax)."""
    import tomllib

    merged: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        *parents, leaf = key.strip().split(".")
        node = merged
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = tomllib.loads(f"v = {value}")["v"]
    return merged


async def _until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


async def bench(args) -> None:
    from host.app import Host
    from tests.openai_server import OpenAIServer, Reply
    from tests.rtmp_server import RtmpServer

    long_mode = {"on": False}

    def responder(messages, body):
        if long_mode["on"]:
            return Reply(text=LONG_ANSWER, first_token_delay_s=LLM_FIRST_TOKEN_S)
        return Reply(text=SHORT_ANSWER, first_token_delay_s=LLM_FIRST_TOKEN_S)

    with tempfile.TemporaryDirectory() as tmpdir, RtmpServer(Path(tmpdir) / "nginx") as nginx, \
            OpenAIServer(responder=responder) as llm:
        tmp = Path(tmpdir)
        cfg = _config(tmp, llm.base_url, args.width, args.height, args.set)
        host = Host(cfg, extra_rtmp=[nginx.url("bench")])
        await asyncio.to_thread(host.build)
        said: list = []
        host.director.on_said = said.append
        run = asyncio.create_task(host.run())
        while not host.engine.running:
            await asyncio.sleep(0.05)
        rtmp = next(sink for sink in host.engine.sinks if sink.kind == "rtmp")
        spf = host.engine.samples_per_frame
        receiver = Receiver(nginx.url("bench"))
        receiver.start()
        await asyncio.to_thread(receiver.ready.wait, 20)
        await asyncio.sleep(3)  # let the receiver settle and the first TTS/render warm up
        host.chat.source.post("what do you sell?", "warmup", 1)
        await asyncio.to_thread(receiver.first_sound_after, time.monotonic() - 1, 30)
        await _until(lambda: receiver.silent_for(1.0), 60)
        said.clear()

        rows = []
        for i in range(args.questions):
            question = QUESTIONS[i % len(QUESTIONS)]
            t_post = time.monotonic()
            host.chat.source.post(question, f"viewer{i}", 1000 + i)
            t_rx = await asyncio.to_thread(receiver.first_sound_after, t_post, 30)
            await _until(lambda: said and receiver.silent_for(1.0), 60)
            if t_rx is None or not said:
                print(f"question {i}: no answer heard (chat: {host.chat.snapshot()['pipeline']})")
                continue
            spoken = said.pop()
            said.clear()
            utt = spoken.utterance
            # The first part that is the LLM's (not the viewer's name said alone while the LLM was slow).
            k = next(j for j, text in enumerate(spoken.planned) if text != f"viewer{i},")
            handle = spoken.handles[k]
            answer = utt.marks[k]
            on_air = host.engine.clock.deadline(handle.start_frame)
            # The RTMP output rebases timestamps to its connection's first keyframe.
            t_first = receiver.arrival_of(handle.start_pts - rtmp._muxer.base_frame * spf, 5)
            if t_first is None:
                print(f"question {i}: the answer's first sample never arrived")
                continue
            rows.append({
                "first_heard": t_rx - t_post,
                "queue": utt.picked_at - t_post,
                "llm": answer["text"] - utt.picked_at,
                "tts": answer["tts"] - answer["text"],
                "render_start": on_air - answer["queued"],
                "encode_deliver": t_first - on_air,
                "answer_heard": t_first - t_post,
                # the first decoded frame above -26 dBFS, if this part is what opened the utterance
                "answer_loud": on_air + t_rx - host.engine.clock.deadline(spoken.handles[0].start_frame) - t_post,
                "name_alone_first": float(k > 0),
            })
            if args.verbose:
                print(f"question {i}: " + " ".join(f"{key}={v * 1000:.0f}" for key, v in rows[-1].items()
                                                  if key != "name_alone_first") + f" planned={spoken.planned[:3]}")

        skips = []
        long_mode["on"] = True
        for i in range(args.skips):
            host.chat.source.post(QUESTIONS[i % len(QUESTIONS)] + " tell me everything", f"skip{i}", 5000 + i)
            t_sound = await asyncio.to_thread(receiver.first_sound_after, time.monotonic(), 30)
            await asyncio.sleep(1.5)
            t_skip = time.monotonic()
            host.director.skip()
            t_quiet = await asyncio.to_thread(receiver.first_silence_after, t_skip, 10)
            if t_sound and t_quiet:
                skips.append(t_quiet - t_skip)
                if args.verbose:
                    print(f"skip {i}: silence after {(t_quiet - t_skip) * 1000:.0f} ms")
            await _until(lambda: receiver.silent_for(1.0), 60)

        receiver.stop.set()
        host.request_stop()
        await run
        health = host.engine.health.status_line()
        delayed = host.engine.health.counters.start_delayed_frames

    print(f"answer latency over {len(rows)} questions, LLM first token fixed at {LLM_FIRST_TOKEN_S * 1000:.0f} ms "
          f"({args.width}x{args.height}):")
    print(f"{'stage':<16}{'p50 ms':>10}{'p95 ms':>10}")
    for key in ("first_heard", "queue", "llm", "tts", "render_start", "encode_deliver", "answer_heard", "answer_loud"):
        values = [r[key] for r in rows]
        print(f"{key:<16}{pct(values, 50):>10.0f}{pct(values, 95):>10.0f}")
    for key in ("answer_heard", "answer_loud"):
        overhead = [r[key] - LLM_FIRST_TOKEN_S for r in rows]
        print(f"{'overhead':<16}{pct(overhead, 50):>10.0f}{pct(overhead, 95):>10.0f}   ({key} - LLM first token)")
    print("first_heard: the first sound after the comment (above -26 dBFS) at the receiver; answer_heard: arrival of\n"
          "the first sample of the LLM's first clause; encode_deliver: from its tick to that arrival; answer_loud: its\n"
          "first frame above -26 dBFS (adds the voice's attack). The viewer's name was said alone before the answer\n"
          f"in {sum(r['name_alone_first'] for r in rows):.0f} of {len(rows)} answers "
          "(only when the LLM is slower than director.name_first_wait_s).")
    if skips:
        print(f"/skip -> silence at the receiver over {len(skips)} tries: p50 {pct(skips, 50):.0f} ms, "
              f"max {max(skips) * 1000:.0f} ms")
    print(health, f"start_delayed={delayed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--skips", type=int, default=5)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every question and skip")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override to compare settings, e.g. --set speech.piper.threads=2")
    args = parser.parse_args()
    import os

    os.environ.setdefault("LATENCY_BENCH_KEY", "sk-local")
    from host.logging_setup import setup_logging

    setup_logging(level="WARNING")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
