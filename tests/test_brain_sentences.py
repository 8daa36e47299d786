"""Sentence streaming: CJK and Latin punctuation; prices, decimals and abbreviations stay whole."""
from __future__ import annotations

import pytest

from brain.sentences import SentenceSplitter, clean_for_speech, split_text


def _stream(text: str, step: int) -> list[str]:
    s = SentenceSplitter()
    out: list[str] = []
    for i in range(0, len(text), step):
        out += s.push(text[i:i + step])
    return out + s.flush()


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_streamed_splits_equal_whole_text_splits(step):
    text = "现在只要¥29.9！真的吗？当然。Mr. Smith paid $3.5 today. Dr. Lee agreed! “好的。”最后一句"
    expected = ["现在只要¥29.9！", "真的吗？", "当然。", "Mr. Smith paid $3.5 today.", "Dr. Lee agreed!", "“好的。”",
                "最后一句"]
    assert _stream(text, step) == expected
    assert split_text(text) == expected


def test_a_stop_waits_for_the_next_character():
    s = SentenceSplitter()
    assert s.push("价格是29.") == []  # might become 29.9
    assert s.push("9元。") == []  # a closing quote could follow
    assert s.push("下") == ["价格是29.9元。"]


def test_ellipsis_exclamations_and_urls():
    assert split_text("嗯……好吧！！真的?!") == ["嗯……", "好吧！！", "真的?!"]
    assert split_text("see example.com now. ok") == ["see example.com now.", "ok"]
    assert split_text("J. Smith won. Yes") == ["J. Smith won.", "Yes"]


def test_long_sentence_breaks_at_a_comma():
    text = "这款手表续航非常长，" * 6 + "真的。"
    parts = split_text(text, max_chars=30)
    assert len(parts) > 1 and all(len(p) <= 40 for p in parts) and "".join(parts) == text


def test_clean_for_speech_removes_markdown_links_emoji_and_emoticons():
    assert clean_for_speech("**包邮**哦😊 [doge] 详见 https://example.invalid/x") == "包邮哦 详见"
    assert clean_for_speech("[官网](http://a.b) 见") == "官网 见"
    assert clean_for_speech("- 第一点") == "第一点"


def test_first_clause_comes_out_alone_before_the_sentence_ends():
    s = SentenceSplitter(first_clause=True)
    assert s.push("Good question,") == []  # the next character decides ("1,299" stays whole)
    assert s.push(" t") == ["Good question,"]  # out long before the sentence's full stop
    rest = s.push("he Pulse Watch costs $1,299, and it ships today. Yes, really.") + s.flush()
    assert rest == ["the Pulse Watch costs $1,299, and it ships today.", "Yes, really."]


def test_first_clause_needs_enough_words_and_keeps_numbers_whole():
    assert _first_clause_split("Sure, the watch is 89 dollars.") == ["Sure, the watch is 89 dollars."]
    assert _first_clause_split("1,299 dollars, that is the price.") == ["1,299 dollars,", "that is the price."]
    assert _first_clause_split("好的，这款手表八十九元。") == ["好的，这款手表八十九元。"]
    assert _first_clause_split("这个问题好，这款手表八十九元。") == ["这个问题好，", "这款手表八十九元。"]


def _first_clause_split(text: str) -> list[str]:
    s = SentenceSplitter(first_clause=True)
    return [*s.push(text), *s.flush()]
