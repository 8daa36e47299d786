"""The same store on a real PostgreSQL server (a throw-away cluster started here; skipped without binaries)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from knowledge.importer import parse_paths
from knowledge.retrieval import Retriever
from knowledge.sample_shop import fixtures_dir
from knowledge.settings import RetrievalSettings
from knowledge.store import Store

PG_BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
               if (p / "initdb").exists()), None) if Path("/usr/lib/postgresql").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    if PG_BIN is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg not installed")
    # Not under pytest's tmp dir: its parents are private to root and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="kb-pg-"))
    data = base / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
        os.chmod(base, 0o700)
    port = _free_port()
    init = subprocess.run([*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "host",
                           "--no-sync", "-E", "UTF8", "--locale=C"], capture_output=True, text=True)
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[:200]}")
    opts = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off"
    start = subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-t", "30",
                            "-l", str(data / "log"), "start"], capture_output=True, text=True)
    if start.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed: {start.stderr.strip()[:200]}")
    try:
        yield f"postgresql+psycopg://host@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_store_on_postgres(pg_url):
    store = Store.open(pg_url)
    store.migrate()  # idempotent on PG too
    stats = store.apply_import(parse_paths([fixtures_dir() / "shop_zh" / "knowledge.yaml"]))
    assert (stats["products"], stats["faqs"]) == (6, 40)
    again = store.apply_import(parse_paths([fixtures_dir() / "shop_zh" / "knowledge.yaml"]))
    assert again["chunks_added"] == 0
    store.set_current_product("p-kidswatch-k2")
    store.mute(3456789)
    eid = store.add_event("danmaku", uid=2**40, uname="大uid", text="包邮吗", raw={"info": [1, "包邮吗"]})
    store.add_viewer_fact(2**40, "location", "乌鲁木齐", "乌鲁木齐的豆豆妈妈")
    uid_ = store.start_utterance("answer", "包邮的。", target_uid=2**40)
    store.finish_utterance(uid_, text_played="包邮的。", played_fraction=1.0)
    store.close()

    store = Store.open(pg_url.replace("postgresql+psycopg", "postgresql"))  # plain URL uses psycopg 3 too
    assert store.current_product().id == "p-kidswatch-k2" and store.muted_uids() == {3456789}
    assert store.events()[0].id == eid and store.events()[0].raw == {"info": [1, "包邮吗"]}
    assert store.viewer_facts(2**40)[0].value == "乌鲁木齐"
    assert store.recent_turns(2**40) == [("viewer", "包邮吗"), ("host", "包邮的。")]
    hits = Retriever(store, RetrievalSettings(embeddings=False)).search("K2适合几岁的孩子", k=1)
    assert hits[0].source_id == "faq-030"
    store.close()
