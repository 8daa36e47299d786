"""Speakable sentences from a token stream: CJK and Latin punctuation, never "¥29.9", "3.5" or "Mr." cut."""
from __future__ import annotations

import re

_HARD_ENDS = "。！？!?；;…\n"
_CLOSERS = "”’」』）)\"'】》"
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "no", "jr", "sr", "prof", "inc", "approx"}
_SOFT_BREAKS = "，,、：:"

_URL = re.compile(r"(https?://|www\.)\S+", re.I)
_MARKDOWN = re.compile(r"(\*\*|__|`+|^#{1,6}\s*|^\s*[-*+]\s+|^\s*\d+\.\s+(?=\S))", re.M)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U0000FE0F\U0000200D\U00002B00-\U00002BFF]")
_BILI_EMOTE = re.compile(r"\[[\u4e00-\u9fffA-Za-z_]{1,8}\]")  # [doge], [笑哭]


def clean_for_speech(text: str) -> str:
    """Strip what a voice cannot say: markdown, links, URLs, emoji, bilibili emoticons."""
    text = _LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = _MARKDOWN.sub("", text)
    text = _BILI_EMOTE.sub("", text)
    text = _EMOJI.sub("", text)
    text = re.sub(r"[ \t]+", " ", text)
    return text.strip()


class SentenceSplitter:
    """Feed text pieces with ``push``; get complete sentences back; ``flush`` returns the rest.

    A '.' ends a sentence only when the next character is whitespace (so it waits one character
    past the stop) and the word before it is not an abbreviation; digits around it keep it inside.
    ``max_chars`` breaks an over-long sentence at its last comma so speech can start sooner.
    ``first_clause`` also cuts the very first piece at its first comma when the words before it are enough
    to say on their own ("Good question," / "好问题呀，"): the answer can be synthesized before the LLM has
    streamed its whole first sentence. "1,299" stays whole.
    """

    def __init__(self, max_chars: int = 80, first_clause: bool = False):
        self.buffer = ""
        self.max_chars = max_chars
        self.first_clause = first_clause

    def push(self, piece: str) -> list[str]:
        self.buffer += piece
        out: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            sentence, self.buffer = self.buffer[:cut], self.buffer[cut:]
            sentence = sentence.strip()
            if _has_words(sentence):
                out.append(sentence)
                self.first_clause = False
            elif out and sentence:  # lone punctuation/closer: attach to the previous sentence
                out[-1] += sentence
        return out

    def flush(self) -> list[str]:
        rest, self.buffer = self.buffer.strip(), ""
        return [rest] if _has_words(rest) else []

    def _find_cut(self) -> int | None:
        buf = self.buffer
        i = 0
        while i < len(buf):
            if self.first_clause and buf[i] in _CLAUSE_BREAKS and i + 1 < len(buf) and _clause_sized(buf[:i]):
                if not (buf[i - 1].isdigit() and buf[i + 1].isdigit()):  # not "1,299"
                    return i + 1
            if i >= self.max_chars:
                soft = max(buf.rfind(c, 0, self.max_chars) for c in _SOFT_BREAKS)
                if soft > self.max_chars // 3:
                    return soft + 1  # an over-long sentence: break at its last comma so speech starts
            ch = buf[i]
            if ch in _HARD_ENDS or ch == ".":
                j = i + 1
                while j < len(buf) and (buf[j] in _HARD_ENDS or buf[j] == "."):
                    j += 1  # "！！", "?!", "……", "..."
                if j >= len(buf):
                    return None  # wait one character past the stop: "29." may become "29.9"
                if ch == "." and not self._period_ends(buf, i, j):
                    i = j
                    continue
                while j < len(buf) and buf[j] in _CLOSERS:
                    j += 1
                if j >= len(buf) and buf[j - 1] in _CLOSERS:
                    return None  # more closers may follow
                return j
            i += 1
        if len(buf) > self.max_chars:
            soft = max(buf.rfind(c, 0, self.max_chars) for c in _SOFT_BREAKS)
            if soft > self.max_chars // 3:
                return soft + 1
        return None

    @staticmethod
    def _period_ends(buf: str, i: int, j: int) -> bool:
        nxt = buf[j]
        if j - i > 1:  # an ellipsis "..." ends when followed by a space
            return nxt.isspace()
        prev = buf[i - 1] if i > 0 else " "
        if prev.isdigit() and nxt.isdigit():
            return False  # 3.5, ¥29.9
        if not nxt.isspace() and nxt not in _CLOSERS:
            return False  # example.com, e.g.x
        word = re.search(r"([A-Za-z.]+)$", buf[:i])
        if word and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
            return False
        if word and len(word.group(1)) == 1 and word.group(1).isupper():
            return False  # initials: "J. Smith"
        return True


_CLAUSE_BREAKS = "，,：:"  # not "、": that lists items within a clause


def _clause_sized(head: str) -> bool:
    """Enough to be said on its own: two words, or four CJK characters."""
    cjk = sum(1 for ch in head if "\u4e00" <= ch <= "\u9fff")
    return cjk >= 4 if cjk else len(head.split()) >= 2


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def split_text(text: str, max_chars: int = 80) -> list[str]:
    """Split a complete text into sentences (same rules as streaming)."""
    splitter = SentenceSplitter(max_chars)
    return splitter.push(text) + splitter.flush()
