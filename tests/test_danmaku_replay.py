"""Replay of the shop fixtures through the whole chat pipeline, and malformed recordings."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from danmaku.events import EventKind
from danmaku.pipeline import ChatPipeline
from danmaku.settings import ChatSettings
from danmaku.sources.replay_source import ReplaySource

FIXTURES = Path("/work/shared/fixtures")
ZH = FIXTURES / "shop_zh" / "danmaku_replay.jsonl"
EN = FIXTURES / "shop_en" / "danmaku_replay.jsonl"
pytestmark = pytest.mark.skipif(not ZH.exists(), reason="shared fixtures not present")


def pipeline_for(path: Path, tmp_path: Path, **admin) -> ChatPipeline:
    settings = ChatSettings.model_validate({"admin": {"uids": [10001], "audit_file": str(tmp_path / "audit.jsonl"),
                                                      **admin}})
    return ChatPipeline.from_settings(settings, ReplaySource(path, speed=0))


def expected_counts(path: Path) -> Counter:
    return Counter(json.loads(line)["cmd"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


@pytest.mark.parametrize("path,total", [(ZH, 417), (EN, 90)])
async def test_every_event_normalized_or_counted(path: Path, total: int, tmp_path: Path) -> None:
    p = pipeline_for(path, tmp_path)
    kinds: Counter = Counter()
    p.on_event.append(lambda e: kinds.update([e.kind]))
    await p.run()
    stats = p.source.stats
    assert stats.received == total
    assert stats.normalized + sum(stats.skipped.values()) == total
    assert stats.normalized == total  # the fixtures are well formed: nothing needs skipping
    cmds = expected_counts(path)
    assert kinds[EventKind.COMMENT] == cmds["DANMU_MSG"]
    assert kinds[EventKind.GIFT] == cmds["SEND_GIFT"]
    assert kinds[EventKind.SUPER_CHAT] == cmds["SUPER_CHAT_MESSAGE"]
    assert kinds[EventKind.GUARD] == cmds["GUARD_BUY"]
    assert kinds[EventKind.LIKE] == cmds["LIKE_INFO_V3_CLICK"]
    assert kinds[EventKind.VIEWER_COUNT] == cmds["WATCHED_CHANGE"] + cmds["ONLINE_RANK_COUNT"]
    assert kinds[EventKind.ENTER] + kinds[EventKind.FOLLOW] + kinds[EventKind.SHARE] == cmds["INTERACT_WORD"]
    # Every event is accounted for by the pipeline, each with a reason.
    assert sum(p.counts[k] for k in p.counts if k != "events") == total
    assert p.counts["events"] == total
    assert p.viewer_count > 0 and p.watched_count > 0


async def test_zh_admin_commands_and_negative_cases(tmp_path: Path) -> None:
    p = pipeline_for(ZH, tmp_path)
    await p.run()
    audit = p.dispatcher.audit.recent(100)
    ran = [(r.actor_uid, r.command, r.result) for r in audit if r.authorized]
    assert ran == [(10001, "say", "queued"), (10001, "mute", "ok"), (10001, "product", "queued"),
                   (10001, "pause", "queued"), (10001, "resume", "queued")]
    denied = [(r.actor_uid, r.raw, r.result) for r in audit if not r.authorized]
    assert denied == [(71234400, "/mute 10001", "denied")]
    assert not p.moderator.is_muted(10001) and p.moderator.is_muted(3456789)
    # The spammer's post after the mute is skipped as muted.
    assert p.counts["skipped:muted"] == 1
    # Audit file has one JSON line per attempt.
    lines = (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and json.loads(lines[0])["args"] == {"text": "大家好，这里是管理员插播"}
    # Director commands wait in the triage queue's admin class, first out, in order.
    first = [p.triage.get_nowait() for _ in range(4)]
    assert [i.command.name.value for i in first] == ["say", "product", "pause", "resume"]
    assert first[1].command.product_id == "p-earbuds-a2"
    # Moderation refused the ads and insults of the recording with reasons.
    refused = {k: v for k, v in p.counts.items() if k.startswith("skipped:")}
    assert refused.get("skipped:contact:solicitation", 0) >= 6  # the vx spammer x5 and the zero-width ad
    assert refused.get("skipped:contact:url", 0) == 2
    assert refused.get("skipped:banned:insult", 0) >= 3
    assert refused.get("skipped:duplicate", 0) >= 4  # the name repeater


async def test_en_admin_commands(tmp_path: Path) -> None:
    p = pipeline_for(EN, tmp_path)
    await p.run()
    audit = p.dispatcher.audit.recent(100)
    assert [(r.actor_uid, r.command) for r in audit if r.authorized] == [
        (10001, "say"), (10001, "mute"), (10001, "product"), (10001, "pause"), (10001, "resume")]
    assert [(r.actor_name, r.raw) for r in audit if not r.authorized] == [("rude_randy", "/pause")]
    assert p.moderator.is_muted(4567890)


async def test_room_admin_flag_policy_without_configured_uid(tmp_path: Path) -> None:
    # No uids configured: the room admin (platform flag) may moderate but not speak or pause.
    p = pipeline_for(ZH, tmp_path, uids=[])
    await p.run()
    audit = p.dispatcher.audit.recent(100)
    by_cmd = {r.command: r.result for r in audit if r.actor_uid == 10001}
    assert by_cmd == {"say": "denied", "mute": "ok", "product": "denied", "pause": "denied", "resume": "denied"}
    p2 = pipeline_for(ZH, tmp_path, uids=[], trust_room_admins=False)
    await p2.run()
    assert all(not r.authorized for r in p2.dispatcher.audit.recent(100))


async def test_accelerated_replay_paces_by_t(tmp_path: Path) -> None:
    import time

    path = tmp_path / "paced.jsonl"
    lines = [{"t": t, "cmd": "ONLINE_RANK_COUNT", "data": {"cmd": "ONLINE_RANK_COUNT", "data": {"count": i}}}
             for i, t in enumerate([0.0, 1.0, 2.0])]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    source = ReplaySource(path, speed=10)
    start = time.monotonic()
    arrivals = []
    async for event in source.events():
        arrivals.append((time.monotonic() - start, event.viewer_count))
    assert [v for _t, v in arrivals] == [0, 1, 2]
    assert arrivals[-1][0] >= 0.19  # 2 s of recording at 10x


async def test_malformed_lines_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = {"t": 0.5, "cmd": "DANMU_MSG", "data": json.loads(ZH.read_text(encoding="utf-8").splitlines()[0])["data"]}
    with path.open("wb") as fh:
        fh.write(b'{"t": 0.1, "cmd": "X"\n')  # not JSON
        fh.write(b'{"t": 0.2, "data": "\xff\xfe"}\n')  # invalid UTF-8
        fh.write(b'[1, 2, 3]\n')  # not an object
        fh.write(b'{"t": "soon", "data": {}}\n')  # bad t
        fh.write(json.dumps({"t": 0.3, "cmd": "NEW_THING", "data": {"cmd": "NEW_THING"}}).encode() + b"\n")
        fh.write(json.dumps({"t": 0.4, "cmd": "SEND_GIFT", "data": {"cmd": "SEND_GIFT", "data": []}}).encode() + b"\n")
        fh.write(b"\n")
        fh.write(json.dumps(good, ensure_ascii=False).encode() + b"\n")
    source = ReplaySource(path, speed=0)
    events = [e async for e in source.events()]
    assert len(events) == 1
    assert dict(source.stats.skipped) == {"malformed:json": 1, "malformed:invalid_utf8": 1, "malformed:record": 2,
                                          "unknown_cmd": 1, "malformed:SEND_GIFT": 1}
    assert source.stats.received == 7


def test_replay_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="chat.replay.file"):
        ReplaySource(tmp_path / "nope.jsonl")


async def test_replay_room_and_recording_time(tmp_path: Path) -> None:
    p = pipeline_for(ZH, tmp_path)
    seen = []
    p.on_event.append(seen.append)
    await p.run()
    assert all(e.room == 22637261 for e in seen)
    # Events without their own timestamp (likes, viewer counts) get their place in the recording.
    start = 1731758400
    records = [json.loads(line) for line in ZH.read_text(encoding="utf-8").splitlines()]
    for event, record in zip(seen, records):
        assert abs(event.timestamp - (start + record["t"])) < 1.0, (event.kind, record["t"])


async def test_names_with_ads_are_not_spoken(tmp_path: Path) -> None:
    from danmaku.events import ChatEvent

    p = pipeline_for(ZH, tmp_path)
    p.triage.gift_window_s = 0
    await p.process(ChatEvent(kind=EventKind.GIFT, platform="bilibili", room=1, uid=77, uname="加vx领福利",
                              gift_name="小花花", gift_count=1, gift_value_cny=0.1))
    await p.process(ChatEvent(kind=EventKind.COMMENT, platform="bilibili", room=1, uid=78, uname="正常观众",
                              text="主播好"))
    items = [p.triage.get_nowait() for _ in range(2)]
    names = {i.uid: i.uname for i in items if i}
    assert names == {77: "", 78: "正常观众"}
    assert p.notes["name_withheld"] == 1


async def test_super_chat_text_is_not_rate_limited(tmp_path: Path) -> None:
    from danmaku.events import ChatEvent

    p = pipeline_for(ZH, tmp_path)
    for i in range(10):  # a chatty viewer hits the rate limit ...
        await p.process(ChatEvent(kind=EventKind.COMMENT, platform="bilibili", room=1, uid=5, uname="话痨",
                                  text=f"第{i}句话", timestamp=1000.0 + i))
    assert p.counts["skipped:rate_limited"] > 0
    # ... and then pays: the super chat's text is still read.
    await p.process(ChatEvent(kind=EventKind.SUPER_CHAT, platform="bilibili", room=1, uid=5, uname="话痨",
                              text="主播看看我的问题", super_chat_price_cny=30, timestamp=1010.0))
    item = p.triage.get_nowait()
    assert item.kind is EventKind.SUPER_CHAT and item.text == "主播看看我的问题"


async def test_viewer_command_floods_do_not_fill_the_audit(tmp_path: Path) -> None:
    from danmaku.events import ChatEvent

    p = pipeline_for(ZH, tmp_path)
    for i in range(20):
        await p.process(ChatEvent(kind=EventKind.COMMENT, platform="bilibili", room=1, uid=66, uname="捣乱",
                                  text="/pause", timestamp=2000.0 + i))
    p.moderator.mute(67)
    await p.process(ChatEvent(kind=EventKind.COMMENT, platform="bilibili", room=1, uid=67, uname="被禁言",
                              text="/resume", timestamp=2000.0))
    audit = p.dispatcher.audit.recent(100)
    assert [(r.actor_uid, r.result) for r in audit] == [(66, "denied")]
    assert p.counts["skipped:duplicate"] == 19 and p.counts["skipped:muted"] == 1
    # An admin's commands are never throttled this way.
    for i in range(3):
        await p.process(ChatEvent(kind=EventKind.COMMENT, platform="bilibili", room=1, uid=10001, uname="房管小李",
                                  text="/status", timestamp=2000.0 + i, is_room_admin=True))
    assert [r.result for r in p.dispatcher.audit.recent(3)] == ["ok", "ok", "ok"]


async def test_anonymous_viewers_are_limited_by_name(tmp_path: Path) -> None:
    from danmaku.events import ChatEvent

    # Without a logged-in credential bilibili sends uid 0 and masked names.
    p = pipeline_for(ZH, tmp_path)
    for i in range(3):
        await p.process(ChatEvent(kind=EventKind.COMMENT, platform="bilibili", room=1, uid=0, uname="用***",
                                  text="主播能念一下我的名字吗", timestamp=3000.0 + i))
    await p.process(ChatEvent(kind=EventKind.COMMENT, platform="bilibili", room=1, uid=0, uname="观***",
                              text="主播能念一下我的名字吗", timestamp=3003.0))
    assert p.counts["skipped:duplicate"] == 2 and p.counts["queued"] == 2
    r = await p.dispatcher.handle_chat(ChatEvent(kind=EventKind.COMMENT, platform="bilibili", room=1, uid=0,
                                                 uname="用***", text="/say hi"))
    assert r.result == "denied"  # uid 0 never matches an admin uid


async def test_looping_replay_moves_forward_in_time(tmp_path: Path) -> None:
    path = tmp_path / "loop.jsonl"
    line = json.loads(ZH.read_text(encoding="utf-8").splitlines()[0])
    path.write_text(json.dumps(line, ensure_ascii=False) + "\n" + json.dumps({**line, "t": 10.0}, ensure_ascii=False)
                    + "\n", encoding="utf-8")
    source = ReplaySource(path, speed=0, loop=True)
    stamps = []
    async for event in source.events():
        stamps.append(event.timestamp)
        if len(stamps) == 6:
            source.stop()
    assert stamps[:6] == sorted(stamps[:6]) and stamps[2] - stamps[0] == 11.0
