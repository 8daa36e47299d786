"""What `doctor` reports for speech: each configured TTS engine tried on a short word, and the ASR model."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from speech.settings import SpeechSettings


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the report: what was checked, whether it works, and the detail (timing or the reason)."""

    name: str
    ok: bool
    detail: str


async def check_tts(settings: SpeechSettings, timeout_s: float = 10.0) -> list[CheckResult]:
    """Build each engine of speech.engines alone and say one short word with it (no cache, no fallback)."""
    from speech.tts import build_tts
    from speech.tts_base import TtsError

    results: list[CheckResult] = []
    probe = settings.model_copy(update={"cache": settings.cache.model_copy(update={"enabled": False})})
    for name in settings.engines:
        start = time.perf_counter()
        try:
            tts = build_tts(probe, 48000, 2, engines=[name])
        except TtsError as exc:
            results.append(CheckResult(f"tts {name}", False, str(exc)))
            continue
        try:
            language = "en" if "en" in tts.engine.languages else "zh"
            pcm, _, _ = await asyncio.wait_for(tts.synthesize_all("Hello." if language == "en" else "你好。"), timeout_s)
            results.append(CheckResult(
                f"tts {name}", len(pcm) > 0,
                f"{len(pcm) / 48000:.2f} s of audio in {time.perf_counter() - start:.2f} s "
                f"(languages: {', '.join(sorted(tts.engine.languages))})",
            ))
        except (TtsError, TimeoutError) as exc:
            results.append(CheckResult(f"tts {name}", False, str(exc) or "timed out"))
        finally:
            await tts.aclose()
    return results


def check_asr(settings: SpeechSettings) -> CheckResult:
    """Whether the ASR model folder is usable (not loaded: that costs seconds)."""
    from speech.asr import AsrError, Transcriber

    try:
        transcriber = Transcriber(settings.asr)
    except AsrError as exc:
        return CheckResult("asr", False, str(exc))
    return CheckResult("asr", True, f"model {transcriber.model_path} on {transcriber.device}, "
                                    f"{settings.asr.compute_type}, language {settings.asr.language or 'auto'}")
