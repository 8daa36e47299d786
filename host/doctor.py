"""`main.py doctor`: what this machine offers and what the configuration will use, one OK/PROBLEM line each."""
from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from configs.loader import ConfigError, load_config
from configs.models import AppConfig


@dataclass
class Check:
    ok: bool
    label: str
    detail: str

    def line(self) -> str:
        return f"{'OK     ' if self.ok else 'PROBLEM'} {self.label:<14} {self.detail}"


def _python(cfg: AppConfig) -> Iterator[Check]:
    ver = sys.version.split()[0]
    yield Check(sys.version_info >= (3, 12), "python", f"{ver} at {sys.executable}")


def _media(cfg: AppConfig) -> Iterator[Check]:
    import av

    ffmpeg = getattr(av, "ffmpeg_version_info", "?")
    yield Check(int(av.__version__.split(".")[0]) >= 19, "pyav", f"PyAV {av.__version__}, FFmpeg {ffmpeg}")
    for name in ("libx264", "aac"):
        try:
            av.CodecContext.create(name, "w")
            yield Check(True, name, "encoder available")
        except Exception as exc:  # codec missing from this FFmpeg build
            yield Check(False, name, f"encoder missing: {exc}")
    s = cfg.stream
    spf = s.sample_rate / s.fps
    yield Check(
        spf.is_integer(),
        "format",
        f"{s.width}x{s.height}@{s.fps} fps, {s.sample_rate} Hz x{s.channels} ({spf:g} samples/frame), "
        f"x264 preset {s.encoder.preset}, {s.encoder.video_bitrate_kbps} kbps",
    )


def _torch(cfg: AppConfig) -> Iterator[Check]:
    try:
        import torch
    except ImportError as exc:
        yield Check(False, "torch", f"not importable: {exc}")
        return
    cuda = torch.cuda.is_available()
    wanted = cfg.lipsync.device
    device = "cuda" if (wanted == "cuda" or (wanted == "auto" and cuda)) else "cpu"
    detail = f"torch {torch.__version__}, device {device}"
    if cuda:
        detail += f" ({torch.cuda.get_device_name(0)})"
    yield Check(not (wanted == "cuda" and not cuda), "torch", detail + ("" if cuda or wanted != "cuda" else ": CUDA requested but absent"))


def _outputs(cfg: AppConfig) -> Iterator[Check]:
    s = cfg.stream
    urls = list(s.rtmp.urls)
    if s.rtmp.url_env:
        if os.environ.get(s.rtmp.url_env):
            urls.append(f"${s.rtmp.url_env}")
        else:
            yield Check(False, "rtmp", f"env var {s.rtmp.url_env} (stream.rtmp.url_env) is not set")
    for url in urls:
        shown = url.rsplit("/", 1)[0] + "/***" if not url.startswith("$") else url  # never print stream keys
        yield Check(True, "rtmp", f"will push to {shown}")
    if not urls:
        yield Check(True, "rtmp", "no RTMP output configured (stream.rtmp.urls / --rtmp)")
    if s.record.path:
        folder = Path(s.record.path).parent
        folder_ok = os.access(folder if folder.exists() else _existing_parent(folder), os.W_OK)
        yield Check(folder_ok, "record", f"{s.record.path}" + ("" if folder_ok else f": {folder} is not writable"))
    if s.preview.enabled:
        free = _port_free(s.preview.host, s.preview.port)
        yield Check(free, "preview", f"http://{s.preview.host}:{s.preview.port}{s.preview.path}"
                    + ("" if free else " (port in use)"))


def _fonts(cfg: AppConfig) -> Iterator[Check]:
    font = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    yield Check(font.exists(), "cjk font", str(font) if font.exists() else "missing: apt-get install fonts-wqy-microhei")


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


CHECKS: list[Callable[[AppConfig], Iterator[Check]]] = [_python, _media, _torch, _outputs, _fonts]


def run_checks(cfg: AppConfig) -> list[Check]:
    results: list[Check] = []
    for check in CHECKS:
        try:
            results.extend(check(cfg))
        except Exception as exc:  # a broken check is itself a finding, not a crash
            results.append(Check(False, check.__name__.strip("_"), f"check failed: {exc}"))
    return results


def doctor(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"PROBLEM config         {exc}")
        return 2
    print(f"OK      config         {cfg.source_path}")
    results = run_checks(cfg)
    for result in results:
        print(result.line())
    return 0 if all(r.ok for r in results) else 1
