"""The operator console: one aiohttp app serving the page, a live SSE feed, JSON endpoints, the proxied
HTTP-FLV preview, /healthz and /metrics. The host passes a ConsoleBackend; the console holds no state
of the show itself.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from host.console.access import SESSION_COOKIE, AccessControl, is_loopback
from host.console.backend import (
    ADMIN_ACTIONS,
    ADMIN_ARGS,
    ADMIN_REQUIRED,
    ConsoleBackend,
    FaqEdit,
    FeedEvent,
    HealthSnapshot,
    ProductEdit,
)
from host.console.feed import EventFeed
from configs.console import ConsoleSettings

log = logging.getLogger("host.console")

STATIC_DIR = Path(__file__).with_name("static")
SSE_KEEPALIVE_S = 15.0
PREVIEW_SILENCE_S = 10.0  # the preview sends ~25 tags/s; this long without a byte means it is dead
SCHEDULE_ACTIONS = ("pause", "resume", "run_now")
UPLOAD_MAX_BYTES = 10 * 1024 * 1024  # default for microphone uploads (speech.asr.max_upload_mb)

BACKEND_KEY = web.AppKey("backend", ConsoleBackend)
ACCESS_KEY = web.AppKey("access", AccessControl)
SETTINGS_KEY = web.AppKey("settings", ConsoleSettings)
METRICS_KEY = web.AppKey("metrics", object)
CLOCK_KEY = web.AppKey("clock", object)
CLIENT_KEY = web.AppKey("client", aiohttp.ClientSession)
STREAMS_KEY = web.AppKey("streams", set)
ASR_KEY = web.AppKey("asr", bool)


def to_json(value: Any) -> Any:
    """Dataclasses (nested) to plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(to_json(value), status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


class ClockWatch:
    """Decides whether the media clock is advancing (for /healthz) from successive snapshots."""

    def __init__(self, stall_after_s: float):
        self.stall_after_s = stall_after_s
        self._frames: int | None = None
        self._changed_at = 0.0

    def status(self, snap: HealthSnapshot) -> tuple[str, float | None]:
        """("ok" | "stalled" | "off_air", seconds since the last frame as far as we know)."""
        now = time.monotonic()
        if snap.frames != self._frames:
            self._frames, self._changed_at = snap.frames, now
        if not snap.on_air:
            return "off_air", snap.last_frame_age_s
        # The engine's own age of the last frame is exact; without it, the frame counter not
        # moving between two looks tells the same thing (bounded by the interval between looks).
        age = snap.last_frame_age_s if snap.last_frame_age_s is not None else now - self._changed_at
        return ("ok" if age <= self.stall_after_s else "stalled"), age


@web.middleware
async def _guard(request: web.Request, handler):
    access = request.app[ACCESS_KEY]
    if not access.host_allowed(request):
        return _error(421, "console is bound to loopback: open it as http://127.0.0.1:PORT/")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if not access.same_origin(request):
            return _error(403, "cross-origin request refused")
        if (request.path.startswith("/api/") and request.path != "/api/asr" and request.body_exists
                and request.content_type != "application/json"):
            # JSON only: a form post from another site cannot set this content type without CORS.
            return _error(415, "send JSON (Content-Type: application/json)")
    return await handler(request)


def _require_admin(request: web.Request) -> web.Response | None:
    access = request.app[ACCESS_KEY]
    if not access.admin_enabled:
        return _error(403, f"admin actions are disabled: set env {request.app[SETTINGS_KEY].token_env}")
    if not access.is_admin(request):
        return web.json_response(
            {"error": "admin token required (Authorization: Bearer TOKEN, or log in)"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="livehost console"'},
        )
    return None


def _require_viewer(request: web.Request) -> web.Response | None:
    if request.app[ACCESS_KEY].may_view(request):
        return None
    return web.json_response(
        {"error": "console is not on loopback: log in with the admin token"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="livehost console"'},
    )


async def _read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"body is not JSON: {exc}"}),
                                 content_type="application/json") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


async def _call(coro) -> Any:
    """Run a backend call: ValueError -> 400, KeyError -> 404, NotImplementedError -> 501, else 500 (logged)."""
    try:
        return await coro
    except NotImplementedError as exc:  # a host without that capability (e.g. no scheduler configured)
        msg = str(exc) or "this host does not support that"
        raise web.HTTPNotImplemented(text=json.dumps({"error": msg}, ensure_ascii=False),
                                     content_type="application/json") from exc
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": str(exc)}, ensure_ascii=False),
                                 content_type="application/json") from exc
    except KeyError as exc:
        msg = exc.args[0] if exc.args else "not found"
        raise web.HTTPNotFound(text=json.dumps({"error": f"not found: {msg}"}, ensure_ascii=False),
                               content_type="application/json") from exc
    except web.HTTPException:
        raise
    except Exception as exc:
        log.exception("backend call failed")
        raise web.HTTPInternalServerError(
            text=json.dumps({"error": f"internal error: {type(exc).__name__}: {exc}"}, ensure_ascii=False),
            content_type="application/json",
        ) from exc


