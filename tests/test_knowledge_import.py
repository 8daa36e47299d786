"""Importing knowledge: idempotent, all-or-nothing, file:line errors, YAML/CSV/Markdown, and the kb CLI."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.importer import ImportFileError, parse_paths
from knowledge.sample_shop import fixtures_dir
from knowledge.store import Store

ROOT = Path(__file__).resolve().parents[1]
ZH = fixtures_dir() / "shop_zh" / "knowledge.yaml"


@pytest.fixture
def store(tmp_path):
    s = Store.open(f"sqlite:///{tmp_path / 'kb.db'}")
    yield s
    s.close()


def test_fixture_import_is_idempotent_and_updates_in_place(store, tmp_path):
    stats = store.apply_import(parse_paths([ZH]))
    assert (stats["products"], stats["faqs"], stats["documents"]) == (6, 40, 5)
    chunks, version = store.count_chunks(), store.kb_version()
    assert chunks == stats["chunks_added"] > 100
    again = store.apply_import(parse_paths([ZH]))
    assert again["chunks_added"] == again["chunks_updated"] == 0
    assert store.count_chunks() == chunks and store.kb_version() == version  # nothing changed, nothing bumped
    assert len(store.list_products()) == 6 and len(store.list_faqs()) == 40

    edited = tmp_path / "k.yaml"
    text = ZH.read_text(encoding="utf-8").replace("price: 599", "price: 579", 1)
    text = text.replace("      颜色: 曜石黑、雾霾蓝、月光银\n", "", 1)  # a spec removed
    edited.write_text(text, encoding="utf-8")
    third = store.apply_import(parse_paths([edited]))
    assert store.get_product("p-watch-s3").price == 579
    assert third["chunks_updated"] == 1 and third["chunks_removed"] == 1
    assert store.count_chunks() == chunks - 1 and store.kb_version() == version + 1
    assert "#spec:颜色" not in " ".join(c.id for c in store.load_chunks() if c.product_id == "p-watch-s3")


def test_malformed_yaml_names_file_and_line_and_imports_nothing(store, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("products:\n  - id: p-x\n    name: [unclosed\n    price: 5\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as err:
        parse_paths([bad])
    assert str(bad) in str(err.value) and err.value.line in (3, 4, 5)


def test_schema_error_points_at_the_line_of_the_bad_value(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("products:\n  - id: p-a\n    name: A\n    price: 10\n  - id: p-b\n    name: B\n"
                   "    price: cheap\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"bad\.yaml:7: products\[1\]\.price"):
        parse_paths([bad])


def test_one_bad_file_in_a_folder_aborts_the_whole_run(store, tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    shutil.copy(ZH, folder / "a_shop.yaml")
    (folder / "b_faqs.csv").write_text('id,question,answer\nfaq-900,能自提吗,"不支持自提。"\n'
                                       'faq-901,能送货上门吗,"支持",extra\n', encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"b_faqs\.csv:3: 4 fields, header has 3"):
        store.apply_import(parse_paths([folder]))
    assert store.count_chunks() == 0 and store.list_products() == []


def test_faq_with_unknown_product_is_rejected_before_writing(store, tmp_path):
    bad = tmp_path / "f.yaml"
    bad.write_text("faqs:\n  - id: faq-1\n    question: q?\n    answer: a.\n    product_id: p-ghost\n",
                   encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"f\.yaml:2: faqs faq-1: unknown product_id 'p-ghost'"):
        store.apply_import(parse_paths([bad]))
    assert store.list_faqs() == []


def test_csv_products_and_faqs_and_markdown_documents(store, tmp_path):
    (tmp_path / "products.csv").write_text(
        "id,name,aliases,price,list_price,stock,specs,promotions\n"
        'p-cup,保温杯 C1,C1|保温杯,59,79,100,"容量: 500ml; 保温: 12小时",直播间价59元\n', encoding="utf-8")
    (tmp_path / "faqs.csv").write_text("question,answer,product_id\n保温杯能装热水吗,可以装热水，保温12小时。,p-cup\n",
                                       encoding="utf-8")
    (tmp_path / "guide.md").write_text("---\nid: doc:care\ntitle: 保养\n---\n# 清洗\n用**温水**清洗，不要用洗碗机。\n\n"
                                       "# 存放\n晾干后存放。\n", encoding="utf-8")
    script = tmp_path / "p-cup.md"
    script.write_text("---\nproduct_id: p-cup\ntitle: t\nevery: 15m\n---\n来看看{price}元的杯子\n", encoding="utf-8")
    bundle = parse_paths([tmp_path])
    assert str(script) in bundle.skipped  # host scripts belong to scripts_library
    store.apply_import(bundle)
    cup = store.get_product("p-cup")
    assert cup.specs == {"容量": "500ml", "保温": "12小时"} and cup.aliases == ["C1", "保温杯"]
    faq = store.list_faqs()[0]
    assert faq.product_id == "p-cup" and faq.id.startswith("faq-")
    docs = {d.id: d for d in store.list_documents()}
    assert docs["doc:care"].title == "清洗" and "温水" in docs["doc:care"].body and "**" not in docs["doc:care"].body
    assert docs["doc:care/1"].title == "存放"
    store.apply_import(parse_paths([tmp_path]))
    assert len(store.list_faqs()) == 1  # the generated FAQ id is stable: re-import does not duplicate


def _cli(*args, stdin=None):
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True,
                          input=stdin, timeout=180)


def test_cli_import_search_list_export(tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    bad = tmp_path / "bad.csv"
    bad.write_text('question,answer\n"unterminated,x\n', encoding="utf-8")
    r = _cli("kb", "import", str(bad), "--db", db, "-q", "--no-embeddings")
    assert r.returncode == 1 and f"{bad}:" in r.stderr and "nothing was imported" in r.stderr

    r = _cli("kb", "import", str(ZH), "--db", db, "-q", "--no-embeddings")
    assert r.returncode == 0, r.stderr
    assert "products 6, faqs 40" in r.stdout

    r = _cli("kb", "search", "充电宝能带上飞机吗", "--db", db, "--json", "-k", "3")
    out = json.loads(r.stdout)
    assert len(out["hits"]) == 3 and out["hits"][0]["source"] in ("faq-023", "p-powerbank-m10")
    assert {"id", "score", "text"} <= set(out["hits"][0])

    r = _cli("kb", "search", "--db", db, "-k", "1", stdin="包邮吗\n\nK2适合几岁的孩子\n")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [line["question"] for line in lines] == ["包邮吗", "K2适合几岁的孩子"]
    assert lines[1]["hits"][0]["source"] == "faq-030"

    r = _cli("kb", "list", "products", "--db", db)
    assert "p-watch-s3" in r.stdout and len(r.stdout.splitlines()) == 6

    exported = tmp_path / "export.yaml"
    assert _cli("kb", "export", "-o", str(exported), "--db", db).returncode == 0
    db2 = f"sqlite:///{tmp_path / 'cli2.db'}"
    assert _cli("kb", "import", str(exported), "--db", db2, "-q", "--no-embeddings").returncode == 0
    a, b = Store.open(db), Store.open(db2)
    assert a.list_products() == b.list_products() and a.list_faqs() == b.list_faqs()
    assert a.list_documents() == b.list_documents()


def test_cli_help_for_every_subcommand():
    for args in (["kb", "--help"], ["kb", "import", "--help"], ["kb", "search", "--help"], ["ask", "--help"]):
        r = _cli(*args)
        assert r.returncode == 0 and "usage:" in r.stdout


def test_import_files_is_the_one_call_the_host_needs(store):
    stats = store.import_files([fixtures_dir() / "shop_en"], embeddings=False)
    assert (stats["products"], stats["faqs"]) == (3, 15)
    assert store.import_files([fixtures_dir() / "shop_en"], embeddings=False)["chunks_added"] == 0


def test_a_tokenizer_change_retokenizes_on_the_next_import(store, monkeypatch):
    import knowledge.text_tokens as text_tokens

    first = store.apply_import(parse_paths([ZH]))
    monkeypatch.setattr(text_tokens, "TOKENIZER_VERSION", text_tokens.TOKENIZER_VERSION + 1)
    again = store.apply_import(parse_paths([ZH]))
    assert again["chunks_updated"] == first["chunks_added"] and again["chunks_added"] == 0
