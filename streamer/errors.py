"""Errors the stream engine raises to its caller."""
from __future__ import annotations


class StartupError(Exception):
    """The stream cannot start as configured; the message names the file, key or URL to fix."""
