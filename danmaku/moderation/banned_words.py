"""Banned-word lists (files) and the matcher that finds them in normalized text.

File format (UTF-8, one entry a line): ``# comment``; ``[category]``, optionally with a scope
(``outgoing``, ``incoming``, ``both``: the default) and/or ``exact`` (no homophone matching), starts a section; ``=word`` matches only when it is the whole message; anything
else is a word or phrase, matched after normalization (see text_keys). Han words of two or more
characters also match by tone-less pinyin, but only on whole words of the sentence (see
``_is_ordinary_word``): 威信/薇信/wei信 match 微信, 我为新手机 and 维新 do not.
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from danmaku.moderation.text_keys import TextKeys, is_han, latin_tokens, make_keys, syllables_of

log = logging.getLogger(__name__)
SCOPES = ("both", "incoming", "outgoing")
# jieba dictionary frequency from which a sound-alike word counts as ordinary usage (维新 300, 纸张 270)
# rather than slang spelled to dodge a filter (沙比 6, 煞笔 3, 尼玛 3).
ORDINARY_WORD_MIN_FREQ = 50
DEFAULT_LIST = Path(__file__).resolve().parent.parent / "data" / "banned_words.txt"


class BannedWordsError(ValueError):
    """A banned-words file that cannot be used (message names the file and line)."""


@dataclass(frozen=True, slots=True)
class BannedWord:
    """One entry of a list, with its precomputed matching forms."""

    word: str
    category: str
    scope: str = "both"
    whole_message: bool = False
    key: str = ""
    tokens: tuple[str, ...] = ()
    syllables: tuple[str, ...] = ()

    @classmethod
    def build(cls, word: str, category: str, scope: str = "both", whole_message: bool = False,
              homophones: bool = True) -> "BannedWord":
        """An entry with its keys, latin tokens and pinyin syllables computed once."""
        keys = make_keys(word)
        key = keys.whole
        has_han = any(is_han(c) for c in key)
        syll: tuple[str, ...] = ()
        if homophones and has_han and sum(1 for c in key if is_han(c)) >= 2:
            syll = tuple(s for s, _a, _b in syllables_of(key))
        tokens = () if has_han else tuple(latin_tokens(word))
        return cls(word=word, category=category, scope=scope, whole_message=whole_message, key=key,
                   tokens=tokens, syllables=syll)


@dataclass(frozen=True, slots=True)
class WordMatch:
    """Where a banned word was found and how (``exact``, ``token``, ``homophone`` or ``whole``)."""

    entry: BannedWord
    how: str
    span: str = ""


def load_banned_words(path: str | Path) -> list[BannedWord]:
    """Parse one list file; raises BannedWordsError naming the file and line on bad input."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BannedWordsError(f"banned-words file not found: {path} (config key chat.moderation.banned_words_files)") from None
    except UnicodeDecodeError as exc:
        raise BannedWordsError(f"{path}: not UTF-8 ({exc})") from None
    words: list[BannedWord] = []
    category, scope, exact = "banned", "both", False
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise BannedWordsError(f"{path}:{lineno}: section header must look like [category] or [category outgoing]")
            parts = line[1:-1].split()
            flags = parts[1:]
            scopes = [f for f in flags if f in SCOPES]
            if not parts or len(scopes) > 1 or any(f not in SCOPES and f != "exact" for f in flags):
                raise BannedWordsError(f"{path}:{lineno}: bad section {line!r}; write [category] with an optional "
                                       f"scope ({', '.join(SCOPES)}) and/or 'exact' (no homophones)")
            category, scope, exact = parts[0], (scopes[0] if scopes else "both"), "exact" in flags
            continue
        whole = line.startswith("=")
        word = line[1:].strip() if whole else line
        entry = BannedWord.build(word, category, scope, whole, homophones=not exact)
        if not entry.key:
            raise BannedWordsError(f"{path}:{lineno}: entry {line!r} has no letters or digits to match")
        words.append(entry)
    return words


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


class WordMatcher:
    """Finds the first banned word in a text for a scope ("incoming" or "outgoing")."""

    def __init__(self, words: list[BannedWord], homophones: bool = True) -> None:
        self.words = words
        self.homophones = homophones
        self._by_scope: dict[str, _ScopeIndex] = {}
        for scope in ("incoming", "outgoing"):
            self._by_scope[scope] = _ScopeIndex([w for w in words if w.scope in ("both", scope)])

    def find(self, keys: TextKeys, scope: str = "incoming") -> WordMatch | None:
        """The first banned word in the text behind ``keys`` for ``scope``, or None."""
        index = self._by_scope[scope]
        return index.find(keys, self.homophones)


