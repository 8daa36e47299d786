"""Knowledge store: schema = migrations, pragmas, state across restarts, events, viewers, threads."""
from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from knowledge.importer import parse_paths
from knowledge.models import Base
from knowledge.sample_shop import fixtures_dir
from knowledge.store import Store, StoreError


@pytest.fixture
def store(tmp_path):
    s = Store.open(f"sqlite:///{tmp_path / 'var' / 'host.db'}")
    yield s
    s.close()


def _import_zh(store):
    store.apply_import(parse_paths([fixtures_dir() / "shop_zh" / "knowledge.yaml"]), embedder=None)


def test_migrations_match_the_models_and_sqlite_pragmas_are_on(store, tmp_path):
    assert (tmp_path / "var" / "host.db").exists()  # the folder was created
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    store.migrate()  # idempotent


def test_bad_url_is_one_clear_error():
    with pytest.raises(StoreError, match="knowledge.db_url"):
        Store.open("not a url at all")


def test_state_survives_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    s = Store.open(url)
    _import_zh(s)
    s.set_current_product("p-earbuds-a2")
    s.mute(3456789)
    s.mute(4567890)
    s.unmute(4567890)
    s.set_paused(True)
    with pytest.raises(StoreError, match="unknown product"):
        s.set_current_product("p-nope")
    s.close()
    s = Store.open(url)
    product = s.current_product()
    assert product is not None and product.id == "p-earbuds-a2"
    assert product.price == 229 and product.list_price == 299 and product.stock == 860
    assert "A2" in product.aliases and product.specs["游戏模式"] == "开启后延迟约60ms"
    assert s.muted_uids() == {3456789}
    assert s.is_paused() is True
    assert s.store_profile()["persona"]["name"] == "小禾"
    s.close()


def test_events_utterances_audit_and_moderation(store):
    raw = {"cmd": "DANMU_MSG", "info": [[0], "包邮吗", [51234987, "豆豆妈妈", 0]]}
    eid = store.add_event("danmaku", ts=100.0, uid=51234987, uname="豆豆妈妈", text="包邮吗", raw=raw,
                          source="replay", room_id=22637261)
    assert store.events()[0].raw == raw and store.events()[0].id == eid
    uid_ = store.start_utterance("answer", "包邮的家人们！中国大陆全店包邮。", target_uid=51234987,
                                 reason="question", event_id=eid, ts=101.0)
    store.finish_utterance(uid_, text_played="包邮的家人们！", played_fraction=0.4, interrupted=True)
    u = store.recent_utterances(target_uid=51234987)[0]
    assert (u.text_played, u.played_fraction, u.interrupted) == ("包邮的家人们！", 0.4, True)
    assert store.recent_turns(51234987) == [("viewer", "包邮吗"), ("host", "包邮的家人们！")]
    store.add_admin_audit("/mute", uid=71234400, uname="杠精本杠", args="10001", allowed=False,
                          outcome="not an admin")
    assert store.admin_audit()[0]["allowed"] is False
    store.log_moderation("in", "加我vx领红包", "blocked", reason="contact:vx", uid=3456789)
    assert store.moderation_log()[0]["reason"] == "contact:vx"
    with pytest.raises(StoreError):
        store.finish_utterance(9999, text_played="", played_fraction=0)


def test_chat_events_are_stored_with_the_viewer(store):
    from danmaku.events import ChatEvent, EventKind

    gift = ChatEvent(kind=EventKind.GIFT, platform="bilibili", room=22637261, uid=7, uname="小刘", timestamp=5.0,
                     gift_name="星愿水晶球", gift_count=2, gift_value_cny=20.0, raw={"cmd": "SEND_GIFT"})
    comment = ChatEvent(kind=EventKind.COMMENT, platform="bilibili", room=22637261, uid=7, uname="小刘",
                        text="主播好", timestamp=6.0, raw={"cmd": "DANMU_MSG"})
    eid = store.add_chat_event(gift)
    store.add_chat_event(comment)
    first = store.events()[0]
    assert (first.id, first.kind, first.amount, first.raw, first.uid) == (eid, "gift", 20.0, {"cmd": "SEND_GIFT"}, 7)
    viewer = store.get_viewer(7)
    assert viewer.messages == 1 and viewer.gift_total == 20.0


def test_viewer_visits_names_gifts_and_facts(store):
    store.record_viewer_seen(28374651, "阿远", ts=1000.0, message=True)
    store.record_viewer_seen(28374651, "阿远爱夜跑", ts=1100.0, message=True, gift_cny=50)
    v = store.record_viewer_seen(28374651, "阿远爱夜跑", ts=1100.0 + 3 * 3600)
    assert (v.visits, v.messages, v.gift_total) == (2, 2, 50.0)
    assert v.names_seen == ["阿远", "阿远爱夜跑"] and v.uname == "阿远爱夜跑"
    assert store.add_viewer_fact(28374651, "location", "成都", "我在成都") is True
    assert store.add_viewer_fact(28374651, "location", "成都", "我在成都") is False  # no duplicates
    assert [f.value for f in store.viewer_facts(28374651)] == ["成都"]
    store.forget_viewer(28374651)
    assert store.get_viewer(28374651) is None and store.viewer_facts(28374651) == []


def test_concurrent_writers_from_threads(store):
    errors = []

    def writer(n):
        try:
            for i in range(40):
                store.add_event("danmaku", uid=n, text=f"{n}-{i}")
                store.record_viewer_seen(n, f"u{n}", message=True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count_events() == 160
    assert all(store.get_viewer(n).messages == 40 for n in range(4))


async def test_arun_offloads_to_a_thread(store):
    eid = await store.arun(store.add_event, "enter", uid=1)
    assert store.events()[0].id == eid
