"""Sentence splitting for streaming synthesis: the first sentence can play while the next is made."""
from __future__ import annotations

import re

# A sentence ends after 。！？!?；; or …, or after '.' followed by a space or the end (so 29.9 is not cut).
_END_RE = re.compile(r"(?<=[。！？!?；;…])\s*|(?<=\.)(?:\s+|$)")
# Inside an over-long sentence, a clause ends after a comma-like mark (29,9 and 10,000 stay whole).
_CLAUSE_RE = re.compile(r"(?<=[，、：:])|(?<=,)(?=\D)")


def _split_long(sentence: str, max_chars: int) -> list[str]:
    """Cut a sentence longer than ``max_chars`` at clause marks, packing clauses up to the limit."""
    if len(sentence) <= max_chars:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for clause in (c for c in _CLAUSE_RE.split(sentence) if c):
        if current and len(current) + len(clause) > max_chars:
            pieces.append(current.strip())
            current = ""
        current += clause
    if current.strip():
        pieces.append(current.strip())
    return pieces


def split_sentences(text: str, max_chars: int = 120) -> list[str]:
    """Split ``text`` into sentences, keeping their punctuation; sentences over ``max_chars`` are cut at commas."""
    out: list[str] = []
    for sentence in _END_RE.split(text):
        if sentence and sentence.strip():
            out.extend(_split_long(sentence.strip(), max_chars))
    return out
