"""The director with real parts: stream engine (null sink), espeak TTS, triage, knowledge store, and a brain
whose LLM is a local OpenAI-compatible server. Priorities, interruption at sentence boundaries, /skip,
/pause and /resume, and the record of what was actually played."""
from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from brain.responder import Brain
from brain.settings import BrainSettings, LLMSettings
from configs.models import DirectorSettings
from danmaku.admin.commands import Actor, AdminCommand, CommandName
from danmaku.events import ChatEvent, EventKind
from danmaku.triage import TriageQueue
from host.director import Director
from knowledge.sample_shop import sample_store_file
from knowledge.settings import RetrievalSettings
from knowledge.store import Store
from lipsync.base import IdleRenderer
from speech.settings import CacheSettings, SpeechSettings
from speech.tts import build_tts
from streamer.engine import StreamEngine
from streamer.settings import PreviewSettings, StreamSettings
from streamer.test_pattern import TestPatternAvatar
from tests.openai_server import OpenAIServer, Reply

LONG = ("The Pulse Watch tracks your heart rate all day. It also tracks your sleep every night. "
        "It counts your steps on every walk. It reminds you to stand up each hour.")


@pytest.fixture
def llm():
    with OpenAIServer(replies=[Reply(text=LONG)]) as server:
        yield server


@pytest.fixture
def parts(tmp_path, llm, monkeypatch):
    monkeypatch.setenv("DIRECTOR_TEST_KEY", "sk-local")
    db = tmp_path / "host.db"
    shutil.copy(sample_store_file(tmp_path.parent / "director-kb", shop="en", embeddings=False), db)
    store = Store.open(f"sqlite:///{db}")
    settings = StreamSettings(width=64, height=64, preview=PreviewSettings(enabled=False))
    engine = StreamEngine(settings, TestPatternAvatar(64, 64, 25), IdleRenderer(), null_sink=True)
    tts = build_tts(SpeechSettings(engines=["espeak"], cache=CacheSettings(enabled=False)), 48000, 2)
    brain = Brain(store, BrainSettings(llm=LLMSettings(base_url=llm.base_url, api_key_env="DIRECTOR_TEST_KEY")),
                  retrieval=RetrievalSettings(embeddings=False))
    triage = TriageQueue(capacity=50, gift_window_s=0.0)
    said = []
    director = Director(DirectorSettings(language="en"), engine, tts, triage, brain=brain, store=store,
                        on_said=said.append)
    engine.start()
    yield director, engine, triage, store, said
    engine.stop()
    store.close()


def _question(text: str, uid: int = 42, uname: str = "tech_tom") -> ChatEvent:
    return ChatEvent(kind=EventKind.COMMENT, platform="test", room=1, uid=uid, uname=uname, text=text,
                     timestamp=time.time(), raw={})


