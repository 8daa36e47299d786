"""kill -9 during heavy writes loses no committed event (a real subprocess, a real SQLite file)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from knowledge.store import Store

ROOT = Path(__file__).resolve().parents[1]

WRITER = r"""
import sys
from knowledge.store import Store
store = Store.open(sys.argv[1])
i = 0
while True:
    eid = store.add_event("danmaku", uid=i % 97, uname="u", text="x" * 200 + str(i), raw={"i": i})
    # Printed only after the commit returned: every id on stdout is a committed event.
    print(eid, flush=True)
    i += 1
"""


def test_kill_9_loses_no_committed_event(tmp_path):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    Store.open(url).close()  # migrate first so the writer starts writing at once
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    committed: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while len(committed) < 300 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed.append(int(line))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()  # ids printed between our last read and the kill
        proc.wait(10)
    committed += [int(x) for x in rest.split()]
    assert len(committed) >= 300, "the writer did not get going"
    store = Store.open(url)
    stored = {e.id for e in store.events(limit=1_000_000)}
    missing = set(committed) - stored
    assert not missing, f"{len(missing)} committed events lost"
    assert store.events(since_id=committed[-1] - 1, limit=1)[0].raw["i"] == len(committed) - 1
