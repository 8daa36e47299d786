"""`run` and `doctor` subcommands (wired in host/)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the host (until SIGINT/SIGTERM or --duration)")
    run.add_argument("--config", help="TOML config (default: configs/default.toml)")
    run.add_argument("--rtmp", action="append", default=[], metavar="URL", help="push to this RTMP URL (repeatable)")
    run.add_argument("--record", metavar="PATH", help="record to this file (.flv or .mp4)")
    run.add_argument("--duration", type=float, metavar="SECONDS", help="stop cleanly after this many seconds")
    run.add_argument("--say-wav", metavar="FILE.wav", help="speak this WAV over the avatar once the stream is up")
    run.set_defaults(func=_run)

    doctor = sub.add_parser("doctor", help="check codecs, devices, engines and outputs; print what will be used")
    doctor.add_argument("--config", help="TOML config (default: configs/default.toml)")
    doctor.set_defaults(func=_doctor)


def _run(args: argparse.Namespace) -> int:
    from host.app import run_from_args

    return run_from_args(args)


def _doctor(args: argparse.Namespace) -> int:
    from host.doctor import doctor

    return doctor(args)