@dataclass
class _ScopeIndex:
    words: list[BannedWord]
    whole: dict[str, BannedWord] = field(default_factory=dict)
    han_regex: re.Pattern | None = None
    han_by_key: dict[str, BannedWord] = field(default_factory=dict)
    single_han: dict[str, BannedWord] = field(default_factory=dict)  # one-character entries: whole words only
    single_tokens: dict[str, BannedWord] = field(default_factory=dict)
    phrases: list[BannedWord] = field(default_factory=list)
    by_first_syllable: dict[str, list[BannedWord]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for w in self.words:
            if w.whole_message:
                self.whole.setdefault(w.key, w)
            elif w.tokens:
                if len(w.tokens) == 1:
                    self.single_tokens.setdefault(w.tokens[0], w)
                    self.single_tokens.setdefault(collapse_repeats(w.tokens[0]), w)
                else:
                    self.phrases.append(w)
            elif len(w.key) == 1 and is_han(w.key):
                self.single_han.setdefault(w.key, w)
            else:
                self.han_by_key.setdefault(w.key, w)
                if w.syllables:
                    self.by_first_syllable.setdefault(w.syllables[0], []).append(w)
        if self.han_by_key:
            keys = sorted(self.han_by_key, key=len, reverse=True)
            self.han_regex = re.compile("|".join(re.escape(k) for k in keys))

    def find(self, keys: TextKeys, homophones: bool) -> WordMatch | None:
        if keys.whole in self.whole:
            return WordMatch(self.whole[keys.whole], "whole", keys.whole)
        if self.han_regex is not None:
            for seg in keys.segments:
                m = self.han_regex.search(seg)
                if m:
                    return WordMatch(self.han_by_key[m.group(0)], "exact", m.group(0))
        if self.single_han:
            found = self._single_han(keys)
            if found:
                return found
        for tok in keys.tokens:
            hit = self.single_tokens.get(tok) or self.single_tokens.get(collapse_repeats(tok))
            if hit:
                return WordMatch(hit, "token", tok)
        for w in self.phrases:
            n = len(w.tokens)
            for i in range(len(keys.tokens) - n + 1):
                if tuple(keys.tokens[i:i + n]) == w.tokens:
                    return WordMatch(w, "token", " ".join(w.tokens))
        if homophones and self.by_first_syllable:
            for seg in keys.segments:
                found = self._homophone(seg)
                if found:
                    return found
        return None

    def _single_han(self, keys: TextKeys) -> WordMatch | None:
        # A one-character entry (滚, 草) matches only where it stands as a word of its own: 滚筒 and 草莓 pass.
        for seg in keys.segments:
            if not any(c in self.single_han for c in seg):
                continue
            for tok in _jieba().lcut(seg, HMM=False):
                if tok in self.single_han:
                    return WordMatch(self.single_han[tok], "word", tok)
        return None

    def _homophone(self, seg: str) -> WordMatch | None:
        if not any(is_han(c) or c.isascii() and c.isalpha() for c in seg):
            return None
        syl = syllables_of(seg)
        names = [s for s, _a, _b in syl]
        for i, first in enumerate(names):
            for w in self.by_first_syllable.get(first, ()):
                n = len(w.syllables)
                if tuple(names[i:i + n]) != w.syllables:
                    continue
                start, end = syl[i][1], syl[i + n - 1][2]
                span = seg[start:end]
                if span != w.key and _is_ordinary_word(seg, start, end, w.key):
                    continue
                return WordMatch(w, "homophone", span)
        return None


def collapse_repeats(token: str) -> str:
    """'fuuuck' -> 'fuck': stretched letters are a common way around a word filter."""
    return re.sub(r"([a-z])\1+", r"\1", token)


def _is_ordinary_word(seg: str, start: int, end: int, banned_key: str) -> bool:
    """True when seg[start:end], which sounds like ``banned_key``, is plain Chinese usage.

    Homophones count only as whole words of the sentence (jieba, no HMM): a span that cuts through words
    (我为新手机 is not 微信) is ordinary. A whole-word span that keeps a character of the banned word
    (杀逼, 威信 for 微信, 加我威信) or switches script (wei信) is an evasion. One that keeps no character
    is an evasion unless it is a common dictionary word (纸张 for 智障, 维新 for 微信): 辣鸡, 沙比, 煞笔.
    """
    span = seg[start:end]
    if not all(is_han(c) for c in span):
        return False  # mixed script ('wei信') is how evasions are written, not ordinary words
    jieba = _jieba()
    tokens = jieba.lcut(seg, HMM=False)
    bounds = {0}
    pos = 0
    for tok in tokens:
        pos += len(tok)
        bounds.add(pos)
    if start not in bounds or end not in bounds:
        return True
    if any(a == b for a, b in zip(span, banned_key)):
        return False
    return (jieba.dt.FREQ.get(span) or 0) >= ORDINARY_WORD_MIN_FREQ
