"""Word error rate, for checking what ASR heard against what TTS was asked to say."""
from __future__ import annotations

import re

from speech.normalize import normalize_en


def canonical_words(text: str) -> list[str]:
    """Lower-case words with numbers spelled out, so '$35' and 'thirty-five dollars' compare equal."""
    spoken = normalize_en(text).lower().replace("-", " ")
    return re.findall(r"[a-z0-9']+", spoken)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by Levenshtein distance over words."""
    ref, hyp = canonical_words(reference), canonical_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / len(ref)
