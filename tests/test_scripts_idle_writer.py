"""LLM-written idle lines: the openai SDK against a local OpenAI-compatible server (real HTTP + SSE)."""
from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openai import AsyncOpenAI

from scripts_library.idle_filler import IdleFiller
from scripts_library.idle_writer import IdleLineWriter
from scripts_library.knowledge_file import load_products
from scripts_library.speaking_values import SpeakingValues
from tests.openai_server import OpenAIServer, Reply

SHOP = Path("/work/shared/fixtures/shop_zh")


def _stream_text(base_url: str):
    client = AsyncOpenAI(base_url=base_url, api_key="test-key", max_retries=0, timeout=10)

    async def stream_text(messages):
        stream = await client.chat.completions.create(model="test-model", messages=messages, stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    return stream_text


@pytest.fixture
def products():
    return load_products(SHOP / "knowledge.yaml")


async def test_writer_keeps_good_lines_and_refuses_invented_numbers_and_links(products):
    replies = [
        Reply(text="“家人们，S3手表典型使用14天长续航，出差一周都不用带充电器！”"),
        Reply(text="S3今天只要199元，赶紧下单！"),  # an invented price
        Reply(text="想了解更多请看 http://example.invalid/s3 哦。"),
        Reply(text="游泳洗手都不用摘，5ATM防水很安心。后面还有第二句话不要了。"),
    ]
    with OpenAIServer(replies=replies) as server:
        writer = IdleLineWriter(_stream_text(server.base_url), language="zh")
        s3 = products["p-watch-s3"]
        lines = [await writer(s3) for _ in range(4)]
        prompt = server.requests[0]["messages"]
    assert lines[0] == "家人们，S3手表典型使用14天长续航，出差一周都不用带充电器！"
    assert lines[1] is None and lines[2] is None and writer.refused == 2
    assert lines[3] == "游泳洗手都不用摘，5ATM防水很安心。"  # one sentence only
    assert prompt[0]["role"] == "system" and "不要提价格" in prompt[0]["content"]
    facts = prompt[1]["content"]
    assert "青禾智能手表 S3" in facts and "5ATM" in facts
    assert "599" not in facts and "320" not in facts  # price and stock go stale: never in the prompt
    assert await writer(None) is None


async def test_idle_filler_buffers_llm_lines_from_the_server(products):
    replies = [Reply(text="这款台灯的光线很柔和，晚上看书眼睛更舒服。"),
               Reply(text="台灯只要9块9！"),
               Reply(text="护眼台灯能自动调光，写作业的小朋友用起来很方便。")]
    with OpenAIServer(replies=replies) as server:
        writer = IdleLineWriter(_stream_text(server.base_url), language="zh")
        values = SpeakingValues(products.get, lambda: 41, now=lambda: datetime(2024, 11, 16, 20, tzinfo=ZoneInfo("Asia/Shanghai")),
                                current_product_id=lambda: "p-lamp-l5")
        filler = IdleFiller([], values, generator=writer, llm_buffer=2, rng=random.Random(1))
        await filler.refill()
        assert len(server.requests) == 3  # the refused line was replaced by another request
    first = filler.due(10.0, True, 0.0)
    second = filler.due(30.0, True, 20.0)
    assert first.kind == second.kind == "generated" and first.product_id == "p-lamp-l5"
    assert {first.text, second.text} == {replies[0].text, replies[2].text}
    assert filler.stats.llm_rejected == 1


async def test_writer_timeout_and_server_errors_surface_to_the_filler(products):
    with OpenAIServer(replies=[Reply(first_token_delay_s=3.0, text="太慢了。"), Reply(status=500)]) as server:
        writer = IdleLineWriter(_stream_text(server.base_url), language="zh", timeout_s=0.5)
        with pytest.raises(TimeoutError, match="no idle line within"):
            await writer(products["p-watch-s3"])
        values = SpeakingValues(products.get, current_product_id=lambda: "p-watch-s3")
        filler = IdleFiller([], values, generator=writer)
        await filler.refill()  # HTTP 500: counted, the filler keeps working without LLM lines
    assert filler.stats.llm_errors == 1 and filler.due(10.0, True, 0.0) is None


async def test_english_prompt_and_word_limit():
    products = load_products(Path("/work/shared/fixtures/shop_en/knowledge.yaml"))
    long_line = " ".join(["great"] * 60) + "."
    with OpenAIServer(replies=[Reply(text="The Volt 10K charges two devices at once. Handy!"), Reply(text=long_line)]) as srv:
        writer = IdleLineWriter(_stream_text(srv.base_url), language="en", host_name="Nova")
        assert await writer(products["p-volt-10k"]) == "The Volt 10K charges two devices at once."
        assert await writer(products["p-volt-10k"]) is None  # too long
        system = srv.requests[0]["messages"][0]["content"]
    assert system.startswith("You are Nova,") and "no prices" in system


async def test_service_builds_the_writer_from_an_llm_stream(tmp_path, products):
    from scripts_library.service import ScriptsService
    from scripts_library.settings import ScriptsSettings

    with OpenAIServer(replies=[Reply(text="这款支架折叠起来很小，放包里不占地方。")]) as server:
        svc = ScriptsService(ScriptsSettings(dir=str(SHOP / "scripts"), schedule_enabled=False, idle_llm=True,
                                             idle_llm_share=1.0),
                             product_lookup=products.get, set_current_product=lambda pid: None,
                             get_current_product=lambda: "p-stand-f1", llm_stream_text=_stream_text(server.base_url))
        await svc.idle.refill()
    line = svc.next_line(10.0, True, 0.0)
    assert line.kind == "generated" and "支架" in line.text
