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


def _renderer(cfg: AppConfig) -> Iterator[Check]:
    from lipsync.registry import check_renderer

    ok, detail = check_renderer(cfg.lipsync)
    yield Check(ok, "lipsync", detail)


def _speech(cfg: AppConfig) -> Iterator[Check]:
    import asyncio

    from speech.speech_check import check_asr, check_tts

    for result in [*asyncio.run(check_tts(cfg.speech)), check_asr(cfg.speech)]:
        yield Check(result.ok, result.name, result.detail)


def _knowledge(cfg: AppConfig) -> Iterator[Check]:
    k = cfg.knowledge
    for path in k.import_paths:
        yield Check(Path(path).exists(), "knowledge", f"import {path}" + ("" if Path(path).exists() else ": not found"))
    yield Check(True, "knowledge", f"store {k.db_url.split('@')[-1]}")  # never print a password


def _llm(cfg: AppConfig) -> Iterator[Check]:
    llm = cfg.brain.llm
    if not llm.base_url:
        yield Check(True, "llm", "none configured: answers come from the knowledge base alone")
        return
    import urllib.parse

    if not os.environ.get(llm.api_key_env):
        yield Check(False, "llm", f"env var {llm.api_key_env} (brain.llm.api_key_env) is not set")
    url = urllib.parse.urlsplit(llm.base_url)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=2).close()
        yield Check(True, "llm", f"{llm.model} at {url.scheme}://{url.hostname} (reachable)")
    except OSError as exc:
        yield Check(False, "llm", f"{url.scheme}://{url.hostname} unreachable ({exc}); KB-only answers will be used")


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


CHECKS: list[Callable[[AppConfig], Iterator[Check]]] = [
    _python, _media, _torch, _renderer, _speech, _knowledge, _llm, _outputs, _fonts,
]


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
