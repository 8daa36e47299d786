"""Who may do what on the console: the admin token, login sessions, and the same-origin checks.

Viewing and posting as a viewer are open when the console is bound to loopback (only this machine
can reach it); admin actions always need the bearer token, sent as ``Authorization: Bearer`` or
exchanged once at /api/login for an HttpOnly, SameSite=Strict session cookie (the page does this).
Requests that change state must be JSON from the same origin, and on loopback the Host header must
name loopback: a web page the operator happens to visit can neither post nor rebind DNS to us.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
import time
from pathlib import Path

from aiohttp import web

log = logging.getLogger("host.console")

SESSION_COOKIE = "livehost_console"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost names (the default, single-machine setup)."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def resolve_token(token_env: str, token_file: str | None) -> tuple[str | None, str]:
    """The admin token and where it came from: the env var, else a generated one kept in token_file.

    Returns (None, reason) when neither is available; the token itself is never logged.
    """
    value = os.environ.get(token_env, "").strip()
    if value:
        return value, f"env {token_env}"
    if not token_file:
        return None, f"admin disabled: set env {token_env}"
    path = Path(token_file)
    if path.exists():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return stored, f"file {path}"
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    # Created 0600 from the start so the token is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    log.info("generated console admin token", extra={"file": str(path), "env": token_env})
    return token, f"file {path} (generated)"


class AccessControl:
    """Checks tokens and session cookies; sessions live in memory (a restart logs everyone out)."""

    def __init__(self, token: str | None, *, viewer_token_required: bool, loopback_only: bool,
                 session_ttl_s: float = 12 * 3600):
        self.token = token
        self.viewer_token_required = viewer_token_required
        self.loopback_only = loopback_only
        self.session_ttl_s = session_ttl_s
        self._sessions: dict[str, float] = {}  # session id -> expiry (monotonic)
        self._failures: dict[str, list[float]] = {}  # remote -> recent failed logins (monotonic)

    # Guessing the token through /api/login: a few tries per minute per address, then a pause.
    LOGIN_FAILURES = 5
    LOGIN_WINDOW_S = 60.0

    def login_blocked(self, remote: str) -> bool:
        now = time.monotonic()
        recent = [t for t in self._failures.get(remote, []) if now - t < self.LOGIN_WINDOW_S]
        self._failures[remote] = recent
        return len(recent) >= self.LOGIN_FAILURES

    def login_failed(self, remote: str) -> None:
        if len(self._failures) > 10_000:  # bounded memory whatever the number of addresses
            self._failures.clear()
        self._failures.setdefault(remote, []).append(time.monotonic())

    @property
    def admin_enabled(self) -> bool:
        return bool(self.token)

    def token_matches(self, candidate: str) -> bool:
        return bool(self.token) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def new_session(self) -> str:
        now = time.monotonic()
        self._sessions = {k: v for k, v in self._sessions.items() if v > now}
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = now + self.session_ttl_s
        return sid

    def end_session(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)

    def is_admin(self, request: web.Request) -> bool:
        """Bearer token in the header, or a live session cookie."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            remote = request.remote or "?"
            if self.login_blocked(remote):
                return False
            if self.token_matches(header[7:].strip()):
                return True
            self.login_failed(remote)  # wrong bearer tokens count like wrong logins
            return False
        sid = request.cookies.get(SESSION_COOKIE)
        expiry = self._sessions.get(sid or "")
        return expiry is not None and expiry > time.monotonic()

    def may_view(self, request: web.Request) -> bool:
        return not self.viewer_token_required or self.is_admin(request)

    def host_allowed(self, request: web.Request) -> bool:
        """On loopback, refuse Host names that are not loopback (DNS rebinding)."""
        if not self.loopback_only:
            return True
        host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host.split("]")[0] + "]"
        return is_loopback(host)

    @staticmethod
    def same_origin(request: web.Request) -> bool:
        """A browser always sends Origin on cross-site POSTs; when present it must be ours."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # curl, scripts, the admin API: not a browser, nothing to forge
        return origin == f"{request.scheme}://{request.host}"
