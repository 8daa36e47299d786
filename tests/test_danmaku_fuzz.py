"""Seeded fuzzing: mangled payloads and frames never crash the normalizer or hang the library's parser."""
from __future__ import annotations

import json
import random

import brotli
import pytest
from bilibili_api.live import LiveDanmaku

from danmaku.bilibili_payloads import SkipPayload, normalize_command
from danmaku.sources.bilibili_client import sanitize_frame
from tests.bili_server import OP_MESSAGE, danmu_msg, interact_word_v2, pack, pack_commands
from tests.test_danmaku_bilibili import every_kind

pytestmark = pytest.mark.timeout(60)
JUNK = [None, True, -1, 0, 2**70, 1.5, float("nan"), "", "x" * 5000, "\ud800", [], {}, [1, [2]], {"a": 1}, "12"]


def mutate(obj, rng: random.Random):
    """Replace, drop or retype one random node of a JSON-like value."""
    if isinstance(obj, dict) and obj:
        key = rng.choice(list(obj))
        roll = rng.random()
        if roll < 0.3:
            return {k: v for k, v in obj.items() if k != key}
        out = dict(obj)
        out[key] = rng.choice(JUNK) if roll < 0.6 else mutate(obj[key], rng)
        return out
    if isinstance(obj, list) and obj:
        i = rng.randrange(len(obj))
        out = list(obj)
        roll = rng.random()
        if roll < 0.3:
            return out[:i]
        out[i] = rng.choice(JUNK) if roll < 0.6 else mutate(obj[i], rng)
        return out
    return rng.choice(JUNK)


def test_mutated_payloads_are_normalized_or_skipped() -> None:
    rng = random.Random(20241116)
    seeds = every_kind() + [danmu_msg(1, "u", "hi"), interact_word_v2(3, "v", 2, 1, 1731758400)]
    outcomes = {"ok": 0, "skip": 0}
    for _ in range(3000):
        payload = rng.choice(seeds)
        for _ in range(rng.randint(1, 3)):
            payload = mutate(payload, rng)
        try:
            event = normalize_command(payload, 22637261, now=1.0)
        except SkipPayload as skip:
            assert skip.reason
            outcomes["skip"] += 1
            continue
        outcomes["ok"] += 1
        json.dumps(event.to_dict(), ensure_ascii=False, default=str)  # always serializable
        assert isinstance(event.uid, int) and isinstance(event.text, str) and isinstance(event.uname, str)
        event.text.encode("utf-8")  # no lone surrogates survive
    assert outcomes["ok"] > 100 and outcomes["skip"] > 100


async def test_mangled_frames_never_reach_the_parser_broken() -> None:
    rng = random.Random(7)
    library = LiveDanmaku(22637261)
    library.logger.disabled = True
    good = [pack_commands(every_kind(), 3), pack_commands(every_kind()[:3], 0), pack_commands(every_kind()[3:6], 2),
            pack(json.dumps(danmu_msg(1, "u", "x")).encode(), OP_MESSAGE, 0)]
    results = {"passed": 0, "dropped": 0, "refused": 0}
    for _ in range(1500):
        frame = bytearray(rng.choice(good))
        if frame[6:8] == b"\x00\x03" and rng.random() < 0.5:
            # Mangle inside the compressed body, then recompress, to reach the packet walker.
            inner = bytearray(brotli.decompress(bytes(frame[16:])))
            for _ in range(rng.randint(1, 4)):
                inner[rng.randrange(len(inner))] = rng.randrange(256)
            frame = bytearray(pack(brotli.compress(bytes(inner)), OP_MESSAGE, 3))
        else:
            for _ in range(rng.randint(1, 4)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
            if rng.random() < 0.2:
                frame = frame[: rng.randrange(len(frame))]
        reasons: list[str] = []
        out = sanitize_frame(bytes(frame), reasons.append)
        if out is None:
            results["dropped"] += 1
            continue
        if out == b"":
            results["refused"] += 1
            assert "malformed:frame" in reasons
            continue
        results["passed"] += 1
        # The library's own frame handler (unpack + dispatch) must neither raise nor loop forever.
        await library._LiveDanmaku__handle_data(out)
    assert all(results.values()), results


def test_moderator_survives_random_text() -> None:
    import unicodedata

    from danmaku.moderation import Moderator

    rng = random.Random(99)
    m = Moderator(rate_limit_count=10_000)
    alphabet = ("傻逼加微信vx滚草莓 　\u200b\u200d\ufeff\x00\x07\n\t/:：.，。！？abcXYZ0123456789①②ｆｕｃｋ"
                "\u202e\u0301😀[doge]http://www.")
    for i in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        for verdict in (m.check(text, uid=rng.randint(0, 50), at=float(i)), m.check_outgoing(text)):
            assert verdict.reason
            assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in verdict.clean_text), verdict
            if not verdict.allowed and not verdict.reason.startswith("contact:"):
                assert verdict.clean_text == ""
