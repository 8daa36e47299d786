"""Text normalization for speech: a table of written -> spoken forms, Chinese and English."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from speech import english_numbers as en
from speech.normalize import clean_text, normalize_for_speech
from speech.script_split import detect_language, split_by_script
from speech.sentences import split_sentences
from speech.wer import canonical_words, word_error_rate

ZH_CASES = [
    ("¥199", "一百九十九元"),
    ("￥29.9元", "二十九点九元"),
    ("现在下单只要599元", "现在下单只要五百九十九元"),
    ("S3+A2一共828元", "S三加A二一共八百二十八元"),
    ("满300减30", "满三百减三十"),
    ("优惠50%", "优惠百分之五十"),
    ("12.5%的折扣", "百分之十二点五的折扣"),
    ("2024-11-16发货", "二零二四年十一月十六日发货"),
    ("2024年11月16日", "二零二四年十一月十六日"),
    ("今晚20:30开播", "今晚二十点三十分开播"),
    ("8:05见", "八点零五分见"),
    ("2点开始", "两点开始"),
    ("买2件", "买两件"),
    ("10000mAh大电池", "一万毫安时大电池"),
    ("5ATM防水", "五个大气压防水"),
    ("-20℃能用吗", "零下二十摄氏度能用吗"),
    ("4-7天送达", "四到七天送达"),
    ("1/2的价格", "二分之一的价格"),
    ("M10充电宝", "M十充电宝"),
    ("K2儿童手表", "K二儿童手表"),
    ("iPhone 15能用吗", "iPhone 十五能用吗"),
    ("主播好[doge][笑哭]", "主播好"),
    ("太好了😂👍🏻", "太好了"),
    ("看这里 http://example.invalid/xx 加我", "看这里 加我"),
    ("**重点**来了", "重点来了"),
    ("<b>粗体</b>", "粗体"),
    ("Ｓ３只要１９９", "S三只要一百九十九"),
    ("用户3456789", "用户三四五六七八九"),
    ("库存10,000件", "库存一万件"),
    ("20W快充", "二十瓦快充"),
    ("重量35g", "重量三十五克"),
    ("加\u200b我\u200bvx", "加我vx"),
    ("$19.99一个", "十九点九九美元一个"),
    ("主播666", "主播六六六"),
    ("233333", "二三三三三三"),
    ("8888元", "八千八百八十八元"),
]

EN_CASES = [
    ("$19.99", "nineteen dollars ninety-nine cents"),
    ("$1", "one dollar"),
    ("$0.50", "fifty cents"),
    ("It costs $39.", "It costs thirty-nine dollars."),
    ("¥199", "one hundred ninety-nine yuan"),
    ("Save 15% today", "Save fifteen percent today"),
    ("Ships on 2024-11-16", "Ships on November sixteenth, twenty twenty-four"),
    ("Nov 16, 2024", "November sixteenth, twenty twenty-four"),
    ("at 8:05 pm", "at eight oh five P M"),
    ("at 20:30", "at eight thirty P M"),
    ("at 9am", "at nine A M"),
    ("10000mAh battery", "ten thousand milliamp hours battery"),
    ("5 ATM water resistant", "five atmospheres water resistant"),
    ("weighs 35g", "weighs thirty-five grams"),
    ("1 kg", "one kilogram"),
    ("-20°C", "minus twenty degrees Celsius"),
    ("The S3 and A2", "The S three and A two"),
    ("the M10", "the M ten"),
    ("Volt 10K", "Volt ten K"),
    ("1st order", "first order"),
    ("21st", "twenty-first"),
    ("in 2024", "in twenty twenty-four"),
    ("4-7 days", "four to seven days"),
    ("10,000 units", "ten thousand units"),
    ("3.5 hours", "three point five hours"),
    ("I ❤️ it [doge]", "I it"),
    ("see www.example.invalid now", "see now"),
    ("#1 seller", "number one seller"),
    ("Q&A", "Q and A"),
    ("order 0042", "order zero zero four two"),
    ("[link](http://x.invalid) here", "link here"),
]


@pytest.mark.parametrize(("written", "spoken"), ZH_CASES)
def test_chinese_normalization(written: str, spoken: str) -> None:
    assert normalize_for_speech(written, "zh") == spoken


@pytest.mark.parametrize(("written", "spoken"), EN_CASES)
def test_english_normalization(written: str, spoken: str) -> None:
    assert normalize_for_speech(written, "en") == spoken


def test_table_is_large_enough() -> None:
    assert len(ZH_CASES) >= 20 and len(EN_CASES) >= 20 and len(ZH_CASES) + len(EN_CASES) >= 40


def test_language_is_detected_when_not_given() -> None:
    assert normalize_for_speech("只要¥199") == "只要一百九十九元"
    assert normalize_for_speech("only $199") == "only one hundred ninety-nine dollars"
    assert normalize_for_speech("666", default_language="zh") == "六六六"
    assert normalize_for_speech("666", default_language="en") == "six hundred sixty-six"


def _fixture_dir() -> Path | None:
    for base in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")):
        if (base / "fixtures" / "shop_zh" / "danmaku_replay.jsonl").exists():
            return base / "fixtures"
    return None


@pytest.mark.skipif(_fixture_dir() is None, reason="shared fixtures not present")
@pytest.mark.parametrize("shop", ["shop_zh", "shop_en"])
def test_every_chat_line_of_the_replays_is_speakable(shop: str) -> None:
    texts = []
    for line in (_fixture_dir() / shop / "danmaku_replay.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["cmd"] == "DANMU_MSG":
            texts.append(event["data"]["info"][1])
        elif event["cmd"] == "SUPER_CHAT_MESSAGE":
            texts.append(event["data"]["data"]["message"])
    assert len(texts) > 40
    for text in texts:
        spoken = normalize_for_speech(text, default_language="zh" if shop == "shop_zh" else "en")
        assert not re.search(r"\d|\[|http|[\u200b\U0001F000-\U0001FFFF]", spoken), (text, spoken)


def test_clean_text_keeps_degree_signs_and_plain_words() -> None:
    assert clean_text("  hello\u3000world  ") == "hello world"
    assert clean_text("35℃ 😀") == "35℃"


@pytest.mark.parametrize(
    ("n", "words"),
    [(0, "zero"), (13, "thirteen"), (40, "forty"), (101, "one hundred one"), (1999, "one thousand nine hundred ninety-nine"),
     (2_000_000, "two million"), (-7, "minus seven")],
)
def test_english_cardinals(n: int, words: str) -> None:
    assert en.cardinal(n) == words


def test_english_ordinals_and_years() -> None:
    assert [en.ordinal(n) for n in (1, 2, 3, 5, 12, 20, 22, 100)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty-second", "one hundredth"]
    assert [en.year(y) for y in (2024, 2005, 1900, 1905)] == [
        "twenty twenty-four", "two thousand five", "nineteen hundred", "nineteen oh five"]


def test_split_by_script_keeps_every_character() -> None:
    text = "这款 power bank 有一万毫安时, iPhone 也能用。"
    runs = split_by_script(text)
    assert "".join(r.text for r in runs) == text
    assert [r.language for r in runs] == ["zh", "en", "zh", "en", "zh"]
    assert runs[1].text.strip() == "power bank"
    assert runs[1].offset == text.index("power")


def test_split_by_script_single_language_and_empty() -> None:
    assert [(r.text, r.language) for r in split_by_script("Hello there.")] == [("Hello there.", "en")]
    assert split_by_script("") == []
    assert detect_language("S3 手表") == "zh" and detect_language("S3 watch") == "en"


def test_sentences_do_not_split_decimals() -> None:
    assert split_sentences("大家好！今天29.9元，快来吧？Hello there. It is 3.5 cm!") == [
        "大家好！", "今天29.9元，快来吧？", "Hello there.", "It is 3.5 cm!"]


def test_word_error_rate() -> None:
    assert word_error_rate("free shipping over thirty-five dollars", "Free shipping over $35.") == 0.0
    assert word_error_rate("a b c d", "a x c") == pytest.approx(0.5)
    assert word_error_rate("a b", "a b c d") == pytest.approx(1.0)
    assert canonical_words("It's 10 o'clock") == ["it's", "ten", "o'clock"]


def test_over_long_sentences_are_cut_at_commas() -> None:
    text = "，".join(["这是一个很长的句子的一部分"] * 20) + "。"
    pieces = split_sentences(text, max_chars=40)
    assert "".join(pieces) == text
    assert all(len(p) <= 40 for p in pieces) and len(pieces) > 5
    english = ", ".join(["this clause goes on and on"] * 10) + ". Short one."
    pieces = split_sentences(english, max_chars=60)
    assert pieces[-1] == "Short one." and all(len(p) <= 60 for p in pieces)
    assert split_sentences("It costs 10,000 yuan, or 29,9 euros.", max_chars=12)[0] == "It costs 10,000 yuan,"
