"""Costs of scripts_library on the director's hot path: `python -m benchmarks.scripts`.

Measures: loading + checking the sample scripts, filling one segment at speaking time, one idle-filler
tick, and one scheduler pass over the SQLite job table (what the host does each poll).
"""
from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

FIXTURES = Path("/work/shared/fixtures")


def _per_call(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    from scripts_library.checker import check_directory
    from scripts_library.idle_filler import IdleFiller
    from scripts_library.knowledge_file import load_products
    from scripts_library.runner import ScriptRunner
    from scripts_library.scheduler import ScriptScheduler, job_specs
    from scripts_library.script_file import load_library
    from scripts_library.settings import ScriptsSettings
    from scripts_library.speaking_values import SpeakingValues

    shop = FIXTURES / "shop_zh"
    products = load_products(shop / "knowledge.yaml")
    t_check = _per_call(lambda: check_directory(shop / "scripts", products.get), 20)
    library = load_library(shop / "scripts")
    values = SpeakingValues(products.get, lambda: 41)

    runner = ScriptRunner(library, values)

    def one_segment() -> None:
        line = runner.next_segment()
        if line is None:
            runner.enqueue("p-watch-s3")
            line = runner.next_segment()
        runner.mark_spoken(line)

    t_segment = _per_call(one_segment, 5000)

    filler = IdleFiller(library.idle_pools(), values, rng=random.Random(1), no_repeat_s=0.0)
    clock = {"t": 0.0}

    def idle_tick() -> None:
        clock["t"] += 5.0
        filler.due(clock["t"], True, clock["t"] - 5.0)

    t_idle = _per_call(idle_tick, 5000)

    with tempfile.TemporaryDirectory() as tmp:
        scheduler = ScriptScheduler(f"sqlite:///{tmp}/host.db").open()
        t_sync = _per_call(lambda: scheduler.sync(job_specs(library, ScriptsSettings(carousel_every_min=10))), 5)
        t_pass = _per_call(scheduler.run_due, 200)
        scheduler.close()

    print(f"check 7 zh scripts against 6 products : {t_check * 1e3:8.2f} ms")
    print(f"next_segment + mark_spoken (filled)   : {t_segment * 1e6:8.1f} us")
    print(f"idle filler tick that picks a line    : {t_idle * 1e6:8.1f} us")
    print(f"schedule sync (9 jobs, SQLite)        : {t_sync * 1e3:8.2f} ms")
    print(f"scheduler pass, nothing due (SQLite)  : {t_pass * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
