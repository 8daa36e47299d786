"""Config validation: a bad key or value stops start-up with one line that names the key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from configs.loader import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_loads():
    cfg = load_config()
    assert cfg.stream.sample_rate % cfg.stream.fps == 0
    assert cfg.source_path.name == "default.toml"


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[stream]\nwidht = 1280\n", "stream.widht"),
        ("[stream]\nfps = 'fast'\n", "stream.fps"),
        ("[stream.rtmp]\nurls = ['http://x/y']\n", "stream.rtmp.urls"),
        ("[stream.encoder]\nvideo_bitrate_kbps = -5\n", "stream.encoder.video_bitrate_kbps"),
        ("[nonsense]\na = 1\n", "nonsense"),
    ],
)
def test_bad_key_or_value_names_the_key(tmp_path, toml, key):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"'{key}'" in message
    assert "\n" not in message


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("[stream\nwidth=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def test_run_with_bad_config_exits_with_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[stream]\nheight = 719\n")
    proc = subprocess.run(
        [sys.executable, "main.py", "run", "--config", str(path), "--duration", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "stream.height" in lines[0], proc.stderr


def test_doctor_reports_encoders():
    proc = subprocess.run([sys.executable, "main.py", "doctor"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "libx264" in proc.stdout and "aac" in proc.stdout
    assert proc.returncode in (0, 1)  # 1 only when this machine has a real problem, which it then names
    for line in proc.stdout.splitlines():
        assert line.startswith(("OK", "PROBLEM")), line


def test_production_example_config_is_valid():
    cfg = load_config(ROOT / "configs" / "bilibili.example.toml")
    assert cfg.chat.source == "bilibili"
    assert cfg.stream.rtmp.url_env and not cfg.stream.rtmp.urls  # the stream key never sits in the file


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[knowledge]\nimport_paths = ["{tmp}/absent.yaml"]\n', "absent.yaml"),
        ('[scripts]\ndir = "{tmp}/no-scripts"\n', "no-scripts"),
        ('[stream.record]\npath = "/proc/nope/rec.flv"\n', "/proc/nope"),
    ],
)
def test_start_up_problems_exit_2_with_the_reason(tmp_path, toml, expected):
    path = tmp_path / "host.toml"
    path.write_text(toml.format(tmp=tmp_path) + f'[knowledge.retrieval]\nembeddings = false\n[console]\nenabled = false\n'
                    f'[stream.preview]\nenabled = false\n')
    proc = subprocess.run(
        [sys.executable, "main.py", "run", "--config", str(path), "--duration", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected in last, proc.stderr[-2000:]
