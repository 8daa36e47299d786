"""Avatars: the built-in presenter drawn in code (builtin.py), avatar packs on disk (pack.py),
the loader chosen by config (loader.py) and `avatar prepare` (prepare.py). Contract: base.py."""
