"""Rehearsal: an hour of the sample shop on a simulated clock, as `scripts rehearse` runs it."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from scripts_library.knowledge_file import load_products
from scripts_library.rehearsal import Rehearsal, speaking_seconds
from scripts_library.settings import ScriptsSettings

REPO = Path(__file__).resolve().parents[1]
SHOP = Path("/work/shared/fixtures/shop_zh")
START = datetime(2024, 11, 16, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_silent_room_cycles_products_without_replaying_a_script_back_to_back():
    products = load_products(SHOP / "knowledge.yaml")
    rehearsal = Rehearsal(ScriptsSettings(dir=str(SHOP / "scripts")), products.get, seed=3, start=START)
    report = rehearsal.run(minutes=30, chat_every_s=0)
    assert report.longest_silence_s <= 5.0
    runs = report.script_runs()
    # product talk fills in after idle lines run out: a different product each time, never the same twice in a row
    assert len(runs) >= 6 and all(a != b for a, b in zip(runs, runs[1:])), runs
    assert set(runs) == {"p-watch-s3", "p-earbuds-a2", "p-powerbank-m10", "p-stand-f1", "p-lamp-l5", "p-kidswatch-k2"}
    for run_start in [i for i, a in enumerate(report.timeline) if a.kind == "script" and a.segment_index == 0]:
        indexes = []
        for aired in report.timeline[run_start:]:
            if aired.kind != "script" or (indexes and aired.segment_index == 0):
                break
            indexes.append(aired.segment_index)
        assert indexes == list(range(len(indexes)))  # in order, from the first segment
    assert report.count("idle") == 3 * 15  # the whole pool once per 10-minute no-repeat window
    # the schedule ran on the simulated clock: idle every 3 min, S3 every 15, M10 at 20:00 (the start)
    fired = [job for _t, job in report.fired]
    assert fired.count("script:idle") == 9 and fired.count("script:p-watch-s3") == 1  # 30:00 is the end
    assert report.fired[0] == (0.0, "script:p-powerbank-m10") and report.script_runs()[0] == "p-powerbank-m10"


def test_rehearse_command_prints_a_summary():
    result = subprocess.run([sys.executable, "main.py", "scripts", "rehearse", str(SHOP / "scripts"),
                             "--knowledge", str(SHOP / "knowledge.yaml"), "--minutes", "10", "--timeline",
                             "--chat-every", "0"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "rehearsed 10 min: longest silence" in result.stdout
    assert "idle" in result.stdout and "script" in result.stdout
    assert "  0:04 " in result.stdout  # the first idle line after a quiet start (gap 5 s - lead 1 s)


def test_speaking_seconds():
    assert speaking_seconds("好") == 1.0  # never shorter than a second
    assert round(speaking_seconds("一" * 45), 1) == 10.0
    assert round(speaking_seconds(" ".join(["word"] * 27)), 1) == 10.0
