"""Real-time soak of the whole host (not in CI): the demo config at 720p with the sample chat replayed in a loop,
pushing to a real nginx-rtmp on 127.0.0.1, for an hour by default. Prints RSS over time, late/held frames,
sink reconnects and what was said; the figures go to benchmarks/RESULTS.md.

    .venv/bin/python -m benchmarks.soak_host [--seconds 3600] [--sample-every 60]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
REPLAY = ROOT.parent / "shared" / "fixtures" / "shop_zh" / "danmaku_replay.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--sample-every", type=float, default=60)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.rtmp_server import RtmpServer

    with tempfile.TemporaryDirectory() as tmpdir, RtmpServer(Path(tmpdir) / "nginx") as nginx:
        tmp = Path(tmpdir)
        base = (ROOT / "configs" / "default.toml").read_text()
        base = base.replace('db_url = "sqlite:///var/host.db"', f'db_url = "sqlite:///{tmp}/host.db"')
        base = base.replace('source = "console"', 'source = "replay"')
        base = re.sub(r'path = "var/recordings/[^"]*"', f'path = "{tmp}/rec/%H%M%S.flv"', base)
        config = base + f"""
[chat.replay]
file = "{REPLAY}"
loop = true
"""
        config = config.replace('[scripts]\n', f'[scripts]\ndatabase_url = "sqlite:///{tmp}/host.db"\n')
        config = config.replace("port = 8080", "port = 0").replace("port = 8090", "port = 0")
        cfg = tmp / "soak.toml"
        cfg.write_text(config)
        log_path = tmp / "host.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen([sys.executable, "main.py", "run", "--config", str(cfg), "--rtmp",
                                     nginx.url("soak"), "--duration", str(args.seconds)],
                                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
            ps = psutil.Process(proc.pid)
            samples = []
            start = time.monotonic()
            while proc.poll() is None:
                try:
                    rss = ps.memory_info().rss / 2**20
                    cpu = ps.cpu_times()
                except psutil.Error:
                    break
                samples.append((time.monotonic() - start, rss, cpu.user + cpu.system))
                print(f"t={samples[-1][0]:7.0f}s rss={rss:7.1f} MiB cpu={samples[-1][2]:8.1f}s", flush=True)
                time.sleep(args.sample_every)
            proc.wait()
        text = log_path.read_text()
    status = [line for line in text.splitlines() if "stream stopped" in line or "status" in line][-1:]
    said = sum(1 for line in text.splitlines() if "host.director: said" in line)
    errors = [line for line in text.splitlines() if " ERROR " in line]
    warm = [s for s in samples if s[0] >= 120]
    print(json.dumps({
        "seconds": args.seconds,
        "exit_code": proc.returncode,
        "rss_start_mib": round(samples[0][1], 1) if samples else None,
        "rss_after_2min_mib": round(warm[0][1], 1) if warm else None,
        "rss_end_mib": round(samples[-1][1], 1) if samples else None,
        "cpu_cores_avg": round((samples[-1][2] - samples[0][2]) / max(1, samples[-1][0] - samples[0][0]), 2)
        if len(samples) > 1 else None,
        "utterances": said,
        "errors": len(errors),
        "final_status": status[0] if status else None,
    }, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
