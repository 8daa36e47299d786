"""Streaming chat client for any OpenAI-compatible server, with timeouts, retries and a circuit breaker."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from brain.settings import LLMSettings

log = logging.getLogger(__name__)


class LLMError(Exception):
    """The LLM could not answer; ``retryable`` says whether trying again could help."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class CircuitOpenError(LLMError):
    """Too many recent failures: calls are refused until the cooldown ends."""


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]


class CircuitBreaker:
    """Opens after ``failures`` consecutive failed calls; half-opens (one trial call) after ``cooldown_s``."""

    def __init__(self, failures: int, cooldown_s: float, clock=time.monotonic):
        self.threshold, self.cooldown_s, self.clock = failures, cooldown_s, clock
        self.consecutive = 0
        self.opened_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        return self.state != "open"

    def record_success(self) -> None:
        self.consecutive, self.opened_at = 0, None

    def record_failure(self) -> None:
        self.consecutive += 1
        if self.consecutive >= self.threshold or self.state == "half-open":
            if self.opened_at is None or self.state == "half-open":
                log.warning("LLM circuit opened", extra={"failures": self.consecutive,
                                                         "cooldown_s": self.cooldown_s})
            self.opened_at = self.clock()


def _classify(exc: BaseException) -> LLMError:
    import openai

    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status == 429 or status >= 500 or status == 408
        return LLMError(f"LLM server answered HTTP {status}", retryable=retryable, status=status)
    if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError, TimeoutError)):
        return LLMError("LLM timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"LLM unreachable: {exc.__cause__ or exc}", retryable=True)
    return LLMError(f"LLM stream failed: {type(exc).__name__}: {exc}", retryable=True)


class LLMClient:
    """``stream_text(messages)`` yields text deltas; ``call_tools`` returns tool calls (non-streaming)."""

    def __init__(self, settings: LLMSettings):
        if not settings.base_url:
            raise ValueError("brain.llm.base_url is empty: no LLM configured")
        from openai import AsyncOpenAI, Timeout

        self.settings = settings
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s)
        # Our own retry loop (below) knows about first tokens and the breaker; the SDK's is off.
        self.client = AsyncOpenAI(
            base_url=settings.base_url,
            api_key=os.environ.get(settings.api_key_env) or "not-set",
            max_retries=0,
            timeout=Timeout(settings.total_timeout_s, connect=settings.connect_timeout_s),
        )

    @property
    def available(self) -> bool:
        return self.breaker.allow()

    async def close(self) -> None:
        await self.client.close()

    def _backoff(self, attempt: int, err: LLMError) -> float:
        return self.settings.retry_backoff_s * (2 ** attempt)

    async def stream_text(self, messages: list[dict[str, Any]]) -> AsyncIterator[str]:
        """Text deltas of one completion. Retries only before the first delta (spoken words stay said)."""
        cfg = self.settings
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise CircuitOpenError("LLM circuit is open", retryable=False)
            yielded = False
            started = time.monotonic()
            stream = None
            try:
                stream = await asyncio.wait_for(
                    self.client.chat.completions.create(model=cfg.model, messages=messages, stream=True,
                                                        temperature=cfg.temperature, max_tokens=cfg.max_tokens),
                    cfg.first_token_timeout_s)
                it = stream.__aiter__()
                while True:
                    if yielded:
                        left = cfg.total_timeout_s - (time.monotonic() - started)
                    else:
                        left = cfg.first_token_timeout_s - (time.monotonic() - started)
                    if left <= 0:
                        raise LLMError("LLM timed out" + ("" if yielded else " before the first token"))
                    try:
                        chunk = await asyncio.wait_for(it.__anext__(), left)
                    except StopAsyncIteration:
                        break
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta.content
                    if delta:
                        yielded = True
                        yield delta
                self.breaker.record_success()
                return
            except (GeneratorExit, asyncio.CancelledError):
                raise
            except Exception as exc:  # noqa: BLE001 - classified below
                err = _classify(exc)
                if yielded or not err.retryable or attempt >= cfg.max_retries:
                    if err.retryable or err.status in (401, 403):
                        self.breaker.record_failure()
                    log.warning("LLM call failed", extra={"error": str(err), "attempt": attempt + 1,
                                                          "partial": yielded})
                    raise err from exc
                delay = self._backoff(attempt, err)
                log.info("LLM call failed, retrying", extra={"error": str(err), "attempt": attempt + 1,
                                                             "delay_s": round(delay, 2)})
                attempt += 1
                await asyncio.sleep(delay)
            finally:
                if stream is not None:
                    try:
                        await stream.close()
                    except Exception:  # noqa: BLE001 - the connection may already be gone
                        pass

    async def call_tools(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[ToolCall]:
        """One non-streaming completion that may call tools; returns the parsed calls (bad JSON skipped)."""
        cfg = self.settings
        if not self.breaker.allow():
            raise CircuitOpenError("LLM circuit is open", retryable=False)
        try:
            resp = await asyncio.wait_for(
                self.client.chat.completions.create(model=cfg.model, messages=messages, tools=tools,
                                                    temperature=0, max_tokens=cfg.max_tokens),
                cfg.total_timeout_s)
        except Exception as exc:  # noqa: BLE001
            err = _classify(exc)
            if err.retryable:
                self.breaker.record_failure()
            raise err from exc
        self.breaker.record_success()
        calls: list[ToolCall] = []
        for choice in resp.choices[:1]:
            for tc in choice.message.tool_calls or []:
                try:
                    args = json.loads(tc.function.arguments or "{}")
                except json.JSONDecodeError:
                    log.info("LLM tool call with bad JSON skipped", extra={"tool": tc.function.name})
                    continue
                if isinstance(args, dict):
                    calls.append(ToolCall(tc.function.name, args))
        return calls
