"""Ads and contact details in chat: URLs, phone numbers, WeChat/QQ handles, "加V"-style solicitation."""
from __future__ import annotations

import re
import unicodedata

from danmaku.moderation.text_keys import strip_invisible, to_simplified

# Chinese numerals spell phone numbers too (一三八...).
_CN_DIGITS = str.maketrans("〇零一二三四五六七八九壹贰叁肆伍陆柒捌玖", "0012345678912345678 9".replace(" ", ""))

URL = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|(?<![a-z0-9.@])[a-z0-9][a-z0-9-]{0,62}\.(?:com|cn|net|org|top|xyz|cc|io|me|vip|shop|info|invalid|link|club|site|online|tv|app|ly|gg)(?![a-z0-9])(?:/\S*)?"
)
PHONE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)|(?<!\d)0\d{2,3}\d{7,8}(?!\d)")
# Handles after a CJK keyword are searched with all spacing removed (微 信：abc123); after a latin keyword
# only with word boundaries, so English prose ("wow x factor") never glues into one.
HANDLE_CJK = re.compile(r"(?:微信|威信|薇信|v信|维信|扣扣|企鹅|q号)(?:号|id)?[:：是为]?[a-z0-9][-_a-z0-9]{4,19}")
HANDLE_LATIN = re.compile(
    r"(?<![a-z0-9])(?:wx|vx|weixin|wechat|qq|telegram|whatsapp|discord|snapchat|line)(?:\s*(?:id|号))?\s*[:：=]?\s*"
    r"(?:[a-z][-_a-z0-9]{5,19}|\d{5,11})(?![a-z0-9])"
)
# Disguised spellings of WeChat are themselves a contact offer: plain 微信 is everyday talk (微信支付).
DISGUISED_WECHAT = re.compile(r"v信|薇信|徽信|维信|wei信|微x|威xin|(?<![a-z])(?:vx|wx|weixin|vxin)(?![a-z])")
SOLICIT = re.compile(
    r"(?:加|➕|\+|添加|联系|私信|滴滴|私)我?(?:的)?(?:vx|wx|v(?![a-z])|微信|薇|q(?![a-z])|qq|扣扣|企鹅)"
    r"|\b(?:add|dm|message|text|contact|whatsapp|telegram)\s+me\b"
    r"|t\.me/|discord\.gg/"
)


def _compact(text: str) -> str:
    """Fold width/case, drop invisible characters and all spacing/punctuation between characters."""
    folded = unicodedata.normalize("NFKC", to_simplified(strip_invisible(text))).casefold().translate(_CN_DIGITS)
    return "".join(c for c in folded if c.isalnum() or c in "+➕")


def find_contact(text: str) -> tuple[str, str] | None:
    """The first ad/contact in ``text`` as (kind, matched text): kind is url, phone, handle or solicitation."""
    spaced = unicodedata.normalize("NFKC", strip_invisible(text)).casefold()
    m = URL.search(spaced)
    if m:
        return "url", m.group(0)
    m = HANDLE_LATIN.search(spaced)
    if m:
        return "handle", m.group(0)
    m = SOLICIT.search(spaced) or DISGUISED_WECHAT.search(spaced)
    if m:
        return "solicitation", m.group(0)
    compact = _compact(text)
    for kind, pattern in (("phone", PHONE), ("handle", HANDLE_CJK), ("solicitation", SOLICIT),
                          ("solicitation", DISGUISED_WECHAT)):
        m = pattern.search(compact)
        if m:
            return kind, m.group(0)
    return None


def remove_contacts(text: str) -> str:
    """``text`` with URLs, phone numbers and handles cut out (for the output guard's clean text)."""
    text = URL.sub("", text)
    text = PHONE.sub("", text)
    return HANDLE_LATIN.sub("", HANDLE_CJK.sub("", text)).strip()
