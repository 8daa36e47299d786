"""Moderation of chat text (incoming) and of what the host is about to say (outgoing)."""
from danmaku.moderation.moderator import Moderator, Verdict

__all__ = ["Moderator", "Verdict"]
