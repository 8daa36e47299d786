"""Fixtures shared by the test suite (keep this small: only fixtures of general use)."""
from __future__ import annotations

import pytest

from tests.rtmp_server import RtmpServer, find_rtmp_module


@pytest.fixture
def rtmp_server(tmp_path):
    """A real nginx-rtmp on 127.0.0.1 (random port), recording what it receives; stopped afterwards."""
    if find_rtmp_module() is None:
        pytest.skip("nginx rtmp module not installed (make debs installs nginx libnginx-mod-rtmp)")
    server = RtmpServer(tmp_path / "nginx")
    server.start()
    try:
        yield server
    finally:
        server.stop()
