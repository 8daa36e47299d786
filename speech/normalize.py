"""Text normalization for speech: what the voice says, not what is shown (numbers, prices, units, emoji...).

``normalize_for_speech(text, language)`` turns written text into words a TTS engine reads well:
Chinese numbers through cn2an, English numbers as English words; prices, percentages, dates, times,
units and model names (S3, M10) spoken; emoji, bilibili emoticons like [doge], URLs and markup removed.
"""
from __future__ import annotations

import re
import unicodedata

import cn2an

from speech import english_numbers as en
from speech.script_split import detect_language

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"  # 10,000 / 19.99

# --- cleanup (both languages) -------------------------------------------------------------------------
_ZERO_WIDTH_RE = re.compile("[\u200b-\u200f\u2060\ufeff\u00ad]")
_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.I)
_MD_LINK_RE = re.compile(r"\[([^\[\]]+)\]\((?:[^()\s]+)\)")
_HTML_TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>")
_MD_MARK_RE = re.compile(r"(\*\*|__|~~|`+|^#{1,6}\s+|^>\s+)", re.M)
_EMOTICON_RE = re.compile(r"\[[^\[\]\d\s][^\[\]]{0,9}\]")  # [doge] [笑哭] [热词系列_xx]; [1] stays
_KEEP_SYMBOLS = set("℃℉°")
_SPACES_RE = re.compile(r"[ \t\u3000]+")


def _strip_symbols(text: str) -> str:
    """Drop emoji and pictographs (Unicode 'So'), their modifiers and joiners; keep ℃ and °."""
    out = []
    for ch in text:
        if ch in _KEEP_SYMBOLS:
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat == "So" or (cat == "Sk" and ord(ch) >= 0x1F000) or ch in "\ufe0e\ufe0f\u200d\u20e3":
            continue
        out.append(ch)
    return "".join(out)


def _fullwidth_to_ascii(text: str) -> str:
    """Full-width letters, digits and signs (Ｓ３，２０：３０) become ASCII so one set of rules matches."""
    return "".join(
        chr(ord(ch) - 0xFEE0) if 0xFF01 <= ord(ch) <= 0xFF5E else ("¥" if ch == "\uffe5" else ch) for ch in text
    )


def clean_text(text: str) -> str:
    """Remove what must never be read aloud: URLs, markup, emoji, emoticons, zero-width characters."""
    text = _ZERO_WIDTH_RE.sub("", text)
    text = _fullwidth_to_ascii(text)
    text = _MD_LINK_RE.sub(r"\1", text)
    text = _URL_RE.sub(" ", text)
    text = _HTML_TAG_RE.sub(" ", text)
    text = _MD_MARK_RE.sub("", text)
    text = _EMOTICON_RE.sub("", text)
    text = _strip_symbols(text)
    return _SPACES_RE.sub(" ", text).strip()


# --- Chinese ------------------------------------------------------------------------------------------
_ZH_UNITS = {
    "mAh": "毫安时", "kWh": "千瓦时", "kg": "千克", "mg": "毫克", "g": "克", "km": "公里", "cm": "厘米",
    "mm": "毫米", "nm": "纳米", "m": "米", "ml": "毫升", "mL": "毫升", "L": "升", "kW": "千瓦", "W": "瓦",
    "V": "伏", "kHz": "千赫", "Hz": "赫兹", "TB": "T", "GB": "G", "MB": "兆", "h": "小时", "min": "分钟",
    "ms": "毫秒", "s": "秒", "ATM": "个大气压", "atm": "个大气压", "dB": "分贝", "km/h": "公里每小时",
}
_ZH_UNIT_RE = re.compile(
    rf"({_NUM})\s*({'|'.join(sorted((re.escape(u) for u in _ZH_UNITS), key=len, reverse=True))})(?![A-Za-z])"
)
_ZH_MEASURE_FOR_LIANG = "个件台只种位次块款天周年小时分钟条张副本瓶双点箱盒套份"


def _zh_number(text: str) -> str:
    """'199' -> 一百九十九, '29.9' -> 二十九点九, '-5' -> 负五, '10,000' -> 一万; long ids digit by digit."""
    text = text.replace(",", "")
    bare = text.lstrip("-")
    if "." not in bare and (len(bare) >= 7 or (len(bare) > 1 and bare.startswith("0"))):
        return cn2an.an2cn(bare, "direct") if bare.isdigit() else bare
    return cn2an.an2cn(text, "low")


