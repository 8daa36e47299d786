"""The optional danmaku sender: splitting, pacing and bilibili's error codes, through the real library."""
from __future__ import annotations

import pytest

from danmaku.sender import CODE_TOO_FAST, CODE_TOO_LONG, DanmakuSender, SendError, split_for_danmaku
from danmaku.settings import BilibiliSourceSettings, SenderSettings
from tests.bili_server import BiliLiveServer

pytestmark = pytest.mark.timeout(60)


def test_split_at_punctuation() -> None:
    text = "欢迎来到直播间！今天给大家介绍青禾智能手表S3，续航十天，支持游泳。有问题随时问我"
    pieces = split_for_danmaku(text, 20)
    assert all(len(p) <= 20 for p in pieces)
    assert "".join(pieces) == text.replace(" ", "")
    assert pieces[0] == "欢迎来到直播间！"
    assert split_for_danmaku("a" * 45, 20) == ["a" * 20, "a" * 20, "a" * 5]
    assert split_for_danmaku("", 20) == []


async def test_pacing_and_no_repeat() -> None:
    import time

    sent: list[tuple[float, str]] = []

    async def post(text: str) -> None:
        sent.append((time.monotonic(), text))

    s = DanmakuSender(post, max_chars=20, min_interval_s=0.2)
    await s.send("谢谢大家！谢谢大家！欢迎新朋友")
    await s.send("欢迎新朋友")
    assert [t for _at, t in sent] == ["谢谢大家！", "欢迎新朋友"]  # never the same text twice in a row
    assert s.counts["repeat_skipped"] == 2
    assert sent[1][0] - sent[0][0] >= 0.19


async def test_error_codes_with_a_fake_post() -> None:
    calls: list[str] = []
    script = [SendError(CODE_TOO_FAST), SendError(CODE_TOO_LONG), None, None, None, SendError(-101, "not logged in")]

    async def post(text: str) -> None:
        calls.append(text)
        outcome = script.pop(0) if script else None
        if outcome:
            raise outcome

    s = DanmakuSender(post, max_chars=20, min_interval_s=0, too_fast_backoff_s=0.05)
    out = await s.send("这句话有点长需要被拆分")
    assert calls[0] == calls[1] == "这句话有点长需要被拆分"  # retried after "too fast"
    assert "".join(out) == "这句话有点长需要被拆分" and all(len(p) <= 5 for p in out)  # split shorter
    assert s.counts["too_fast"] == 1 and s.counts["too_long"] == 1
    assert await s.send("第二句") == [] and s.counts["failed"] == 1


async def test_sender_through_library_against_local_server() -> None:
    srv = await BiliLiveServer().start()
    try:
        srv.send_responses = [{"code": CODE_TOO_FAST, "message": "msg in 1s"},
                              {"code": CODE_TOO_LONG, "message": "超出限制长度"}]
        room = BilibiliSourceSettings(room=22637261, api_base=srv.api_base, ws_url=srv.ws_url)
        sender = DanmakuSender.for_bilibili(SenderSettings(enabled=True, min_interval_s=0.1, too_fast_backoff_s=0.1),
                                            room, env={"BILI_SESSDATA": "fake-sessdata", "BILI_JCT": "fake-jct"})
        out = await sender.send("感谢阿远的舰长，欢迎上船！")
        posted = [d["msg"] for d in srv.sent_danmaku]
        assert posted[0] == posted[1] == "感谢阿远的舰长，欢迎上船！"
        assert "".join(out) == "感谢阿远的舰长，欢迎上船！" and all(len(p) <= 6 for p in out)
        assert all(d["roomid"] == "22637261" and d["csrf"] == "fake-jct" for d in srv.sent_danmaku)
        with pytest.raises(ValueError, match="BILI_SESSDATA"):
            DanmakuSender.for_bilibili(SenderSettings(enabled=True), room, env={})
    finally:
        await srv.stop()
        from danmaku.sources.bilibili_client import close_client_for_this_loop

        await close_client_for_this_loop()
