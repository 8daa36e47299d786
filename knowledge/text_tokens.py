"""Search tokens for Chinese, English and mixed text (jieba search-mode segmentation)."""
from __future__ import annotations

import logging
import re
import threading
import unicodedata

# Part of every chunk's content hash: a tokenizer change re-tokenizes (and re-embeds) on the next import.
TOKENIZER_VERSION = 3
_jieba_lock = threading.Lock()
_jieba_ready = False

# Words that carry no topic in a shop question; dropping them keeps BM25 from matching on "吗".
STOPWORDS = frozenset(
    """的 了 吗 呢 啊 吧 呀 哦 么 嘛 是 我 你 他 她 它 们 我们 你们 这 那 这个 那个 一个 有 在 和 与 或 就 都 也 还 要
    会 能 可以 可 请问 请 问 一下 主播 家人 家人们 宝子 宝子们 多少 什么 怎么 怎么样 哪 哪些 吗吗 呗 嗯 么么 个 把 给 被 让 对
    得 地 着 过 啦 哈 哈哈 吧吧 想 知道 小禾 现在 有没有 没有 还有 有没 是不是 能不能 可不可以 会不会
    a an the is are am was were be been do does did i you he she it we they my your our their me us to of in on
    for at by with and or but if so can could would should will shall may might must how what which who whom
    whose when where why this that these those there here please any some hi hello hey just""".split()
)

_TOKEN_OK = re.compile(r"\w", re.UNICODE)


def _ensure_jieba():
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba_ready = True
    return jieba


def add_words(words: list[str]) -> None:
    """Teach jieba product names and aliases so "S3手表" segments the same in questions and facts."""
    jieba = _ensure_jieba()
    for word in words:
        word = normalize(word)
        if word and not word.isspace():
            jieba.add_word(word, freq=20000)


def clean_text(text: str) -> str:
    """NFKC (full-width to half-width) with zero-width characters removed; case kept (for embeddings)."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)


def product_words(products) -> list[str]:
    """Names and aliases of products (what ``add_words`` should learn)."""
    words: list[str] = []
    for p in products:
        words += [p.name, *p.aliases]
    return words


def normalize(text: str) -> str:
    """``clean_text`` plus lower-case (for matching and BM25)."""
    return clean_text(text).lower()


def tokenize(text: str) -> list[str]:
    """Search-mode tokens without punctuation and stopwords; English words lightly stemmed."""
    jieba = _ensure_jieba()
    out: list[str] = []
    for tok in jieba.cut_for_search(normalize(text)):
        tok = tok.strip()
        if not tok or not _TOKEN_OK.search(tok) or tok in STOPWORDS:
            continue
        if tok.isascii() and tok.isalpha():
            tok = stem_english(tok)
        out.append(tok)
    return out


def stem_english(word: str) -> str:
    """A light suffix stripper: running/runs/run -> run, charging/charged/charges -> charg."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix, min_len in (("ing", 6), ("ed", 5)):
        if len(word) >= min_len and word.endswith(suffix):
            word = word[: -len(suffix)]
            if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "aeiousl":
                word = word[:-1]  # running -> runn -> run (but "cancell" keeps its l)
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 4 and word.endswith("ll"):
        word = word[:-1]
    return word
