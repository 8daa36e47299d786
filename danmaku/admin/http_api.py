"""The admin HTTP API: bearer-token routes the console app mounts (commands, status, audit)."""
from __future__ import annotations

import hmac
import json
import logging
import os
from typing import TYPE_CHECKING

from danmaku.admin.commands import Actor

if TYPE_CHECKING:
    from aiohttp import web

    from danmaku.admin.dispatcher import AdminDispatcher

log = logging.getLogger(__name__)


def admin_routes(dispatcher: "AdminDispatcher", token_env: str = "LIVEHOST_ADMIN_TOKEN",
                 prefix: str = "/admin", env: dict | None = None) -> list["web.RouteDef"]:
    """Routes: POST {prefix}/command {"command": "/say hi"}, GET {prefix}/status, GET {prefix}/audit?n=50.

    Every request needs ``Authorization: Bearer <token>`` where the token is the value of the environment
    variable ``token_env`` (read once, here). With the variable unset the routes answer 503, so an admin
    API without a secret is never open.
    """
    from aiohttp import web

    token = (os.environ if env is None else env).get(token_env, "")
    if not token:
        log.warning("admin HTTP API disabled: environment variable is not set", extra={"env": token_env})

    def check(request: web.Request) -> web.Response | None:
        if not token:
            return web.json_response({"ok": False, "error": f"admin API disabled: set {token_env}"}, status=503)
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            return web.json_response({"ok": False, "error": "missing or wrong bearer token"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        return None

    async def command(request: web.Request) -> web.Response:
        denied = check(request)
        if denied:
            return denied
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            body = None
        text = body.get("command") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return web.json_response({"ok": False, "error": "body must be JSON {\"command\": \"/say ...\"}"}, status=400)
        who = request.headers.get("X-Admin-Name", "http")[:50]
        result = await dispatcher.execute_text(text, Actor.http(who))
        status = 200 if result.result in ("ok", "queued") else 400 if result.result == "invalid" else 409
        return web.json_response({"ok": status == 200, **result.to_dict()}, status=status)

    async def status(request: web.Request) -> web.Response:
        denied = check(request)
        if denied:
            return denied
        return web.json_response({"ok": True, "status": dispatcher.status()}, dumps=lambda o: json.dumps(o, default=str))

    async def audit(request: web.Request) -> web.Response:
        denied = check(request)
        if denied:
            return denied
        try:
            n = max(1, min(1000, int(request.query.get("n", "50"))))
        except ValueError:
            n = 50
        return web.json_response({"ok": True, "records": [r.to_dict() for r in dispatcher.audit.recent(n)]})

    return [web.post(f"{prefix}/command", command), web.get(f"{prefix}/status", status),
            web.get(f"{prefix}/audit", audit)]
