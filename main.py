#!/usr/bin/env python3
"""Command line of the livestream host: `python main.py run`, plus the operators' subcommands."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Each module registers its subcommands with ``register(subparsers)``; modules stay light at import
# (heavy libraries are imported inside the handlers) so `--help` is instant.
COMMAND_MODULES = [
    "host.cli",
    "avatars.cli",
    "lipsync.cli",
    "danmaku.cli",
    "knowledge.cli",
    "brain.cli",
    "speech.cli",
    "scripts_library.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # capability not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from host.logging_setup import setup_logging

    setup_logging(verbose=args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
