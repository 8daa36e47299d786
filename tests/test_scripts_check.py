"""Script files: parsing the fixture format, `scripts check` errors with file:line, alternatives."""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from scripts_library.checker import check_directory
from scripts_library.knowledge_file import KnowledgeFileError, load_products
from scripts_library.script_file import ScriptLoadError, load_library, parse_script
from scripts_library.segment_template import AlternativePicker, TemplateError, parse_segment
from scripts_library.speaking_values import spoken_time

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path("/work/shared/fixtures")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", "scripts", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_fixture_libraries_parse():
    zh = load_library(FIXTURES / "shop_zh" / "scripts")
    assert len(zh.product_scripts()) == 6 and len(zh.idle_pools()) == 1
    assert len(zh.get("idle").segments) == 15
    assert {len(s.segments) for s in zh.product_scripts()} == {6, 8, 9}
    s3 = zh.get("p-watch-s3")
    assert (s3.product_id, s3.schedule.kind, s3.schedule.interval_seconds()) == ("p-watch-s3", "every", 900)
    assert zh.get("p-lamp-l5").schedule.value == "30 */2 * * *"
    assert s3.segments[0].line == 7 and s3.language == "zh"
    assert s3.segments[-1].template.variables == {"stock"}
    en = load_library(FIXTURES / "shop_en" / "scripts")
    assert len(en.get("idle").segments) == 8 and en.get("p-volt-10k").language == "en"


