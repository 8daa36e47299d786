"""ScriptRunner: order after interruptions, values read at speaking time, skipped segments."""
from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from scripts_library.knowledge_file import load_products
from scripts_library.runner import ScriptRunner
from scripts_library.script_file import load_library
from scripts_library.segment_template import AlternativePicker
from scripts_library.speaking_values import SpeakingValues

FIXTURES = Path("/work/shared/fixtures")


def _ten_segment_library(tmp_path: Path, product_id: str = "p-watch-s3"):
    body = "\n---\n".join(f"[第{i}段|Segment {i}] 还剩{{stock}}件" for i in range(10))
    (tmp_path / "ten.md").write_text(f"---\nproduct_id: {product_id}\ntitle: ten\nevery: 15m\n---\n{body}\n",
                                     encoding="utf-8")
    (tmp_path / "other.md").write_text("---\nproduct_id: p-earbuds-a2\ntitle: other\n---\nA\n---\nB\n", encoding="utf-8")
    return load_library(tmp_path)


def _products():
    return {pid: dict(p) for pid, p in load_products(FIXTURES / "shop_zh" / "knowledge.yaml").items()}


def test_interruption_and_resumption_order_over_ten_segments(tmp_path):
    products = _products()
    runner = ScriptRunner(_ten_segment_library(tmp_path), SpeakingValues(products.get),
                          AlternativePicker(random.Random(1)))
    assert runner.enqueue("ten")
    assert not runner.enqueue("ten")  # already queued: a schedule firing twice does not double it
    runner.enqueue("other")
    heard: list[tuple[str, int]] = []
    cut_at = {2, 5, 9}  # a higher-priority answer cuts these segments mid-way
    never_started = {7}  # dropped from the director's queue before it reached the air
    retried = set()
    while (line := runner.next_segment()) is not None:
        assert runner.next_segment() is None  # one line out at a time: order cannot break
        if line.script_id == "ten" and line.segment_index in never_started and line.segment_index not in retried:
            retried.add(line.segment_index)
            runner.interrupted(line, started=False)
            continue
        heard.append((line.script_id, line.segment_index))
        if line.script_id == "ten" and line.segment_index in cut_at:
            assert runner.interrupted(line)
            assert not runner.mark_spoken(line)  # a late report for the same line changes nothing
        else:
            assert runner.mark_spoken(line)
    ten = [i for s, i in heard if s == "ten"]
    assert ten == list(range(10))  # each cut segment is followed by the next one, never a restart
    assert heard[-2:] == [("other", 0), ("other", 1)]  # the next script waits for the first to finish
    assert runner.stats.interrupted == 4 and runner.stats.spoken == 7 + 2
    assert not runner.busy


def test_resume_after_interruption_with_answers_in_between(tmp_path):
    products = _products()
    runner = ScriptRunner(_ten_segment_library(tmp_path), SpeakingValues(products.get))
    runner.enqueue("ten")
    first = runner.next_segment()
    runner.mark_spoken(first)
    second = runner.next_segment()
    runner.interrupted(second)
    # ...the director speaks three answers; later the script continues where it left off
    third = runner.next_segment()
    assert (first.segment_index, second.segment_index, third.segment_index) == (0, 1, 2)
    stale = first
    assert not runner.mark_spoken(stale) and not runner.interrupted(stale)
    assert runner.state()["line_out"] == 2


def test_variables_use_the_value_at_speaking_time(tmp_path):
    products = _products()
    runner = ScriptRunner(load_library(FIXTURES / "shop_zh" / "scripts"), SpeakingValues(products.get, lambda: 41))
    runner.enqueue("p-watch-s3")
    preview = runner.upcoming(9)
    assert "库存还有320件" in preview[-1].text and "599元" in preview[6].text
    products["p-watch-s3"]["stock"] = 17  # orders came in after the script was loaded and previewed
    products["p-watch-s3"]["price"] = 549
    spoken = []
    while (line := runner.next_segment()) is not None:
        spoken.append(line.text)
        runner.mark_spoken(line)
    assert "库存还有17件" in spoken[-1]
    assert "专享价只要549元" in spoken[6]
    # alternatives planned in the preview are kept, so only the changed numbers differ
    assert spoken[-1] == preview[-1].text.replace("320", "17")


def test_segment_without_a_value_is_skipped_in_order(tmp_path):
    products = _products()
    viewers = {"n": None}
    runner = ScriptRunner(load_library(FIXTURES / "shop_zh" / "scripts"),
                          SpeakingValues(products.get, lambda: viewers["n"]))
    runner.enqueue("p-earbuds-a2")  # its last segment says "{viewer_count}位朋友"
    indexes = []
    while (line := runner.next_segment()) is not None:
        assert "{" not in line.text and "[" not in line.text
        indexes.append(line.segment_index)
        runner.mark_spoken(line)
    assert indexes == list(range(7)) and runner.stats.skipped_missing_value == 1


def test_switch_to_drops_the_current_script_and_unknown_ids_are_refused(tmp_path):
    runner = ScriptRunner(_ten_segment_library(tmp_path), SpeakingValues(_products().get))
    runner.enqueue("ten")
    line = runner.next_segment()
    runner.mark_spoken(line)
    out = runner.next_segment()
    assert runner.switch_to("other")
    assert not runner.mark_spoken(out)  # the dropped script's line no longer counts
    nxt = runner.next_segment()
    assert (nxt.script_id, nxt.segment_index) == ("other", 0)
    assert not runner.enqueue("missing") and not runner.switch_to("missing")


def test_unconfirmed_line_is_given_up_after_the_timeout(tmp_path):
    now = {"t": 0.0}
    runner = ScriptRunner(_ten_segment_library(tmp_path), SpeakingValues(_products().get),
                          line_timeout_s=60, clock=lambda: now["t"])
    runner.enqueue("ten")
    lost = runner.next_segment()
    now["t"] = 30
    assert runner.next_segment() is None
    now["t"] = 61
    line = runner.next_segment()
    assert (lost.segment_index, line.segment_index) == (0, 1) and runner.stats.timed_out == 1


def test_time_variable_is_spoken_in_the_script_language(tmp_path):
    moment = datetime(2024, 11, 16, 20, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    values = SpeakingValues(_products().get, lambda: 41, now=lambda: moment)
    zh = ScriptRunner(load_library(FIXTURES / "shop_zh" / "scripts"), values)
    zh.enqueue("p-watch-s3")
    assert "现在是晚上8点半" in zh.next_segment().text
    en_products = load_products(FIXTURES / "shop_en" / "knowledge.yaml")
    en = ScriptRunner(load_library(FIXTURES / "shop_en" / "scripts"),
                      SpeakingValues(en_products.get, lambda: 41, now=lambda: moment))
    en.enqueue("p-volt-10k")
    assert en.next_segment().text.startswith("It's 8:30 PM, ")