# ---- page and session ---------------------------------------------------------------------------


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def session(request: web.Request) -> web.Response:
    access = request.app[ACCESS_KEY]
    return _json({
        "admin": access.is_admin(request),
        "admin_enabled": access.admin_enabled,
        "viewer_token_required": access.viewer_token_required,
        "token_env": request.app[SETTINGS_KEY].token_env,
        "max_message_chars": request.app[SETTINGS_KEY].max_message_chars,
        "asr": request.app[ASR_KEY],
        "preview": bool(request.app[SETTINGS_KEY].preview_url or request.app[BACKEND_KEY].preview_url),
    })


async def login(request: web.Request) -> web.Response:
    access = request.app[ACCESS_KEY]
    body = await _read_json(request)
    token = body.get("token")
    if not access.admin_enabled:
        return _error(403, f"admin actions are disabled: set env {request.app[SETTINGS_KEY].token_env}")
    remote = request.remote or "?"
    if access.login_blocked(remote):
        return _error(429, f"too many wrong tokens: wait {access.LOGIN_WINDOW_S:.0f} s")
    if not isinstance(token, str) or not access.token_matches(token.strip()):
        access.login_failed(remote)
        log.warning("console login refused", extra={"remote": remote})
        return _error(401, "wrong token")
    resp = _json({"admin": True})
    resp.set_cookie(SESSION_COOKIE, access.new_session(), httponly=True, samesite="Strict",
                    max_age=int(access.session_ttl_s), path="/", secure=request.secure)
    log.info("console login", extra={"remote": request.remote})
    return resp


async def logout(request: web.Request) -> web.Response:
    request.app[ACCESS_KEY].end_session(request.cookies.get(SESSION_COOKIE))
    resp = _json({"admin": False})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


# ---- health and metrics -------------------------------------------------------------------------


def _read_health(app: web.Application) -> HealthSnapshot | None:
    try:
        return app[BACKEND_KEY].health()
    except Exception:
        log.exception("backend.health() failed")
        return None


async def healthz(request: web.Request) -> web.Response:
    """200 while the media clock advances, 503 when it is stalled, off air or unreadable."""
    snap = _read_health(request.app)
    if snap is None:
        return _json({"status": "error", "error": "health snapshot unavailable"}, status=503)
    status, age = request.app[CLOCK_KEY].status(snap)
    body = {
        "status": status,
        "frames": snap.frames,
        "late_frames": snap.late_frames,
        "media_time_s": round(snap.media_time_s, 3),
        "uptime_s": round(snap.uptime_s, 3),
        "last_frame_age_s": None if age is None else round(age, 3),
        "stall_after_s": request.app[CLOCK_KEY].stall_after_s,
        "sinks": {s.name: s.state for s in snap.sinks},
        "queues": snap.queues,
        "paused": snap.paused,
    }
    return _json(body, status=200 if status == "ok" else 503)


async def metrics_page(request: web.Request) -> web.Response:
    host_metrics = request.app[METRICS_KEY]
    if host_metrics is None:
        return _error(404, "metrics are not enabled in this host")
    # On the loop, not in a thread: the collector calls backend.health(), which the protocol promises to
    # call from the event loop only; a scrape costs a few ms (benchmarks/RESULTS.md).
    body = host_metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": host_metrics.content_type})


async def health_page(request: web.Request) -> web.Response:
    if (denied := _require_viewer(request)) is not None:
        return denied
    snap = _read_health(request.app)
    if snap is None:
        return _error(503, "health snapshot unavailable")
    status, age = request.app[CLOCK_KEY].status(snap)
    body = dataclasses.asdict(snap)
    body["clock"] = {"status": status, "last_frame_age_s": age}
    return _json(body)


# ---- live feed (server-sent events) -------------------------------------------------------------