async def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_answer_is_addressed_recorded_and_admin_say_interrupts_at_sentence_boundary(parts):
    director, engine, triage, store, said = parts
    task = asyncio.create_task(director.run())
    try:
        triage.put_event(_question("what does the Pulse Watch track?"))
        await _wait_for(lambda: director.current is not None and len(director.current.handles) >= 2)
        triage.put_command(AdminCommand(name=CommandName.SAY, raw="/say Attention please, the draw starts now.",
                                        actor=Actor.console("op"), text="Attention please, the draw starts now."))
        await _wait_for(lambda: len(said) >= 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    answer, admin = said[0], said[1]
    assert answer.utterance.reason == "answer" and admin.utterance.reason == "admin_say"
    # The answer opens with the LLM's first sentence; the viewer is named in the next part.
    assert answer.planned[:2] == ["The Pulse Watch tracks your heart rate all day.",
                                  "tech_tom, It also tracks your sleep every night."]
    assert answer.interrupted
    assert len(answer.planned) < 4  # the rest of the answer gave way to the admin at a sentence boundary
    assert answer.played_text().startswith("The Pulse Watch tracks your heart rate all day. tech_tom, It also")
    assert "reminds you to stand up" not in answer.played_text()
    assert "Attention please" in admin.played_text()
    assert all(h.played_samples == h.total_samples for h in answer.handles)  # whole sentences, no cut
    rows = {u.reason: u for u in store.recent_utterances(limit=10)}
    assert rows["answer"].text_played == answer.played_text() and rows["answer"].interrupted
    assert rows["answer"].text_planned.startswith("The Pulse Watch tracks your heart rate all day. tech_tom,")
    assert rows["admin_say"].played_fraction == pytest.approx(1.0)


async def test_skip_is_immediate_and_records_only_what_played(parts):
    director, engine, triage, store, said = parts
    task = asyncio.create_task(director.run())
    try:
        triage.put_event(_question("what does the Pulse Watch track?"))
        await _wait_for(lambda: engine.speaking is not None and director.current is not None
                        and len(director.current.handles) >= 2)
        await asyncio.sleep(0.5)
        skipped_at = time.monotonic()
        director.skip()
        await _wait_for(lambda: engine.speaking is None, timeout=5)
        quiet_after = time.monotonic() - skipped_at
        await _wait_for(lambda: said)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert quiet_after < 1.0  # fade of a few frames, not the rest of the sentence
    spoken = said[0]
    assert spoken.interrupted
    assert spoken.played_fraction() < 1.0
    assert "reminds you to stand up" not in spoken.played_text()
    row = store.recent_utterances(limit=1)[0]
    assert row.played_fraction < 1.0 and row.text_played == spoken.played_text()


async def test_pause_holds_the_queue_until_resume(parts):
    director, engine, triage, store, said = parts
    director.pause()
    assert store.is_paused()  # survives a restart
    task = asyncio.create_task(director.run())
    try:
        triage.put_event(_question("does the watch work with an iPhone?"))
        await asyncio.sleep(2.0)
        assert not said and engine.speaking is None and len(triage) == 1
        director.resume()
        await _wait_for(lambda: said)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert said[0].utterance.reason == "answer"
    assert not store.is_paused()


async def test_a_gift_never_cuts_in_before_the_viewer_is_named(parts, llm):
    director, engine, triage, store, said = parts
    # The first sentence comes at once, the rest 1.5 s later: the gift is waiting when the second part comes.
    first, rest = LONG.split(". ", 1)
    llm.replies = [Reply(chunks=[first + ". ", rest], chunk_delay_s=1.5)]
    task = asyncio.create_task(director.run())
    try:
        triage.put_event(_question("what does the Pulse Watch track?"))
        await _wait_for(lambda: director.current is not None and director.current.planned)
        gift = ChatEvent(kind=EventKind.GIFT, platform="test", room=1, uid=7, uname="coffee_cat", gift_name="Cheer",
                         gift_count=5, gift_value_cny=0.5, timestamp=time.time(), raw={})
        triage.put_event(gift)
        await _wait_for(lambda: len(said) >= 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    answer, thanks = said[0], said[1]
    assert thanks.utterance.reason == "gift" and "coffee_cat" in thanks.played_text()
    # The gift waited past the first sentence's boundary until the viewer had been named.
    assert answer.planned == ["The Pulse Watch tracks your heart rate all day.",
                              "tech_tom, It also tracks your sleep every night."]
    assert answer.interrupted and answer.played_text().endswith("tech_tom, It also tracks your sleep every night.")


async def test_a_slow_llm_gets_the_viewer_named_first(parts, llm):
    director, engine, triage, store, said = parts
    director.settings = director.settings.model_copy(update={"name_first_wait_s": 0.2})
    llm.replies = [Reply(text=LONG, first_token_delay_s=1.5)]
    task = asyncio.create_task(director.run())
    try:
        triage.put_event(_question("what does the Pulse Watch track?"))
        await _wait_for(lambda: director.current is not None and director.current.planned)
        assert director.current.planned == ["tech_tom,"]  # said while the LLM was still silent
        await _wait_for(lambda: director.current is not None and len(director.current.planned) >= 2)
        assert director.current.planned[1] == "The Pulse Watch tracks your heart rate all day."
        director.skip()
        await _wait_for(lambda: said)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert said[0].interrupted and "reminds you to stand up" not in said[0].played_text()


async def test_a_one_sentence_answer_names_the_viewer_at_the_end(parts, llm):
    director, engine, triage, store, said = parts
    llm.replies = [Reply(text="The Pulse Watch is 89 dollars in this live room.")]
    task = asyncio.create_task(director.run())
    try:
        triage.put_event(_question("how much is the Pulse Watch?"))
        await _wait_for(lambda: said)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert said[0].planned == ["The Pulse Watch is 89 dollars in this live room.", "Hope that helps, tech_tom!"]
    assert not said[0].interrupted


async def test_an_answer_with_nothing_sayable_does_not_hold_up_the_next(parts, llm):
    director, engine, triage, store, said = parts
    # Every sentence of the first reply is refused (a price the facts do not hold); the second is fine.
    llm.replies = [Reply(text="The Pulse Watch costs 12345 dollars today."), Reply(text=LONG)]
    task = asyncio.create_task(director.run())
    try:
        triage.put_event(_question("how much is the Pulse Watch?", uid=1, uname="first_viewer"))
        await asyncio.sleep(0.5)
        triage.put_event(_question("what does the Pulse Watch track?"))
        await _wait_for(lambda: said, timeout=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert said[0].utterance.uid == 42 and "tech_tom" in said[0].played_text()
    assert not any("first_viewer" in s.played_text() for s in said)
