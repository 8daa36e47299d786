"""Text normalization for matching: display-clean text, comparison keys, latin tokens and pinyin syllables.

Evasions this undoes: full/half width and case (NFKC + casefold), zero-width and other invisible
characters, symbols or spaces inserted between characters, traditional characters (OpenCC t2s),
homophones and pinyin written in latin letters (tone-less pinyin syllables, 'wei信' -> wei xin).
Sentence punctuation written as CJK full-width marks (，。！？；：、) stays a boundary, so two clauses
are never glued into a word that neither contains.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Invisible characters used to split words: zero-width, joiners, direction marks, fillers, soft hyphen.
INVISIBLE = frozenset("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
                      "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
                      "\u3164\ufeff\uffa0")
CJK_CLAUSE_MARKS = frozenset("，。！？；：、")
# Cyrillic and Greek letters that look like latin ones ("fuсk" with a Cyrillic с).
CONFUSABLES = str.maketrans("асеорхуіјѕкмтнвαοερτυνκ", "aceopxyijskmthbaoeptvvk")
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese (only when the text has CJK characters: OpenCC is not free)."""
    if any("\u4e00" <= c <= "\u9fff" for c in text):
        return _t2s().convert(text)
    return text


def strip_invisible(text: str) -> str:
    """Remove control and invisible characters; tabs/newlines become spaces."""
    out = []
    for c in text:
        if c in INVISIBLE:
            continue
        cat = unicodedata.category(c)
        if cat == "Cc":
            if c in "\t\n\r":
                out.append(" ")
            continue
        if cat in ("Cf", "Cs", "Co", "Cn"):
            continue
        out.append(c)
    return "".join(out)


def display_clean(text: str) -> str:
    """What may be shown or spoken: NFKC width folding, invisible characters gone, spaces collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", strip_invisible(text))).strip()


def is_han(c: str) -> bool:
    """Is ``c`` a CJK ideograph (basic block or extension A)?"""
    return "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf"


@dataclass(frozen=True, slots=True)
class TextKeys:
    """Matching views of one text: ``segments`` are alnum-only keys split at CJK clause marks."""

    segments: tuple[str, ...]
    tokens: tuple[str, ...]  # latin/digit words, single letters glued back ('f u c k' -> 'fuck'), leet folded
    whole: str  # all segments joined: the key of the whole message


def make_keys(text: str) -> TextKeys:
    """Build the matching keys of ``text`` (see module docstring)."""
    text = to_simplified(strip_invisible(text))
    segments: list[str] = []
    current: list[str] = []
    for c in text:
        if c in CJK_CLAUSE_MARKS:
            if current:
                segments.append("".join(current))
                current = []
            continue
        for n in unicodedata.normalize("NFKC", c).casefold():
            if n.isalnum():
                current.append(n)
    if current:
        segments.append("".join(current))
    return TextKeys(tuple(segments), tuple(latin_tokens(text)), "".join(segments))


_WORD = re.compile(r"[a-z0-9@$]+")


def latin_tokens(text: str) -> list[str]:
    """Latin words of ``text`` (already invisible-stripped), case/width folded, leet folded, letters glued."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(CONFUSABLES)
    # Accents off (fück -> fuck): decompose and drop the combining marks.
    folded = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    raw = _WORD.findall(folded)
    tokens: list[str] = []
    glue: list[str] = []
    for tok in raw:
        if len(tok) == 1 and tok.isalpha():
            glue.append(tok)
            continue
        if glue:
            tokens.append("".join(glue))
            glue = []
        tokens.append(tok.translate(LEET) if any(ch.isalpha() for ch in tok) else tok)
    if glue:
        tokens.append("".join(glue))
    return tokens


@functools.lru_cache(maxsize=1)
def _syllables() -> frozenset[str]:
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.contrib.tone_convert import to_normal

    found = set()
    for readings in PINYIN_DICT.values():
        for reading in readings.split(","):
            found.add(to_normal(reading))
    return frozenset(s for s in found if s.isalpha() and s.isascii())


@functools.lru_cache(maxsize=65536)
def han_syllable(c: str) -> str:
    """Tone-less pinyin of one Han character (its first reading); '' when unknown."""
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.contrib.tone_convert import to_normal

    readings = PINYIN_DICT.get(ord(c))
    if not readings:
        return ""
    return to_normal(readings.split(",")[0]).replace("ü", "v")


def split_pinyin(run: str) -> list[str] | None:
    """Split a latin run into pinyin syllables ('weixin' -> ['wei', 'xin']), or None if it is not pinyin."""
    syllables = _syllables()
    n = len(run)
    # Dynamic programming over prefixes, preferring fewer, longer syllables.
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(min(n, i + 6), i, -1):
            piece = run[i:j]
            if piece in syllables:
                cand = best[i] + [piece]
                if best[j] is None or len(cand) < len(best[j]):
                    best[j] = cand
    return best[n]


def syllables_of(segment: str) -> list[tuple[str, int, int]]:
    """Pinyin syllables of one key segment with the [start, end) span each covers in the segment."""
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(segment)
    while i < n:
        c = segment[i]
        if is_han(c):
            out.append((han_syllable(c) or c, i, i + 1))
            i += 1
        elif c.isascii() and c.isalpha():
            j = i
            while j < n and segment[j].isascii() and segment[j].isalpha():
                j += 1
            run = segment[i:j]
            parts = split_pinyin(run)
            if parts and len(parts) <= len(run):
                pos = i
                for p in parts:
                    out.append((p, pos, pos + len(p)))
                    pos += len(p)
            else:
                out.append(("#" + run, i, j))  # a latin word that is not pinyin never matches a syllable
            i = j
        else:
            out.append(("#" + c, i, i + 1))
            i += 1
    return out
