"""A TTS engine made of engines: tried in order; a failing one is skipped for a cool-down, then probed again."""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, replace

from speech.tts_base import EngineAudio, EngineRequest, TtsEngine, TtsError, TtsUnavailable

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EngineHealth:
    """Failure bookkeeping for one engine of the chain."""

    failures: int = 0
    successes: int = 0
    down_until: float = 0.0
    last_error: str = ""


class FallbackEngine(TtsEngine):
    """Wrapper around a list of engines; ``request.voice`` is a wish ('' = each engine's default).

    A failure before any audio moves on to the next engine at once. A failure after audio was handed out
    ends this request (the audio cannot be taken back); the next request goes to the next engine.
    When every engine for the language is cooling down they are all probed anyway: a robotic voice is
    better than dead air.
    """

    name = "fallback"

    def __init__(
        self, engines: list[TtsEngine], cooldown_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not engines:
            raise ValueError("FallbackEngine needs at least one engine")
        self.engines = engines
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.health = {e.name: EngineHealth() for e in engines}
        self.languages = frozenset().union(*(e.languages for e in engines))

    def default_voice(self, language: str) -> str:
        return ""

    def accepts_voice(self, voice: str) -> bool:
        return True

    def candidates(self, language: str) -> list[TtsEngine]:
        """Engines to try now for ``language``: healthy ones first in chain order, then cooling ones."""
        now = self.clock()
        able = [e for e in self.engines if language in e.languages]
        healthy = [e for e in able if self.health[e.name].down_until <= now]
        cooling = sorted((e for e in able if e not in healthy), key=lambda e: self.health[e.name].down_until)
        return healthy + cooling

    def mark_failed(self, engine: TtsEngine, error: BaseException) -> None:
        """Put ``engine`` in cool-down."""
        h = self.health[engine.name]
        h.failures += 1
        h.down_until = self.clock() + self.cooldown_s
        h.last_error = f"{type(error).__name__}: {error}"
        log.warning(
            "TTS engine failed; cooling down",
            extra={"engine": engine.name, "error": h.last_error, "cooldown_s": self.cooldown_s},
        )

    async def stream(self, request: EngineRequest) -> AsyncIterator[EngineAudio]:
        engines = self.candidates(request.language)
        if not engines:
            raise TtsUnavailable(f"no engine in speech.engines speaks '{request.language}'")
        errors: list[str] = []
        for engine in engines:
            voice = engine.resolve_voice(request.voice or None, request.language)
            sub = replace(request, voice=voice)
            produced = False
            try:
                async with aclosing(engine.stream(sub)) as chunks:
                    async for chunk in chunks:
                        produced = True
                        chunk.engine = chunk.engine or engine.name
                        yield chunk
            except TtsError as exc:
                self.mark_failed(engine, exc)
                if produced:
                    log.warning("utterance cut short by an engine failure", extra={"engine": engine.name})
                    return
                errors.append(f"{engine.name}: {exc}")
                continue
            except Exception as exc:  # a bug in one engine must not make the host mute
                log.exception("TTS engine crashed", extra={"engine": engine.name})
                self.mark_failed(engine, exc)
                if produced:
                    return
                errors.append(f"{engine.name}: {type(exc).__name__}: {exc}")
                continue
            h = self.health[engine.name]
            h.successes += 1
            if h.down_until:
                log.info("TTS engine back", extra={"engine": engine.name})
                h.down_until = 0.0
            return
        raise TtsUnavailable("every TTS engine failed: " + "; ".join(errors))

    async def aclose(self) -> None:
        for engine in self.engines:
            await engine.aclose()
