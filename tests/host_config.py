"""A small, fast, offline host configuration for tests that build the whole Host (English demo shop)."""
from __future__ import annotations

from pathlib import Path

from configs.loader import load_config
from configs.models import AppConfig


def small_host_config(tmp_path: Path, extra: str = "") -> AppConfig:
    """160x90, no preview, BM25 only, espeak, no TTS cache or audit file; ``extra`` TOML is appended."""
    path = tmp_path / "host.toml"
    path.write_text(f"""
[stream]
width = 160
height = 90
[stream.preview]
enabled = false
[knowledge]
db_url = "sqlite:///{tmp_path}/host.db"
import_paths = ["configs/demo/shop_en/knowledge.yaml"]
[knowledge.retrieval]
embeddings = false
[speech]
engines = ["espeak"]
language = "en"
[speech.cache]
enabled = false
[chat.admin]
audit_file = ""
[director]
language = "en"
""" + extra)
    return load_config(path)
