"""ScriptsService: carousel, admin commands, fired jobs, config validation."""
from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from configs.loader import ConfigError, load_config
from scripts_library.knowledge_file import load_products
from scripts_library.scheduler import FireEvent
from scripts_library.script_file import ScriptLoadError
from scripts_library.service import ScriptsService
from scripts_library.settings import ScriptsSettings

SHOP = Path("/work/shared/fixtures/shop_zh")


class CurrentProductStore:
    """Persists the current product like the knowledge store does (one value), and records every set."""

    def __init__(self, products):
        self.products = products
        self.current = None
        self.history = []
        self.locked = False

    def set_current_product(self, product_id):
        if self.locked:
            raise RuntimeError("database is locked")
        if product_id not in self.products:
            raise KeyError(product_id)
        self.current = product_id
        self.history.append(product_id)


def _service(tmp_path, **settings):
    products = {pid: dict(p) for pid, p in load_products(SHOP / "knowledge.yaml").items()}
    store = CurrentProductStore(products)
    settings.setdefault("dir", str(SHOP / "scripts"))
    settings.setdefault("database_url", f"sqlite:///{tmp_path / 'host.db'}")
    svc = ScriptsService(ScriptsSettings(**settings), product_lookup=products.get,
                         set_current_product=store.set_current_product, get_current_product=lambda: store.current,
                         viewer_count=lambda: 41, rng=random.Random(4))
    return svc, store


def _drain(svc, limit=50):
    said = []
    for _ in range(limit):
        line = svc.next_line(0.0, True, None)
        if line is None or line.kind != "script":
            break
        said.append((line.script_id, line.segment_index))
        svc.report(line, spoken=True)
    return said


def test_admin_product_switches_now_and_persists(tmp_path):
    svc, store = _service(tmp_path, schedule_enabled=False)
    svc.runner.enqueue("p-watch-s3")
    first = svc.next_line(0.0, True, None)
    svc.report(first, spoken=True)
    assert store.current == "p-watch-s3"  # a product script makes its product current
    assert svc.handle_admin("/product p-earbuds-a2") == "current product: p-earbuds-a2"
    assert store.current == "p-earbuds-a2"
    said = _drain(svc)
    assert said[0] == ("p-earbuds-a2", 0) and all(s == "p-earbuds-a2" for s, _ in said)  # S3 was dropped
    assert svc.handle_admin("/product p-nope") == "unknown product 'p-nope'" and store.current == "p-earbuds-a2"
    assert svc.handle_admin("hello") is None and svc.handle_admin("/say hi") is None


def test_carousel_rotates_on_its_job_and_queues_the_product_script(tmp_path):
    svc, store = _service(tmp_path, schedule_enabled=False,
                          carousel_products=["p-lamp-l5", "p-stand-f1"], carousel_every_min=10)
    svc.on_fire(FireEvent("carousel", "carousel", "", None))
    assert store.current == "p-lamp-l5"
    svc.on_fire(FireEvent("carousel", "carousel", "", None))
    assert store.current == "p-stand-f1"
    svc.on_fire(FireEvent("carousel", "carousel", "", None))
    assert store.current == "p-lamp-l5" and store.history == ["p-lamp-l5", "p-stand-f1", "p-lamp-l5"]
    said = _drain(svc)
    assert [s for s, i in said if i == 0] == ["p-lamp-l5", "p-stand-f1"]  # queued in order, not duplicated
    status = svc.status()
    assert status["runner"]["finished"] == 2 and status["current_product"] == "p-stand-f1"


def test_idle_job_and_exhausted_idle_lines_fall_back_to_product_talk(tmp_path):
    svc, store = _service(tmp_path, schedule_enabled=False, idle_no_repeat_min=60, idle_gap_s=2, idle_lead_s=0)
    svc.on_fire(FireEvent("script:idle", "idle", "idle", None))
    assert svc.next_line(0.0, True, 0.0).kind == "idle"  # the idle job asks for one line right away
    t = 0.0
    kinds = []
    for _ in range(40):
        t += 2.0
        line = svc.next_line(t, True, t - 2.0)
        if line is not None:
            kinds.append(line.kind)
            svc.report(line, spoken=True)
    assert kinds.count("idle") == 14  # the other 14 idle lines, then product talk instead of repeats
    assert "script" in kinds and store.current is not None


