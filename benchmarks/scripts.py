"""Costs of scripts_library on the director's hot path: `python -m benchmarks.scripts`.

Measures: loading + checking the sample scripts, filling one segment at speaking time, one idle-filler
tick, one scheduler pass over the SQLite job table (what the host does each poll), and a 60-minute
rehearsal of the sample shop (busy and silent room).
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

    from scripts_library.rehearsal import Rehearsal

    started = time.perf_counter()
    rehearsal = Rehearsal(ScriptsSettings(dir=str(shop / "scripts")), products.get, seed=1)
    busy = rehearsal.run(minutes=60, chat_every_s=45)
    t_rehearse = time.perf_counter() - started
    quiet = Rehearsal(ScriptsSettings(dir=str(shop / "scripts")), products.get, seed=1).run(minutes=60, chat_every_s=0)

    print(f"check 7 zh scripts against 6 products : {t_check * 1e3:8.2f} ms")
    print(f"next_segment + mark_spoken (filled)   : {t_segment * 1e6:8.1f} us")
    print(f"idle filler tick that picks a line    : {t_idle * 1e6:8.1f} us")
    print(f"schedule sync (9 jobs, SQLite)        : {t_sync * 1e3:8.2f} ms")
    print(f"scheduler pass, nothing due (SQLite)  : {t_pass * 1e3:8.2f} ms")
    print(f"rehearse 60 min (14,400 director ticks): {t_rehearse:8.2f} s")
    for name, report in (("chat every 45 s", busy), ("silent room", quiet)):
        print(f"  {name:<16} longest silence {report.longest_silence_s:4.1f} s; air time: script "
              f"{report.airtime('script') / 3600:.0%}, idle {report.airtime('idle') / 3600:.0%}, "
              f"answers {report.airtime('answer') / 3600:.0%}; idle lines ran out {report.idle_exhausted} times")


if __name__ == "__main__":
    main()
