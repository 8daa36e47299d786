"""A real nginx-rtmp server on 127.0.0.1 for tests: start, kill, restart, freeze (SIGSTOP), thaw.

The server records everything it receives (``record all``) under ``<tmp>/rec`` so tests can check
what actually arrived, and it relays to players at ``rtmp://127.0.0.1:PORT/live/<name>``.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MODULE_CANDIDATES = (
    Path("/usr/lib/nginx/modules/ngx_rtmp_module.so"),
    Path("/usr/share/nginx/modules/ngx_rtmp_module.so"),
    Path("/usr/lib64/nginx/modules/ngx_rtmp_module.so"),
)

CONF = """\
load_module {module};
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        chunk_size 4096;
        application live {{
            live on;
            record all;
            record_path {tmp}/rec;
            record_unique on;
        }}
        application deny {{
            live on;
            deny publish all;
        }}
    }}
}}
"""


def find_rtmp_module() -> Path | None:
    """Path of the nginx rtmp module, or None when libnginx-mod-rtmp is not installed."""
    for path in MODULE_CANDIDATES:
        if path.exists():
            return path
    return None


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtmpServer:
    """One nginx process serving RTMP on 127.0.0.1:port, with its config and logs in ``tmp``."""

    def __init__(self, tmp: Path, port: int | None = None) -> None:
        module = find_rtmp_module()
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if module is None or not Path(nginx).exists():
            raise RuntimeError("nginx with the rtmp module is missing: run `make debs` (nginx libnginx-mod-rtmp)")
        self.nginx = nginx
        self.tmp = Path(tmp)
        self.port = port or free_port()
        self.record_dir = self.tmp / "rec"
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.tmp / "nginx.conf"
        self.conf.write_text(CONF.format(module=module, tmp=self.tmp, port=self.port))
        self.proc: subprocess.Popen | None = None

    def url(self, name: str = "x", app: str = "live") -> str:
        """Publish/play URL; app "deny" refuses every publisher (a wrong stream key, in effect)."""
        return f"rtmp://127.0.0.1:{self.port}/{app}/{name}"

    def start(self, timeout: float = 10.0) -> None:
        """Start nginx and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [self.nginx, "-p", str(self.tmp), "-e", str(self.tmp / "error.log"), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}; see {self.tmp / 'error.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen on 127.0.0.1:{self.port} within {timeout} s")

    def kill(self) -> None:
        """Kill -9 (a crash, not a clean shutdown)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        """Stop nginx (thawing it first if frozen)."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def freeze(self) -> None:
        """SIGSTOP: the TCP connection stays open but nothing is read (a hung server)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def recordings(self) -> list[Path]:
        """FLV files the server wrote for what it received, oldest first."""
        return sorted(self.record_dir.glob("*.flv"), key=lambda p: p.stat().st_mtime)

    def __enter__(self) -> RtmpServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
