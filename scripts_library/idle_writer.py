"""IdleLineWriter: asks an LLM for one short spoken line about the current product, from its facts only.

Lines are written ahead of time (the idle filler keeps a small buffer), so they must not carry values
that go stale: prices and stock are left out of the prompt, and a line with any number that is not in
the facts given (an invented price, a made-up spec) is refused, as is a line with a link.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, Callable, Literal

from scripts_library.speaking_values import product_field

log = logging.getLogger(__name__)

StreamText = Callable[[list[dict[str, Any]]], AsyncIterator[str]]
NUMBER = re.compile(r"\d+(?:\.\d+)?")
LINK = re.compile(r"https?://|www\.|\.com\b|\.cn\b|\.invalid\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.])\s")

PROMPTS = {
    "zh": ("你是直播间的虚拟主播{host}。直播间暂时没有人提问，请说一句自然的口语化暖场话，介绍下面这件商品的一个亮点。"
           "只用给出的资料，不要提价格、库存、优惠和任何资料里没有的数字，不要链接，不要夸大。"
           "只输出这一句话，不超过{limit}个字。"),
    "en": ("You are {host}, the virtual host of a live shopping stream. Nobody is asking anything right now: say one "
           "natural, spoken sentence about one highlight of the product below. Use only the facts given; no prices, "
           "stock, discounts or numbers that are not in the facts, no links, no exaggeration. "
           "Output only that sentence, at most {limit} words."),
}


class IdleLineWriter:
    """An ``IdleFiller`` generator: ``await writer(product) -> str | None`` (None when the line is refused)."""

    def __init__(
        self,
        stream_text: StreamText,
        language: Literal["zh", "en"] = "zh",
        host_name: str = "",
        max_length: int | None = None,
        timeout_s: float = 20.0,
    ):
        self._stream_text = stream_text
        self._language = language
        self._host = host_name or ("小禾" if language == "zh" else "the host")
        self._limit = max_length or (40 if language == "zh" else 25)  # characters (zh) or words (en)
        self._timeout = timeout_s
        self.refused = 0

    def messages(self, product: Mapping[str, Any] | Any) -> list[dict[str, str]]:
        """The chat messages sent to the LLM for ``product``."""
        system = PROMPTS[self._language].format(host=self._host, limit=self._limit)
        return [{"role": "system", "content": system}, {"role": "user", "content": self._facts(product)}]

    async def __call__(self, product: Mapping[str, Any] | Any | None) -> str | None:
        if product is None:
            return None  # nothing is on screen: the idle scripts cover general chatter
        try:
            text = await asyncio.wait_for(self._collect(self.messages(product)), self._timeout)
        except TimeoutError:
            raise TimeoutError(f"the LLM wrote no idle line within {self._timeout:g} s") from None
        line = self._clean(text)
        reason = self._refusal(line, self._facts(product))
        if reason:
            self.refused += 1
            log.info("LLM idle line refused", extra={"reason": reason, "line": line[:60]})
            return None
        return line

    async def _collect(self, messages: list[dict[str, str]]) -> str:
        parts = []
        async for chunk in self._stream_text(messages):
            parts.append(chunk)
        return "".join(parts)

    def _facts(self, product: Mapping[str, Any] | Any) -> str:
        name = product_field(product, "name") or product_field(product, "id") or ""
        lines = [f"商品：{name}" if self._language == "zh" else f"Product: {name}"]
        points = product_field(product, "selling_points") or []
        specs = product_field(product, "specs") or {}
        tags = product_field(product, "tags") or []
        if points:
            lines += [("亮点：" if self._language == "zh" else "Highlight: ") + str(p) for p in points]
        if isinstance(specs, Mapping):
            lines += [f"{k}: {v}" for k, v in list(specs.items())[:8]]
        if tags:
            lines.append(("标签：" if self._language == "zh" else "Tags: ") + ", ".join(map(str, tags)))
        return "\n".join(lines)

    def _clean(self, text: str) -> str:
        text = re.sub(r"\s+", " ", text.replace("*", "")).strip().strip("\"'“”‘’「」 ")
        first = [s for s in SENTENCE_END.split(text) if s and s.strip()]
        if first:
            text = first[0].strip()  # one sentence: the filler wants a short line
        return text

    def _refusal(self, line: str, facts: str) -> str | None:
        if not line:
            return "empty"
        if LINK.search(line):
            return "link"
        size = len(line) if self._language == "zh" else len(line.split())
        if size > self._limit * 1.5:
            return "too long"
        known = set(NUMBER.findall(facts))
        invented = [n for n in NUMBER.findall(line) if n not in known]
        if invented:
            return f"numbers not in the facts: {', '.join(invented)}"
        return None