@pytest.mark.parametrize("shop", ["shop_zh", "shop_en"])
def test_check_passes_on_the_fixtures(shop):
    result = _cli("check", str(FIXTURES / shop / "scripts"), "--knowledge", str(FIXTURES / shop / "knowledge.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "0 error(s)" in result.stderr


BROKEN = {
    "no-front.md": "青禾手表来了，现在只要{price}元。\n---\n第二段\n",
    "unknown-product.md": "---\nproduct_id: p-ghost\ntitle: 幽灵\nevery: 15m\n---\n第一段\n---\n还有{stock}件\n",
    "unknown-var.md": "---\nproduct_id: p-watch-s3\ntitle: S3\nevery: 15m\n---\n第一段\n---\n\n现在{discount}折\n",
    "open-alt.md": "---\nproduct_id: p-watch-s3\ntitle: S3\ncron: \"0 * * * *\"\n---\n好的\n---\n[家人们|朋友们晚上好\n",
    "open-var.md": "---\nproduct_id: p-watch-s3\ntitle: S3\n---\n价格{price元\n",
    "two-schedules.md": "---\nproduct_id: p-watch-s3\ntitle: S3\nevery: 15m\ncron: \"0 * * * *\"\n---\n一\n",
    "bad-cron.md": "---\nproduct_id: p-watch-s3\ntitle: S3\ncron: \"every hour\"\n---\n一\n",
    "unclosed.md": "---\nproduct_id: p-watch-s3\ntitle: S3\n一\n",
    "empty-seg.md": "---\nproduct_id: p-watch-s3\ntitle: S3\n---\n一\n---\n---\n二\n",
    "typo-key.md": "---\nproduct_id: p-watch-s3\ntitle: S3\nevry: 15m\n---\n一\n",
}


@pytest.fixture
def broken_dir(tmp_path):
    for name, text in BROKEN.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_check_prints_file_line_errors_and_fails(broken_dir):
    result = _cli("check", str(broken_dir), "--knowledge", str(FIXTURES / "shop_zh" / "knowledge.yaml"))
    assert result.returncode == 1
    out = result.stdout
    d = broken_dir
    expected = [
        f"{d}/no-front.md:1: error: missing front matter",
        f"{d}/unknown-product.md:2: error: unknown product id 'p-ghost'",
        f"{d}/unknown-var.md:9: error: unknown variable '{{discount}}'",
        f"{d}/open-alt.md:8:1: error: unbalanced '['",
        f"{d}/open-var.md:5:3: error: unbalanced '{{'",
        f"{d}/two-schedules.md:5: error: give exactly one of every/cron/at",
        f"{d}/bad-cron.md:4: error: cron: not a 5-field crontab",
        f"{d}/unclosed.md:1: error: front matter is never closed",
        f"{d}/empty-seg.md:7: error: empty segment",
        f"{d}/typo-key.md:4: error: unknown front-matter key 'evry'",
    ]
    for line in expected:
        assert line in out, f"missing: {line}\n--- got:\n{out}"
    assert "10 error(s)" in result.stderr
    with pytest.raises(ScriptLoadError) as info:  # the running host refuses the same directory
        load_library(broken_dir)
    assert len(info.value.problems) == 8 and "scripts check" in str(info.value)  # syntax; ids need a store


def test_check_without_product_source_still_checks_syntax(broken_dir):
    problems = [str(p) for p in check_directory(broken_dir)]
    assert not any("unknown product" in p for p in problems)
    assert any("unknown variable '{discount}'" in p for p in problems)


def test_list_and_show_commands():
    listed = _cli("list", str(FIXTURES / "shop_zh" / "scripts"))
    assert listed.returncode == 0
    assert "p-lamp-l5" in listed.stdout and "cron 30 */2 * * *" in listed.stdout and "15 seg" in listed.stdout
    shown = _cli("show", "p-watch-s3", str(FIXTURES / "shop_zh" / "scripts"),
                 "--knowledge", str(FIXTURES / "shop_zh" / "knowledge.yaml"), "--viewers", "41")
    assert shown.returncode == 0 and "库存还有320件" in shown.stdout and "41位朋友" in shown.stdout
    missing = _cli("show", "nope", str(FIXTURES / "shop_zh" / "scripts"))
    assert missing.returncode == 1 and "no script 'nope'" in missing.stderr


def test_template_parsing_and_columns():
    template = parse_segment("[家人们|朋友们]好，现在{price}元，[送完为止|先到先得|{stock}件]")
    assert [len(a.options) for a in template.alternatives] == [2, 3]
    assert template.variables == {"price", "stock"}
    text = template.fill((1, 2), {"price": "599", "stock": "3"}.get)
    assert text == "朋友们好，现在599元，3件"
    for bad, column in [("abc[x|y", 4), ("a]b", 2), ("[only]", 1), ("{a b}", 1), ("x{y", 2), ("[a|[b|c]]", 1)]:
        with pytest.raises(TemplateError) as info:
            parse_segment(bad)
        assert info.value.column == column, bad


def test_alternatives_never_repeat_immediately():
    picker = AlternativePicker(random.Random(5))
    two = parse_segment("[a|b] and [x|y|z]")
    picks = [picker.choose(("s", 0), two) for _ in range(200)]
    for before, after in zip(picks, picks[1:]):
        assert before[0] != after[0] and before[1] != after[1]
    assert {p[1] for p in picks} == {0, 1, 2}  # still random among the others, not a fixed cycle
    one_spot_each = [picker.choose(("s", 1), two), picker.choose(("s", 2), two)]
    assert len(one_spot_each) == 2  # separate segments keep separate memories


def test_parse_problems_do_not_crash_on_odd_files(tmp_path):
    (tmp_path / "latin1.md").write_bytes("---\ntitle: caf\xe9\n".encode("latin-1"))
    script, problems = parse_script(tmp_path / "latin1.md")
    assert script is None and "not UTF-8" in problems[0].message
    (tmp_path / "list.md").write_text("---\n- a\n- b\n---\ntext\n", encoding="utf-8")
    script, problems = parse_script(tmp_path / "list.md")
    assert script is None and "mapping" in problems[0].message
    (tmp_path / "yaml.md").write_text("---\ntitle: [unclosed\n---\ntext\n", encoding="utf-8")
    script, problems = parse_script(tmp_path / "yaml.md")
    assert script is None and problems[0].line >= 2 and "not valid YAML" in problems[0].message


def test_knowledge_file_errors_name_the_file(tmp_path):
    with pytest.raises(KnowledgeFileError, match="not found"):
        load_products(tmp_path / "none.yaml")
    (tmp_path / "k.yaml").write_text("store: {}\n", encoding="utf-8")
    with pytest.raises(KnowledgeFileError, match="products"):
        load_products(tmp_path / "k.yaml")


def test_spoken_time():
    from datetime import datetime

    assert spoken_time(datetime(2024, 1, 1, 20, 0), "zh") == "晚上8点"
    assert spoken_time(datetime(2024, 1, 1, 9, 5), "zh") == "上午9点05分"
    assert spoken_time(datetime(2024, 1, 1, 0, 30), "zh") == "凌晨12点半"
    assert spoken_time(datetime(2024, 1, 1, 12, 15), "en") == "12:15 PM"
    assert spoken_time(datetime(2024, 1, 1, 0, 0), "en") == "12 AM"


def test_check_against_the_knowledge_store(tmp_path):
    """The operator's flow: the shop is in the knowledge store; check scripts against it (no YAML given)."""
    from knowledge.importer import parse_paths
    from knowledge.store import Store

    db = f"sqlite:///{tmp_path / 'host.db'}"
    with Store.open(db) as store:
        store.apply_import(parse_paths([FIXTURES / "shop_zh" / "knowledge.yaml"]))
        wrong_shop = [str(p) for p in check_directory(FIXTURES / "shop_en" / "scripts", store.get_product)]
    assert any("p-volt-10k.md:2: error: unknown product id 'p-volt-10k'" in p for p in wrong_shop)
    ok = _cli("check", str(FIXTURES / "shop_zh" / "scripts"), "--db", db)
    assert ok.returncode == 0 and "6 products from the knowledge store" in ok.stderr


def test_wrapped_segment_lines_join_without_spaces_in_chinese(tmp_path):
    (tmp_path / "w.md").write_text("---\nproduct_id: null\ntitle: w\n---\n欢迎来到直播间，\n今天有好物。\nSee you\nsoon.\n",
                                   encoding="utf-8")
    script, problems = parse_script(tmp_path / "w.md")
    assert not problems and script.segments[0].template.source == "欢迎来到直播间，今天有好物。 See you soon."
    assert script.segments[0].line == 5


def test_duplicate_product_script_is_a_warning_and_front_matter_at_parses(tmp_path):
    (tmp_path / "a.md").write_text("---\nproduct_id: p-watch-s3\ntitle: A\nat: 2026-12-01 20:00:00\n---\n一\n",
                                   encoding="utf-8")
    (tmp_path / "b.md").write_text("---\nproduct_id: p-watch-s3\ntitle: B\nevery: 15\n---\n二\n", encoding="utf-8")
    problems = [str(p) for p in check_directory(tmp_path)]
    assert f"{tmp_path}/b.md:4: error: every: expected '<int>m' (or s/h), e.g. '15m'; got 15" in problems
    (tmp_path / "b.md").write_text("---\nproduct_id: p-watch-s3\ntitle: B\nevery: 15m\n---\n二\n", encoding="utf-8")
    problems = [str(p) for p in check_directory(tmp_path)]
    assert problems == [f"{tmp_path}/b.md:2: warning: product 'p-watch-s3' also has a.md; "
                        "/product and the carousel use the first file"]
    library = load_library(tmp_path)
    assert library.get("a").schedule.value == "2026-12-01T20:00:00"
    assert library.script_for_product("p-watch-s3").id == "a"
