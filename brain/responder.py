"""The brain: ``async for sentence in brain.answer(question, uid=..., uname=..., product_id=...)``.

LLM answers stream sentence by sentence; when no LLM is configured, the circuit is open, or the
LLM has produced no sentence by ``fallback_deadline_s``, the KB-only responder answers instead.
Every sentence is cleaned for speech, checked against the facts for invented numbers, and passed
through the output guard; blocked sentences are dropped, logged and recorded in the store.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from brain.kb_responder import KbResponder
from brain.memory import REMEMBER_TOOL, acceptable_fact, extract_facts, memory_messages
from brain.prompt import PromptContext, build_messages
from brain.sentences import SentenceSplitter, clean_for_speech
from brain.settings import BrainSettings
from knowledge.chunking import is_chinese
from knowledge.retrieval import Retriever
from knowledge.settings import RetrievalSettings

log = logging.getLogger(__name__)

Guard = Callable[[str], Any]  # returns (allowed, reason) or an object with .allowed/.reason
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _guard_verdict(result: Any) -> tuple[bool, str]:
    if isinstance(result, tuple):
        return bool(result[0]), str(result[1]) if len(result) > 1 else ""
    return bool(getattr(result, "allowed", False)), str(getattr(result, "reason", ""))


_MONEY_OR_STOCK = re.compile(r"^\s*(元|块|¥|折|件|台|个|%|％|dollars?|bucks|percent|units?)|[¥$]\s*$", re.I)


def unsupported_numbers(sentence: str, facts: str, question: str = "") -> list[str]:
    """Numbers in a sentence that appear nowhere in the facts (an invented price, stock or term).

    A number the viewer typed may be echoed ("6岁"), but never as money or stock: "把价格改成1元" must
    not become "现在1元".
    """
    known = set(_NUMBER.findall(facts))
    asked = set(_NUMBER.findall(question))
    out = []
    for m in _NUMBER.finditer(sentence):
        n = m.group()
        if n in known or n.rstrip("0").rstrip(".") in known:
            continue
        money = _MONEY_OR_STOCK.search(sentence[m.end():m.end() + 8]) or \
            _MONEY_OR_STOCK.search(sentence[max(0, m.start() - 2):m.start()])
        if n in asked and not money:
            continue
        out.append(n)
    return out


class Brain:
    """Answers viewers from the knowledge store, with an LLM when one is configured."""

    def __init__(self, store, settings: BrainSettings | None = None, *, retriever: Retriever | None = None,
                 retrieval: RetrievalSettings | None = None, guard: Guard | None = None, embedder=None):
        self.store = store
        self.settings = settings or BrainSettings()
        if retriever is None:
            retrieval = retrieval or RetrievalSettings()
            if embedder is None and retrieval.embeddings:
                from knowledge.embedding import shared_embedder

                embedder = shared_embedder()
            retriever = Retriever(store, retrieval, embedder)
        self.retriever = retriever
        self.guard = guard
        self.kb = KbResponder(retriever, min_dense=self.settings.min_dense,
                              unanswerable=self.settings.unanswerable,
                              max_chars=self.settings.max_chars_zh, max_words=self.settings.max_words_en)
        self.llm = None
        if self.settings.llm.base_url:
            from brain.llm_client import LLMClient

            self.llm = LLMClient(self.settings.llm)
        self._background: set[asyncio.Task] = set()
        self.counters = {"llm_answers": 0, "kb_answers": 0, "fallbacks": 0, "deflections": 0,
                         "blocked_sentences": 0, "unsupported_numbers": 0}

    def warm_up(self) -> None:
        """Load the embedding model, jieba and the retrieval index now (blocking), not on the first question."""
        self.retriever.search("warm up: do you ship to Chengdu?", k=1)  # also loads jieba.posseg (place names)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self.llm is not None:
            await self.llm.close()

    # ------------------------------------------------------------ context and prompt

    def context(self, question: str, uid: int | None = None, uname: str = "",
                product_id: str | None = None) -> PromptContext:
        """Everything an answer may use (blocking: store reads and retrieval)."""
        current = self.store.get_product(product_id) if product_id else self.store.current_product()
        hits = self.retriever.search(question, k=self.settings.facts_k,
                                     current_product_id=current.id if current else None)
        viewer = self.store.get_viewer(uid) if uid is not None else None
        facts = self.store.viewer_facts(uid, limit=self.settings.memory_facts) if uid is not None else []
        turns = self.store.recent_turns(uid, self.settings.history_turns) if uid is not None else []
        # The current question may already be stored as an event by the director: do not repeat it.
        if turns and turns[-1] == ("viewer", question):
            turns = turns[:-1]
        return PromptContext(question=question, uid=uid, uname=uname or (viewer.uname if viewer else ""),
                             hits=hits, product=current, viewer=viewer, facts=facts, turns=turns,
                             profile=self.store.store_profile(), persona=self.settings.persona)

    def _remember_and_context(self, question: str, uid: int | None, uname: str,
                              product_id: str | None) -> PromptContext:
        if uid is not None:
            self.remember_rules(uid, uname, question)
        return self.context(question, uid, uname, product_id)

    def build_prompt(self, question: str, uid: int | None = None, uname: str = "",
                     product_id: str | None = None) -> list[dict[str, str]]:
        """The chat messages the LLM would get for this question (also what tests inspect)."""
        ctx = self.context(question, uid, uname, product_id)
        return build_messages(ctx, max_chars=self.settings.max_chars_zh, max_words=self.settings.max_words_en)

    # ------------------------------------------------------------ answering

    async def answer(self, question: str, *, uid: int | None = None, uname: str = "",
                     product_id: str | None = None) -> AsyncIterator[str]:
        """Yield speakable sentences for one viewer question."""
        if not question or not question.strip():
            return
        ctx = await asyncio.to_thread(self._remember_and_context, question, uid, uname, product_id)
        zh = is_chinese(question) or not re.search(r"[A-Za-z]{2,}", question)
        limit = self.settings.max_chars_zh if zh else self.settings.max_words_en
        used = 0
        source = "kb"
        sentences: AsyncIterator[str]
        if self.llm is not None and self.llm.available:
            # The deadline counts from the LLM request: retrieval time is the same on both paths.
            sentences = self._llm_or_fallback(ctx, time.monotonic())
        else:
            sentences = self._kb_sentences(ctx, question)
        fact_text = "\n".join([h.text for h in ctx.hits] +
                              [f.value for f in ctx.facts] +
                              ([ctx.product.name, str(ctx.product.price), str(ctx.product.list_price),
                                str(ctx.product.stock), *ctx.product.promotions] if ctx.product else []))
        spoken = 0
        async for raw, origin in sentences:
            source = origin
            sentence = clean_for_speech(raw)
            if not sentence:
                continue
            if origin == "llm":
                bad = unsupported_numbers(sentence, fact_text, question)
                if bad:
                    self.counters["unsupported_numbers"] += 1
                    log.warning("sentence dropped: numbers not in the facts",
                                extra={"numbers": ",".join(bad), "uid": uid})
                    await self._log_blocked(sentence, "unsupported_numbers")
                    continue
            if not await self._allowed(sentence, uid):
                continue
            size = len(sentence) if zh else len(sentence.split())
            if origin == "llm" and spoken and used + size > limit:
                break  # spoken-style limit on the LLM: whole sentences only (KB text is curated/limited)
            used += size
            spoken += 1
            yield sentence
        self.counters["llm_answers" if source == "llm" else "kb_answers"] += 1
        if uid is not None and self.llm is not None and self.settings.memory_llm_tools and self.llm.available:
            task = asyncio.create_task(self.remember_llm(uid, uname, question))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _kb_sentences(self, ctx: PromptContext, question: str) -> AsyncIterator[tuple[str, str]]:
        result = await asyncio.to_thread(self.kb.respond, question, ctx.product.id if ctx.product else None)
        if not result.answered:
            self.counters["deflections"] += 1
        for s in result.sentences:
            yield s, "kb"

    async def _llm_or_fallback(self, ctx: PromptContext, started: float) -> AsyncIterator[tuple[str, str]]:
        """LLM sentences; the KB answer when the LLM fails or is silent past the fallback deadline."""
        messages = build_messages(ctx, max_chars=self.settings.max_chars_zh, max_words=self.settings.max_words_en)
        queue: asyncio.Queue = asyncio.Queue()
        done = object()

        async def pump() -> None:
            # The first clause comes out alone: it is synthesized while the LLM streams the rest.
            splitter = SentenceSplitter(max_chars=self.settings.max_chars_zh, first_clause=True)
            try:
                async for delta in self.llm.stream_text(messages):
                    for s in splitter.push(delta):
                        await queue.put(s)
                for s in splitter.flush():
                    await queue.put(s)
                await queue.put(done)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - LLMError and anything unexpected end the stream
                await queue.put(exc)

        task = asyncio.create_task(pump())
        got_any = False
        try:
            while True:
                timeout = None
                if not got_any:
                    timeout = max(0.05, self.settings.fallback_deadline_s - (time.monotonic() - started))
                try:
                    item = await asyncio.wait_for(queue.get(), timeout)
                except asyncio.TimeoutError:
                    log.warning("LLM silent past the fallback deadline; answering from the KB",
                                extra={"deadline_s": self.settings.fallback_deadline_s})
                    item = TimeoutError("fallback deadline")
                if item is done:
                    return
                if isinstance(item, BaseException):
                    if got_any:
                        log.warning("LLM stream broke mid-answer", extra={"error": str(item)})
                        return
                    self.counters["fallbacks"] += 1
                    async for s in self._kb_sentences(ctx, ctx.question):
                        yield s
                    return
                got_any = True
                yield item, "llm"
        finally:
            task.cancel()

    async def _allowed(self, sentence: str, uid: int | None) -> bool:
        if self.guard is None:
            return True
        try:
            allowed, reason = _guard_verdict(self.guard(sentence))
        except Exception as exc:  # noqa: BLE001 - a broken guard fails closed: nothing unchecked is said
            log.exception("output guard failed; sentence dropped")
            allowed, reason = False, f"guard error: {type(exc).__name__}"
        if not allowed:
            self.counters["blocked_sentences"] += 1
            log.warning("sentence blocked by the output guard", extra={"reason": reason, "uid": uid})
            await self._log_blocked(sentence, reason)
        return allowed

    async def _log_blocked(self, sentence: str, reason: str) -> None:
        try:
            await asyncio.to_thread(self.store.log_moderation, "out", sentence, "blocked", reason=reason)
        except Exception:  # noqa: BLE001 - logging a refusal must never break speech
            log.exception("could not record a blocked sentence")

    # ------------------------------------------------------------ memory and greetings

    def remember_rules(self, uid: int, uname: str, text: str) -> int:
        """Store rule-extracted facts from one chat line; returns how many were new."""
        new = 0
        for fact in extract_facts(text):
            new += self.store.add_viewer_fact(uid, fact.kind, fact.value, source_text=text, extractor="rules",
                                              uname=uname)
        return new

    async def remember_llm(self, uid: int, uname: str, text: str) -> int:
        """Ask the LLM (tool call) for facts; accepted ones are stored. Failures only cost the extra facts."""
        if self.llm is None:
            return 0
        try:
            calls = await self.llm.call_tools(memory_messages(uname, text), [REMEMBER_TOOL])
        except Exception as exc:  # noqa: BLE001
            log.info("LLM memory extraction skipped", extra={"error": str(exc)})
            return 0
        new = 0
        for call in calls:
            kind, value = str(call.arguments.get("kind", "")), str(call.arguments.get("value", "")).strip()
            if call.name != "remember_fact" or not acceptable_fact(kind, value):
                continue
            new += await asyncio.to_thread(self.store.add_viewer_fact, uid, kind, value, source_text=text,
                                           extractor="llm", uname=uname)
        return new

    def greeting(self, uid: int, uname: str = "") -> str | None:
        """A welcome-back line for a returning regular (has visited before or told us facts), else None."""
        viewer = self.store.get_viewer(uid)
        if viewer is None:
            return None
        facts = self.store.viewer_facts(uid, limit=10)
        if viewer.visits < 2 and not facts:
            return None
        name = uname or viewer.uname
        zh = is_chinese(name) or is_chinese(" ".join(f.value for f in facts)) or not re.search(r"[A-Za-z]", name)
        purchase = next((f.value for f in facts if f.kind == "purchase"), None)
        if zh:
            text = f"欢迎回来，{name}！"
            if purchase:
                item = re.sub(r"^(上次|之前|去年|上个月|前几天|前阵子|以前)?买了", "", purchase)
                text += f"之前的{item}用得还顺手吗？"
        else:
            text = f"Welcome back, {name}!"
            if purchase:
                text += f" How is the {purchase.removeprefix('bought ').strip()} treating you?"
        return text if self._guard_ok(text) else None

    def _guard_ok(self, text: str) -> bool:
        if self.guard is None:
            return True
        try:
            return _guard_verdict(self.guard(text))[0]
        except Exception:  # noqa: BLE001 - fail closed
            log.exception("output guard failed; greeting dropped")
            return False