async def test_run_syncs_the_schedule_and_admin_job_commands(tmp_path):
    svc, _store = _service(tmp_path, poll_s=0.2)
    task = asyncio.create_task(svc.run())
    await asyncio.wait_for(svc.ready.wait(), 30)
    listing = svc.handle_admin("/jobs")
    assert "script:p-watch-s3 next" in listing and "script:idle next" in listing
    assert svc.handle_admin("/job pause script:p-watch-s3") == "job script:p-watch-s3: pause ok"
    assert "script:p-watch-s3 paused" in svc.handle_admin("/jobs")
    assert svc.handle_admin("/job run script:p-stand-f1") == "job script:p-stand-f1: run ok"
    assert svc.runner.state()["pending"] == ["p-stand-f1"]
    assert "no job" in svc.handle_admin("/job resume nope")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not svc.scheduler.is_open  # closed on the way out


def test_unknown_variable_stops_the_host_with_file_and_line(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "p-watch-s3.md").write_text(
        "---\nproduct_id: p-watch-s3\ntitle: S3\n---\n只要{discount}折\n", encoding="utf-8")
    with pytest.raises(ScriptLoadError, match=r"p-watch-s3\.md:5: error: unknown variable"):
        _service(tmp_path, dir=str(tmp_path / "scripts"), schedule_enabled=False)


@pytest.mark.parametrize("toml, key", [
    ('[scripts]\nidle_gap_s = 0\n', "scripts.idle_gap_s"),
    ('[scripts]\ntimezone = "Mars/Olympus"\n', "scripts.timezone"),
    ('[scripts]\nidle_gap_s = 5\nidle_lead_s = 6\n', "scripts"),
    ('[scripts]\nevry = 3\n', "scripts.evry"),
    ('[[scripts.jobs]]\nid = "a"\nscript = "x"\nevery = "5 minutes"\n', "scripts.jobs.0.every"),
    ('[[scripts.jobs]]\nid = "a"\nscript = "x"\n', "scripts.jobs.0"),
    ('[[scripts.jobs]]\nid = "a"\nscript = "x"\ncron = "61 * * * *"\n', "scripts.jobs.0.cron"),
])
def test_bad_config_names_the_key(tmp_path, toml, key):
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"'{key}'" in str(info.value)


def test_admin_product_usage_and_store_refusal(tmp_path):
    svc, store = _service(tmp_path, schedule_enabled=False)
    assert svc.handle_admin("/product") == "usage: /product ID"
    store.locked = True
    assert svc.handle_admin("/product p-lamp-l5") == "/product failed: database is locked"


def test_carousel_reads_the_store_sparingly_and_sees_outside_changes():
    from scripts_library.carousel import ProductCarousel, UnknownProduct

    stored = {"id": "p-a"}
    reads = []
    now = {"t": 0.0}

    def get_current():
        reads.append(now["t"])
        return stored["id"]

    carousel = ProductCarousel(["p-a", "p-b"], lambda pid: stored.__setitem__("id", pid), get_current,
                               refresh_s=2.0, clock=lambda: now["t"])
    for step in range(20):  # 20 reads over one second: one query
        now["t"] = step * 0.05
        assert carousel.current == "p-a"
    assert len(reads) == 1
    stored["id"] = "p-b"  # changed by someone else (e.g. the console)
    now["t"] = 2.5
    assert carousel.current == "p-b"
    assert carousel.rotate() == "p-a" and stored["id"] == "p-a"
    with pytest.raises(UnknownProduct):
        carousel.select("p-zzz")
    assert ProductCarousel([], lambda pid: None).rotate() is None


def test_sold_out_products_are_skipped_by_schedule_and_carousel(tmp_path):
    svc, store = _service(tmp_path, schedule_enabled=False, carousel_products=["p-lamp-l5", "p-stand-f1", "p-watch-s3"])
    store.products["p-stand-f1"]["stock"] = 0
    svc.on_fire(FireEvent("script:p-stand-f1", "script", "p-stand-f1", None))
    assert svc.runner.state()["pending"] == [] and svc.status()["skipped_sold_out"] == 1
    svc.on_fire(FireEvent("carousel", "carousel", "", None))
    svc.on_fire(FireEvent("carousel", "carousel", "", None))
    assert store.history == ["p-lamp-l5", "p-watch-s3"]  # F1 passed over
    assert svc.handle_admin("/product p-stand-f1") == "current product: p-stand-f1"  # the admin still can
    for pid in ("p-lamp-l5", "p-watch-s3"):
        store.products[pid]["stock"] = 0
    svc.on_fire(FireEvent("carousel", "carousel", "", None))
    assert store.current == "p-stand-f1"  # everything sold out: stay


def test_admin_product_accepts_an_alias(tmp_path):
    svc, store = _service(tmp_path, schedule_enabled=False)
    assert svc.handle_admin("/product s3") == "current product: p-watch-s3"  # alias, any case
    assert svc.handle_admin("/product 青禾降噪耳机 A2") == "current product: p-earbuds-a2"  # the full name
    assert svc.handle_admin("/product 智能手表") == "current product: p-watch-s3" and store.current == "p-watch-s3"
