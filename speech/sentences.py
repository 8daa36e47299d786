"""Sentence splitting for streaming synthesis: the first sentence can play while the next is made."""
from __future__ import annotations

import re

# A sentence ends after 。！？!?；; or …, or after '.' followed by a space or the end (so 29.9 is not cut).
_END_RE = re.compile(r"(?<=[。！？!?；;…])\s*|(?<=\.)(?:\s+|$)")


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, keeping their punctuation; empty pieces are dropped."""
    return [s.strip() for s in _END_RE.split(text) if s and s.strip()]
