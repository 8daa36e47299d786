"""`main.py say` and `main.py transcribe` as an operator runs them."""
from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

from speech.wer import word_error_rate

ROOT = Path(__file__).resolve().parents[1]


def _main(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_say_then_transcribe(tmp_path) -> None:
    out = tmp_path / "hello.wav"
    said = _main("say", "Thank you for the gift, and welcome to the channel.", "--out", str(out),
                 "--engine", "piper", "--timings", str(tmp_path / "t.json"))
    assert said.returncode == 0, said.stderr
    assert "engine=piper" in said.stdout
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 2, 2)
        assert 1.5 < w.getnframes() / 48000 < 6
    assert (tmp_path / "t.json").read_text().startswith("[")
    heard = _main("transcribe", str(out))
    assert heard.returncode == 0, heard.stderr
    assert word_error_rate("Thank you for the gift, and welcome to the channel.", heard.stdout) <= 0.2


def test_say_chinese_with_the_default_chain(tmp_path) -> None:
    out = tmp_path / "zh.wav"
    said = _main("say", "大家好，S3手表今天只要¥599！", "--out", str(out), "--rate", "44100", "--channels", "1")
    assert said.returncode == 0, said.stderr
    assert "engine=espeak" in said.stdout and "五百九十九元" in said.stdout
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels()) == (44100, 1)


def test_errors_are_one_clear_line(tmp_path) -> None:
    bad = _main("say", "hi", "--out", str(tmp_path / "x.wav"), "--engine", "nope")
    assert bad.returncode == 1 and "unknown TTS engine 'nope'" in bad.stderr
    missing = _main("transcribe", str(tmp_path / "missing.wav"))
    assert missing.returncode == 1 and "missing.wav" in missing.stderr
    helps = _main("say", "--help")
    assert helps.returncode == 0 and "--engine" in helps.stdout


def test_transcribe_follows_an_http_stream(tmp_path) -> None:
    import json
    import socket
    import time

    out = tmp_path / "talk.wav"
    assert _main("say", "Thank you for the gift, and welcome to the channel.", "--out", str(out),
                 "--engine", "piper", "--rate", "16000", "--channels", "1").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        heard = _main("transcribe", f"http://127.0.0.1:{port}/talk.wav")
    finally:
        server.terminate()
        server.wait(5)
    assert heard.returncode == 0, heard.stderr
    events = [json.loads(line) for line in heard.stdout.splitlines() if line.strip()]
    assert len(events) == 1
    assert word_error_rate("Thank you for the gift, and welcome to the channel.", events[0]["text"]) <= 0.2
