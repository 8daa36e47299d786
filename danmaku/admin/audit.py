"""The admin audit: who gave which command, when, and what came of it (memory or JSONL file)."""
from __future__ import annotations

import collections
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited attempt; ``result`` is ok, queued, denied, invalid, failed or unavailable."""

    ts: float
    actor_source: str
    actor_uid: int
    actor_name: str
    command: str
    args: dict
    raw: str
    authorized: bool
    result: str
    detail: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form (one JSONL line)."""
        return asdict(self)


class AuditLog:
    """In-memory audit (bounded); subclasses persist. ``on_record`` hooks let the knowledge store keep it."""

    def __init__(self, keep: int = 1000) -> None:
        self._records: collections.deque[AuditRecord] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self.on_record: list[Callable[[AuditRecord], Any]] = []

    def append(self, record: AuditRecord) -> None:
        """Keep, persist, log and hand on one record."""
        with self._lock:
            self._records.append(record)
        self._persist(record)
        log.info("admin command", extra={"actor": f"{record.actor_source}:{record.actor_uid or record.actor_name}",
                                         "command": record.command, "result": record.result})
        for hook in self.on_record:
            try:
                hook(record)
            except Exception:
                log.exception("audit hook failed")

    def recent(self, n: int = 50) -> list[AuditRecord]:
        """The last ``n`` records, oldest first."""
        with self._lock:
            return list(self._records)[-n:]

    def _persist(self, record: AuditRecord) -> None:
        pass


MemoryAuditLog = AuditLog


class JsonlAuditLog(AuditLog):
    """Audit kept in memory and appended to a JSONL file (one record a line)."""

    def __init__(self, path: str | Path, keep: int = 1000) -> None:
        super().__init__(keep)
        self.path = Path(path)

    def _persist(self, record: AuditRecord) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        except OSError as exc:
            log.error("admin audit not written", extra={"file": str(self.path), "error": str(exc)})
