"""Structured, quiet-by-default logs: `time level logger message key=value ...`."""
from __future__ import annotations

import logging
import sys

_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """Appends the record's ``extra={...}`` fields as key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if not fields:
            return base
        return base + " " + " ".join(f"{k}={_quote(v)}" for k, v in fields.items())


def _quote(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def setup_logging(verbose: bool = False, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else getattr(logging, level.upper(), logging.INFO))
    for noisy in ("libav", "aiohttp.access", "httpx", "openai", "jieba", "asyncio", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