def _sse(event: FeedEvent) -> bytes:
    data = json.dumps({"seq": event.seq, "at": event.at, "kind": event.kind,
                       "payload": dataclasses.asdict(event.payload)}, ensure_ascii=False)
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    """SSE: history after ?after=N / Last-Event-ID, then live; a comment line keeps proxies from idling out."""
    if (denied := _require_viewer(request)) is not None:
        return denied
    raw = request.headers.get("Last-Event-ID") or request.query.get("after")
    try:
        after = int(raw) if raw not in (None, "") else None
    except ValueError:
        return _error(400, f"after / Last-Event-ID must be an integer, got {raw!r}")
    resp = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })
    await resp.prepare(request)
    await resp.write(b"retry: 2000\n\n")
    feed_obj = getattr(request.app[BACKEND_KEY], "feed", None)
    if isinstance(feed_obj, EventFeed) and (missed := feed_obj.missed_after(after)):
        # No id: the browser's Last-Event-ID stays where it was.
        await resp.write(f"event: gap\ndata: {json.dumps({'missed': missed})}\n\n".encode())
    task = asyncio.current_task()
    request.app[STREAMS_KEY].add(task)
    feed = request.app[BACKEND_KEY].events(after)
    pending: asyncio.Future | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(feed))
            done, _ = await asyncio.wait({pending}, timeout=SSE_KEEPALIVE_S)
            if not done:
                await resp.write(b": keepalive\n\n")
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                break
            pending = None
            await resp.write(_sse(event))
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the browser went away or the console is shutting down
    finally:
        request.app[STREAMS_KEY].discard(task)
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(Exception):
            await feed.aclose()
    return resp


# ---- viewer box, admin ----------------------------------------------------------------------------


async def post_chat(request: web.Request) -> web.Response:
    if (denied := _require_viewer(request)) is not None:
        return denied
    body = await _read_json(request)
    uname, text = body.get("uname", ""), body.get("text")
    limit = request.app[SETTINGS_KEY].max_message_chars
    if not isinstance(text, str) or not text.strip():
        return _error(400, "text: a non-empty string is required")
    if not isinstance(uname, str):
        return _error(400, "uname must be a string")
    if len(text) > limit:
        return _error(400, f"text is {len(text)} characters; console.max_message_chars is {limit}")
    uname = uname.strip()[:32] or "console"
    result = await _call(request.app[BACKEND_KEY].post_viewer_message(uname, text.strip()))
    return _json(result, status=200 if result.accepted else 422)


def _check_admin_args(action: str, args: Any) -> str | None:
    if not isinstance(args, dict):
        return "args must be a JSON object"
    allowed = ADMIN_ARGS[action]
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        return f"{action}: unknown args {unknown}; allowed: {sorted(allowed)}"
    for key in ADMIN_REQUIRED.get(action, ()):
        if args.get(key) in (None, ""):
            return f"{action}: args.{key} is required"
    for key, value in args.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, allowed[key])):
            return f"{action}: args.{key} has the wrong type ({type(value).__name__})"
    return None


async def admin(request: web.Request) -> web.Response:
    if (denied := _require_admin(request)) is not None:
        return denied
    action = request.match_info["action"]
    if action not in ADMIN_ACTIONS:
        return _error(404, f"unknown admin action {action!r}; known: {', '.join(ADMIN_ACTIONS)}")
    body = await _read_json(request) if request.body_exists else {}
    args = body.get("args", {})
    if (problem := _check_admin_args(action, args)) is not None:
        return _error(400, problem)
    actor = f"console@{request.remote or 'local'}"
    result = await _call(request.app[BACKEND_KEY].admin(action, args, actor))
    metrics_ = request.app[METRICS_KEY]
    if metrics_ is not None:
        metrics_.count_admin(action, result.ok)
    return _json(result, status=200 if result.ok else 409)


# ---- knowledge base --------------------------------------------------------------------------------


def _build_record(cls, body: dict[str, Any], path_id: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(body) - names)
    if unknown:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"unknown fields {unknown}; known: {sorted(names)}"}),
                                 content_type="application/json")
    if body.get("id", path_id) != path_id:
        raise web.HTTPBadRequest(text=json.dumps({"error": "id in the body differs from the URL"}),
                                 content_type="application/json")
    try:
        return cls(**{**body, "id": path_id})
    except TypeError as exc:  # a required field is missing
        raise web.HTTPBadRequest(text=json.dumps({"error": str(exc)}), content_type="application/json") from exc


