"""Which language a text is in, and splitting mixed Chinese/English text into runs by script."""
from __future__ import annotations

import re
from dataclasses import dataclass

# CJK ideographs (basic, extension A, compatibility); kana is rare in this domain and goes with them.
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
_HAN_RE = re.compile(f"[{_HAN}]")
_LATIN_RE = re.compile(r"[A-Za-z]")
# A run is a maximal stretch of Han text or Latin text; digits, spaces and punctuation join the run they follow.
_RUN_RE = re.compile(f"([{_HAN}]+)|([A-Za-z][A-Za-z'\\-]*)")


def detect_language(text: str, default: str = "en") -> str:
    """'zh' when the text has any Chinese character, 'en' when it has Latin letters, else ``default`` ('666')."""
    if _HAN_RE.search(text):
        return "zh"
    return "en" if _LATIN_RE.search(text) else default


@dataclass(frozen=True, slots=True)
class ScriptRun:
    """A piece of text in one script, with its character offset in the input."""

    text: str
    language: str  # "zh" | "en"
    offset: int


def split_by_script(text: str) -> list[ScriptRun]:
    """Cut ``text`` into alternating zh/en runs; neutral characters stay with the run before them.

    Leading neutral characters join the first run; the runs concatenated give back ``text``.
    """
    runs: list[ScriptRun] = []
    cur_lang: str | None = None
    cur_start = 0
    for match in _RUN_RE.finditer(text):
        lang = "zh" if match.group(1) else "en"
        if cur_lang is None:
            cur_lang = lang
            continue
        if lang != cur_lang:
            runs.append(ScriptRun(text[cur_start : match.start()], cur_lang, cur_start))
            cur_lang, cur_start = lang, match.start()
    if cur_lang is None:
        return [ScriptRun(text, detect_language(text), 0)] if text else []
    runs.append(ScriptRun(text[cur_start:], cur_lang, cur_start))
    return [r for r in runs if r.text.strip()] or runs[:1]