def _zh_year(text: str) -> str:
    return cn2an.an2cn(text, "direct")


def _zh_date(m: re.Match) -> str:
    year, month, day = m.group(1), m.group(2), m.group(3)
    return f"{_zh_year(year)}年{_zh_number(str(int(month)))}月{_zh_number(str(int(day)))}日"


def _zh_hour(h: int) -> str:
    return "两" if h == 2 else _zh_number(str(h))


def _zh_time(m: re.Match) -> str:
    hour, minute, second = int(m.group(1)), int(m.group(2)), m.group(3)
    out = f"{_zh_hour(hour)}点"
    if minute or second:
        out += ("零" if minute < 10 else "") + f"{_zh_number(str(minute))}分"
    if second:
        out += f"{_zh_number(str(int(second)))}秒"
    return out


def _zh_temperature(m: re.Match) -> str:
    sign, value = m.group(1), m.group(2)
    return ("零下" if sign else "") + _zh_number(value) + "摄氏度"


def _zh_model(m: re.Match) -> str:
    letters, number = m.group(1), m.group(2)
    spoken = _zh_number(number) if len(number) <= 2 else cn2an.an2cn(number, "direct")
    return letters + spoken


_ZH_RULES: list[tuple[re.Pattern, object]] = [
    # 2024-11-16, 2024/11/16, 2024年11月16日
    (re.compile(r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"), _zh_date),
    (re.compile(r"(?<!\d)(\d{4})\s*年"), lambda m: _zh_year(m.group(1)) + "年"),
    # 20:30, 8:05:30
    (re.compile(r"(?<!\d)([01]?\d|2[0-4]):([0-5]\d)(?::([0-5]\d))?(?!\d)"), _zh_time),
    # -20℃ / -20°C / 零下20度
    (re.compile(rf"(-|零下)?({_NUM})\s*(?:℃|°\s*C|摄氏度)"), _zh_temperature),
    # ¥199 / ￥29.9 元 -> 一百九十九元
    (re.compile(rf"¥\s*({_NUM})\s*元?"), lambda m: _zh_number(m.group(1)) + "元"),
    (re.compile(rf"\$\s*({_NUM})\s*(?:美元|刀)?"), lambda m: _zh_number(m.group(1)) + "美元"),
    (re.compile(rf"€\s*({_NUM})"), lambda m: _zh_number(m.group(1)) + "欧元"),
    # 50% / 12.5% -> 百分之五十
    (re.compile(rf"({_NUM})\s*%"), lambda m: "百分之" + _zh_number(m.group(1))),
    # 4-7天, 3~5 -> 四到七
    (re.compile(rf"(?<![\d.])({_NUM})\s*[-~—]\s*({_NUM})(?![\d.])"),
     lambda m: f"{m.group(1)}到{m.group(2)}"),
    # 1/2 -> 二分之一
    (re.compile(r"(?<![\d/])(\d+)/(\d+)(?![\d/])"), lambda m: f"{_zh_number(m.group(2))}分之{_zh_number(m.group(1))}"),
    # 10000mAh -> 一万毫安时
    (_ZH_UNIT_RE, lambda m: _zh_number(m.group(1)) + _ZH_UNITS[m.group(2)]),
    # S3 / M10 / K2 -> S三 / M十 / K二 (letters stay for the English voice)
    (re.compile(r"(?<![A-Za-z\d])([A-Za-z]{1,6})-?(\d+)(?![\d.])"), _zh_model),
    # chat slang: 666 / 8888 / 23333 are read digit by digit, not as amounts
    (re.compile(r"(?<![\d.,])(?:(\d)\1{2,}|2333+)(?![\d.,])(?!\s*[元块件个台套份%])"),
     lambda m: cn2an.an2cn(m.group(0), "direct")),
    # 2个 -> 两个
    (re.compile(rf"(?<![\d.])2(?=\s*(?:{'|'.join(_ZH_MEASURE_FOR_LIANG)}))"), lambda m: "两"),
    (re.compile(rf"(?<![\w.])-({_NUM})"), lambda m: "负" + _zh_number(m.group(1))),
    (re.compile(_NUM), lambda m: _zh_number(m.group(0))),
    (re.compile(r"\s*&\s*"), lambda m: "和"),
    (re.compile(r"(?<=\S)\s*\+\s*(?=\S)"), lambda m: "加"),
    (re.compile(r"\s*=\s*"), lambda m: "等于"),
    (re.compile(r"[#*_/\\|^<>@~]+"), lambda m: " "),
]


def normalize_zh(text: str) -> str:
    """Written Chinese (with Latin words) to speakable Chinese."""
    for pattern, repl in _ZH_RULES:
        text = pattern.sub(repl, text)
    return _SPACES_RE.sub(" ", text).strip()


# --- English ------------------------------------------------------------------------------------------
_MONTHS = "January February March April May June July August September October November December".split()
_MONTH_ABBR = {m[:3].lower(): m for m in _MONTHS}
_EN_UNITS = {  # unit -> (singular, plural)
    "mAh": ("milliamp hour", "milliamp hours"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"), "g": ("gram", "grams"),
    "km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
    "nm": ("nanometer", "nanometers"), "m": ("meter", "meters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "mL": ("milliliter", "milliliters"), "L": ("liter", "liters"),
    "kW": ("kilowatt", "kilowatts"), "W": ("watt", "watts"), "V": ("volt", "volts"), "kHz": ("kilohertz", "kilohertz"),
    "Hz": ("hertz", "hertz"), "TB": ("terabyte", "terabytes"), "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"), "h": ("hour", "hours"), "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"), "ms": ("millisecond", "milliseconds"),
    "s": ("second", "seconds"), "sec": ("second", "seconds"), "ATM": ("atmosphere", "atmospheres"),
    "atm": ("atmosphere", "atmospheres"), "mph": ("mile per hour", "miles per hour"), "dB": ("decibel", "decibels"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
}
_EN_UNIT_RE = re.compile(
    rf"(?<![\w.])(-?{_NUM})\s*({'|'.join(sorted((re.escape(u) for u in _EN_UNITS), key=len, reverse=True))})(?![A-Za-z])"
)
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "¥": ("yuan", "yuan", "fen", "fen"),
               "€": ("euro", "euros", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence")}


def _en_money(m: re.Match) -> str:
    symbol, amount, scale = m.group(1), m.group(2).replace(",", ""), (m.group(3) or "").lower()
    one, many, sub_one, sub_many = _CURRENCIES[symbol]
    if scale:
        word = {"k": "thousand", "m": "million", "b": "billion"}[scale[0]]
        return f"{en.decimal(amount)} {word} {many}"
    whole, _, frac = amount.partition(".")
    units = int(whole or "0")
    cents = int((frac + "00")[:2]) if frac else 0
    parts = []
    if units or not cents:
        parts.append(f"{en.cardinal(units)} {one if units == 1 else many}")
    if cents:
        parts.append(f"{en.cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return " ".join(parts)


def _en_unit(m: re.Match) -> str:
    value, unit = m.group(1), m.group(2)
    singular, plural = _EN_UNITS[unit]
    return f"{en.decimal(value)} {singular if value in ('1', '-1') else plural}"


def _en_time(m: re.Match) -> str:
    hour, minute, suffix = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower().replace(".", "")
    if not suffix and hour > 12:
        hour, suffix = hour - 12, "pm"
    elif not suffix and hour == 0:
        hour, suffix = 12, "am"
    elif suffix and hour > 12:
        hour -= 12
    words = en.cardinal(hour)
    if minute:
        words += " " + (f"oh {en.cardinal(minute)}" if minute < 10 else en.cardinal(minute))
    elif not suffix:
        words += " o'clock"
    if suffix:
        words += " " + suffix.upper().replace("AM", "A M").replace("PM", "P M")
    return words


def _en_date_iso(m: re.Match) -> str:
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= month <= 12:
        return m.group(0)
    return f"{_MONTHS[month - 1]} {en.ordinal(day)}, {en.year(year)}"


def _en_date_us(m: re.Match) -> str:
    month, day, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= month <= 12:
        return m.group(0)
    return f"{_MONTHS[month - 1]} {en.ordinal(day)}, {en.year(year)}"


def _en_date_named(m: re.Match) -> str:
    month = _MONTH_ABBR[m.group(1)[:3].lower()]
    out = f"{month} {en.ordinal(int(m.group(2)))}"
    if m.group(3):
        out += f", {en.year(int(m.group(3)))}"
    return out


def _en_model(m: re.Match) -> str:
    letters, number = m.group(1), m.group(2)
    spoken = en.cardinal(int(number)) if len(number) <= 2 or not number.startswith("0") else en.digits(number)
    return f"{' '.join(letters) if letters.isupper() and len(letters) <= 3 else letters} {spoken}"


def _en_number(m: re.Match) -> str:
    text = m.group(0).replace(",", "")
    bare = text.lstrip("-")
    if "." not in bare and (len(bare) >= 7 or (len(bare) > 1 and bare.startswith("0"))):
        return en.digits(bare)
    return en.decimal(text)


_MONTH_NAMES = r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_EN_RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)"), _en_date_iso),
    (re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/(\d{4})(?!\d)"), _en_date_us),
    (re.compile(rf"\b{_MONTH_NAMES}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?"), _en_date_named),
    (re.compile(r"(?<![\d:])(\d{1,2}):([0-5]\d)(?!\d)\s*([ap]\.?m\.?(?![a-z]))?", re.I), _en_time),
    (re.compile(r"(?<![\d:])(\d{1,2})()\s*([ap]\.?m\.?(?![a-z]))", re.I), _en_time),
    (re.compile(rf"(-?{_NUM})\s*(?:°\s*C|℃)"), lambda m: f"{en.decimal(m.group(1))} degrees Celsius"),
    (re.compile(rf"(-?{_NUM})\s*(?:°\s*F|℉)"), lambda m: f"{en.decimal(m.group(1))} degrees Fahrenheit"),
    (re.compile(rf"(-?{_NUM})\s*°"), lambda m: f"{en.decimal(m.group(1))} degrees"),
    (re.compile(rf"([$¥€£])\s*({_NUM})\s*([kKmMbB](?:n|illion)?\b)?"), _en_money),
    (re.compile(rf"({_NUM})\s*%"), lambda m: f"{en.decimal(m.group(1))} percent"),
    (re.compile(r"\b(\d+)(st|nd|rd|th)\b"), lambda m: en.ordinal(int(m.group(1)))),
    (re.compile(r"\b(in|since|from|by|of|year|until|before|after)\s+(1[89]\d\d|20\d\d)\b", re.I),
     lambda m: f"{m.group(1)} {en.year(int(m.group(2)))}"),
    (re.compile(rf"(?<![\d.\w])({_NUM})\s*[-–~]\s*({_NUM})(?![\d.])"), lambda m: f"{m.group(1)} to {m.group(2)}"),
    (_EN_UNIT_RE, _en_unit),
    (re.compile(r"#\s*(\d+)"), lambda m: f"number {m.group(1)}"),
    # S3 / A2 / M10 / RTX-4090 -> S three / A two / M ten
    (re.compile(r"\b([A-Za-z]{1,6})-?(\d+)\b"), _en_model),
    # 10K -> ten K
    (re.compile(r"\b(\d+)([A-Z]{1,2})\b"), lambda m: f"{en.cardinal(int(m.group(1)))} {' '.join(m.group(2))}"),
    (re.compile(rf"(?<![\w.])-?{_NUM}"), _en_number),
    (re.compile(r"\s*&\s*"), lambda m: " and "),
    (re.compile(r"(?<=\S)\s*\+\s*(?=\S)"), lambda m: " plus "),
    (re.compile(r"\s*=\s*"), lambda m: " equals "),
    (re.compile(r"\s*@\s*"), lambda m: " at "),
    (re.compile(r"[#*_\\|^<>~]+"), lambda m: " "),
    (re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])"), lambda m: " or "),
]


def normalize_en(text: str) -> str:
    """Written English to speakable English."""
    for pattern, repl in _EN_RULES:
        text = pattern.sub(repl, text)
    return _SPACES_RE.sub(" ", text).strip()


def normalize_for_speech(text: str, language: str | None = None, default_language: str = "en") -> str:
    """The words to speak for ``text``; ``language`` 'zh' | 'en' | None (detect; ``default_language`` for '666')."""
    text = clean_text(text)
    lang = language if language in ("zh", "en") else detect_language(text, default_language)
    return normalize_zh(text) if lang == "zh" else normalize_en(text)
