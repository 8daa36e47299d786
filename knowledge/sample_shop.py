"""Build a store from a fixture shop once per test session (embedding is the slow part) and copy it."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def fixtures_dir() -> Path:
    """The shared fixtures folder (../shared/fixtures next to the repository, or /work/shared/fixtures)."""
    for candidate in (FIXTURES, Path("/work/shared/fixtures")):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("fixtures not found: expected ../shared/fixtures next to the repository")


def sample_store_file(cache_dir: Path, shop: str = "zh", embeddings: bool = True) -> Path:
    """Path of a SQLite file with ``shop_<shop>/knowledge.yaml`` imported; built once per cache_dir."""
    from knowledge.importer import parse_paths
    from knowledge.store import Store

    cache_dir.mkdir(parents=True, exist_ok=True)
    source = fixtures_dir() / f"shop_{shop}" / "knowledge.yaml"
    # The cache key covers everything that shapes the stored rows, so a stale file is never reused.
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(source.read_bytes())
    for name in ("chunking.py", "text_tokens.py", "importer.py", "models.py", "embedding.py"):
        digest.update((here / name).read_bytes())
    for migration in sorted((here / "migrations" / "versions").glob("*.py")):
        digest.update(migration.read_bytes())
    path = cache_dir / f"sample_{shop}_{'e5' if embeddings else 'bm25'}_{digest.hexdigest()[:12]}.db"
    if not path.exists():
        tmp = path.with_suffix(f".building-{os.getpid()}")
        store = Store.open(f"sqlite:///{tmp}")
        embedder = None
        if embeddings:
            from knowledge.embedding import shared_embedder

            embedder = shared_embedder()
        store.apply_import(parse_paths([source]), embedder)
        with store.engine.connect() as conn:  # fold the WAL into the main file so one file copies
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        os.replace(tmp, path)  # atomic: parallel builders both end with a complete file
    return path


def shared_cache_dir() -> Path:
    """Where tests keep sample stores between sessions (embedding the shop takes a while on 2 cores)."""
    return Path(tempfile.gettempdir()) / "livehost-kb-cache"


def copy_sample_store(cache_dir: Path, dest: Path, shop: str = "zh", embeddings: bool = True) -> str:
    """A private copy of the sample store at ``dest``; returns its SQLAlchemy URL."""
    shutil.copyfile(sample_store_file(cache_dir, shop, embeddings), dest)
    return f"sqlite:///{dest}"
