"""A local OpenAI-compatible chat server on 127.0.0.1 for tests (real HTTP + SSE wire protocol).

Scripted per request: each request takes the next ``Reply`` from ``replies`` (the last one repeats),
or ``responder(messages, body) -> Reply`` decides. A reply can stream text in chunks, call tools,
answer 429/500, wait before the first token, or drop the connection mid-stream.

    with OpenAIServer(replies=[Reply(status=500), Reply(text="你好。再见。")]) as srv:
        settings = LLMSettings(base_url=srv.base_url)
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """What the server does for one request."""

    text: str = ""
    chunks: list[str] | None = None  # explicit deltas; default: ``text`` split into 3-character pieces
    tool_calls: list[tuple[str, dict]] = field(default_factory=list)
    status: int = 200  # 429 / 500 / 400 ... answer with an OpenAI-style error body
    retry_after: float | None = None  # Retry-After header for 429
    first_token_delay_s: float = 0.0  # after the headers, before the first chunk
    headers_delay_s: float = 0.0  # before the HTTP response starts at all
    chunk_delay_s: float = 0.0
    drop_after_chunks: int | None = None  # close the socket after this many chunks (no [DONE])

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        return [self.text[i:i + 3] for i in range(0, len(self.text), 3)]


class OpenAIServer:
    """Runs in its own thread and event loop, so sync tests, async tests and subprocesses can use it."""

    def __init__(self, replies: list[Reply] | None = None,
                 responder: Callable[[list[dict], dict], Reply] | None = None, model: str = "test-model"):
        self.replies = list(replies or [Reply(text="好的。")])
        self.responder = responder
        self.model = model
        self.requests: list[dict[str, Any]] = []  # JSON bodies received, in order
        self.request_times: list[float] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "OpenAIServer":
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="openai-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("test OpenAI server did not start")
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _shutdown(self) -> None:
        # Handlers still sleeping (a "silent" reply) are cancelled instead of awaited.
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()
        await self._runner.cleanup()

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ handlers

    def _next_reply(self, body: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.request_times.append(time.monotonic())
            if self.responder is not None:
                return self.responder(body.get("messages", []), body)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        reply = self._next_reply(body)
        if reply.headers_delay_s:
            await asyncio.sleep(reply.headers_delay_s)
        if reply.status != 200:
            headers = {"Retry-After": str(reply.retry_after)} if reply.retry_after is not None else {}
            kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
            return web.json_response({"error": {"message": f"scripted {reply.status}", "type": kind,
                                                "code": kind}}, status=reply.status, headers=headers)
        cid = "chatcmpl-" + uuid.uuid4().hex[:12]
        created = int(time.time())
        if not body.get("stream"):
            return web.json_response(self._full_completion(cid, created, reply))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)

        async def send(obj: dict | str) -> None:
            data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
            await resp.write(f"data: {data}\n\n".encode())

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        if reply.first_token_delay_s:
            await asyncio.sleep(reply.first_token_delay_s)
        await send(chunk({"role": "assistant", "content": ""}))
        sent = 0
        for piece in reply.pieces():
            if reply.drop_after_chunks is not None and sent >= reply.drop_after_chunks:
                request.transport.close()  # abrupt: no terminating chunk, no [DONE]
                return resp
            await send(chunk({"content": piece}))
            sent += 1
            if reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)
        for i, (name, args) in enumerate(reply.tool_calls):
            text = json.dumps(args, ensure_ascii=False)
            await send(chunk({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                              "function": {"name": name, "arguments": ""}}]}))
            for j in range(0, len(text), 8):  # arguments arrive in pieces, as real servers send them
                await send(chunk({"tool_calls": [{"index": i, "function": {"arguments": text[j:j + 8]}}]}))
        if reply.drop_after_chunks is not None and sent >= reply.drop_after_chunks:
            request.transport.close()
            return resp
        await send(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
        await send("[DONE]")
        await resp.write_eof()
        return resp

    def _full_completion(self, cid: str, created: int, reply: Reply) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                      "function": {"name": n, "arguments": json.dumps(a, ensure_ascii=False)}}
                                     for i, (n, a) in enumerate(reply.tool_calls)]
        return {"id": cid, "object": "chat.completion", "created": created, "model": self.model,
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