def _check_product(p: ProductEdit) -> str | None:
    if not isinstance(p.name, str) or not p.name.strip():
        return "name: a non-empty string is required"
    for key in ("price", "list_price"):
        value = getattr(p, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            return f"{key}: a number >= 0 is required"
    if p.stock is not None and (isinstance(p.stock, bool) or not isinstance(p.stock, int) or p.stock < 0):
        return "stock: an integer >= 0 is required"
    for key in ("aliases", "selling_points", "promotions", "tags"):
        value = getattr(p, key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"{key}: a list of strings is required"
    if not isinstance(p.specs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in p.specs.items()):
        return "specs: an object of strings is required"
    return None


def _check_faq(f: FaqEdit) -> str | None:
    for key in ("question", "answer"):
        value = getattr(f, key)
        if not isinstance(value, str) or not value.strip():
            return f"{key}: a non-empty string is required"
    if f.product_id is not None and not isinstance(f.product_id, str):
        return "product_id: a string or null is required"
    return None


async def list_products(request: web.Request) -> web.Response:
    if (denied := _require_viewer(request)) is not None:
        return denied
    return _json(await _call(request.app[BACKEND_KEY].list_products()))


async def save_product(request: web.Request) -> web.Response:
    if (denied := _require_admin(request)) is not None:
        return denied
    product = _build_record(ProductEdit, await _read_json(request), request.match_info["id"])
    if (problem := _check_product(product)) is not None:
        return _error(400, problem)
    return _json(await _call(request.app[BACKEND_KEY].save_product(product)))


async def delete_product(request: web.Request) -> web.Response:
    if (denied := _require_admin(request)) is not None:
        return denied
    pid = request.match_info["id"]
    if not await _call(request.app[BACKEND_KEY].delete_product(pid)):
        return _error(404, f"no product {pid!r}")
    return _json({"deleted": pid})


async def list_faqs(request: web.Request) -> web.Response:
    if (denied := _require_viewer(request)) is not None:
        return denied
    return _json(await _call(request.app[BACKEND_KEY].list_faqs()))


async def save_faq(request: web.Request) -> web.Response:
    if (denied := _require_admin(request)) is not None:
        return denied
    faq = _build_record(FaqEdit, await _read_json(request), request.match_info["id"])
    if (problem := _check_faq(faq)) is not None:
        return _error(400, problem)
    return _json(await _call(request.app[BACKEND_KEY].save_faq(faq)))


async def delete_faq(request: web.Request) -> web.Response:
    if (denied := _require_admin(request)) is not None:
        return denied
    fid = request.match_info["id"]
    if not await _call(request.app[BACKEND_KEY].delete_faq(fid)):
        return _error(404, f"no FAQ {fid!r}")
    return _json({"deleted": fid})


# ---- schedule --------------------------------------------------------------------------------------


async def list_schedule(request: web.Request) -> web.Response:
    if (denied := _require_viewer(request)) is not None:
        return denied
    return _json(await _call(request.app[BACKEND_KEY].list_schedule()))


async def schedule_action(request: web.Request) -> web.Response:
    if (denied := _require_admin(request)) is not None:
        return denied
    action = request.match_info["action"]
    if action not in SCHEDULE_ACTIONS:
        return _error(404, f"unknown schedule action {action!r}; known: {', '.join(SCHEDULE_ACTIONS)}")
    entry = await _call(request.app[BACKEND_KEY].schedule_action(request.match_info["id"], action))
    return _json(entry)


# ---- microphone -> ASR (speech.asr_upload handler, mounted when the host has ASR) ---------------------


def _asr_route(handler):
    """Wrap speech's upload handler: admin only (it is the operator's voice going to the host)."""

    async def asr(request: web.Request) -> web.StreamResponse:
        if (denied := _require_admin(request)) is not None:
            return denied
        return await handler(request)

    return asr


# ---- preview proxy ---------------------------------------------------------------------------------


async def preview(request: web.Request) -> web.StreamResponse:
    """Relay the engine's HTTP-FLV feed chunk by chunk (same origin for the player; no buffering)."""
    if (denied := _require_viewer(request)) is not None:
        return denied
    upstream_url = request.app[SETTINGS_KEY].preview_url or request.app[BACKEND_KEY].preview_url
    if not upstream_url:
        return _error(404, "preview is off (stream.preview.enabled = false)")
    client = request.app[CLIENT_KEY]
    try:
        upstream = await client.get(upstream_url)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _error(502, f"preview feed {upstream_url} unreachable: {type(exc).__name__}: {exc}")
    task = asyncio.current_task()
    request.app[STREAMS_KEY].add(task)
    resp: web.StreamResponse | None = None
    try:
        if upstream.status != 200:
            return _error(502, f"preview feed {upstream_url} answered HTTP {upstream.status}")
        resp = web.StreamResponse(headers={
            "Content-Type": upstream.headers.get("Content-Type", "video/x-flv"),
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        })
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        # iter_any hands over whatever arrived, at once; write() waits for the browser (backpressure
        # reaches the engine's preview sink, whose bounded queue decides what a slow viewer loses).
        async for chunk in upstream.content.iter_any():
            await resp.write(chunk)
        return resp
    except (ConnectionResetError, aiohttp.ClientError, TimeoutError, asyncio.CancelledError):
        # The viewer or the upstream went away, or the console is stopping: the response ends here.
        return resp if resp is not None else web.Response(status=502)
    finally:
        request.app[STREAMS_KEY].discard(task)
        upstream.release()
        upstream.close()


# ---- the app ---------------------------------------------------------------------------------------


async def _client_ctx(app: web.Application):
    # No total timeout: the preview is an endless response. Connect quickly or report 502; a feed that
    # goes silent ends the relay (aiohttp does not cancel a handler whose browser left, so without this a
    # wedged upstream would hold one connection per player reconnect).
    timeout = aiohttp.ClientTimeout(total=None, connect=3.0, sock_connect=3.0, sock_read=PREVIEW_SILENCE_S)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as client:
        app[CLIENT_KEY] = client
        yield


async def _end_streams(app: web.Application) -> None:
    """At shutdown, end the endless responses (feed, preview) so the runner can close promptly."""
    for task in list(app[STREAMS_KEY]):
        task.cancel()


def build_console_app(
    backend: ConsoleBackend,
    *,
    token: str | None,
    settings: ConsoleSettings | None = None,
    metrics: Any | None = None,
    viewer_token_required: bool | None = None,
    asr_handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
    upload_max_bytes: int = UPLOAD_MAX_BYTES,
) -> web.Application:
    """The console app. ``token`` None disables admin actions; viewing needs the token only off loopback.

    ``metrics`` is a host.metrics.HostMetrics (or anything with exposition() and content_type) for /metrics.
    ``asr_handler`` (speech.asr_upload.asr_upload_route(source)) enables the page's microphone at /api/asr.
    More routes (e.g. danmaku.admin.http_api.admin_routes) may be added to the returned app before it starts.
    """
    settings = settings or ConsoleSettings()
    loopback = is_loopback(settings.host)
    if viewer_token_required is None:
        viewer_token_required = not loopback
    if viewer_token_required and not token:
        raise ValueError(
            f"console.host = {settings.host!r} is not loopback, so the console needs an admin token: "
            f"set env {settings.token_env} (or console.token_file)"
        )
    app = web.Application(middlewares=[_guard], client_max_size=upload_max_bytes + 64 * 1024)
    app[BACKEND_KEY] = backend
    app[SETTINGS_KEY] = settings
    app[ACCESS_KEY] = AccessControl(token, viewer_token_required=viewer_token_required, loopback_only=loopback)
    app[METRICS_KEY] = metrics
    app[CLOCK_KEY] = ClockWatch(settings.stall_after_s)
    app[STREAMS_KEY] = set()
    app[ASR_KEY] = asr_handler is not None
    app.cleanup_ctx.append(_client_ctx)
    app.on_shutdown.append(_end_streams)

    r = app.router
    r.add_get("/", index)
    r.add_static("/static/", STATIC_DIR, append_version=False)
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics_page)
    r.add_get("/preview.flv", preview)
    r.add_get("/api/session", session)
    r.add_post("/api/login", login)
    r.add_post("/api/logout", logout)
    r.add_get("/api/health", health_page)
    r.add_get("/api/events", events)
    r.add_post("/api/chat", post_chat)
    r.add_post("/api/admin/{action}", admin)
    r.add_get("/api/kb/products", list_products)
    r.add_put("/api/kb/products/{id}", save_product)
    r.add_delete("/api/kb/products/{id}", delete_product)
    r.add_get("/api/kb/faqs", list_faqs)
    r.add_put("/api/kb/faqs/{id}", save_faq)
    r.add_delete("/api/kb/faqs/{id}", delete_faq)
    r.add_get("/api/schedule", list_schedule)
    r.add_post("/api/schedule/{id}/{action}", schedule_action)
    if asr_handler is not None:
        r.add_post("/api/asr", _asr_route(asr_handler))
    return app


class ConsoleServer:
    """Runs a console app on host:port inside the current event loop (start/stop)."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 8080):
        self.app, self.host, self.port = app, host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Bind and serve; returns the base URL (port 0 picks a free port)."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise OSError(f"console cannot listen on {self.host}:{self.port} (console.host/console.port): {exc}") from exc
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        log.info("console listening", extra={"url": f"http://{host}:{self.port}/"})
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
