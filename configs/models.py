"""The whole configuration: one pydantic model per section, each owned by its package."""
from __future__ import annotations

from pathlib import Path

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from avatars.settings import AvatarSettings
from brain.settings import BrainSettings
from configs.console import ConsoleSettings
from danmaku.settings import ChatSettings
from knowledge.settings import KnowledgeSettings
from lipsync.settings import LipsyncSettings
from scripts_library.settings import ScriptsSettings
from speech.settings import SpeechSettings
from streamer.settings import StreamSettings


class Section(BaseModel):
    """Base for sections defined here: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class LogSettings(Section):
    level: str = "INFO"
    status_interval_s: float = 30.0


class DirectorSettings(Section):
    """How the host turns chat, scripts and idle time into speech."""

    language: Literal["zh", "en"] = Field("zh", description="language of the host's own phrases (thanks, welcomes)")
    welcome_interval_s: float = Field(20.0, ge=0, description="at most one welcome/follow thanks this often")
    deferred_stale_s: float = Field(30.0, gt=0, description="a welcome deferred behind a script is dropped after this")
    name_first_wait_s: float = Field(
        0.6, ge=0, description="an answer opens with its first clause and names the viewer after it; when the "
        "LLM's first words take longer than this, the viewer's name is said alone first, to acknowledge them")


class AppConfig(Section):
    """Root of configs/*.toml."""

    log: LogSettings = LogSettings()
    stream: StreamSettings = StreamSettings()
    avatar: AvatarSettings = AvatarSettings()
    lipsync: LipsyncSettings = LipsyncSettings()
    chat: ChatSettings = ChatSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    brain: BrainSettings = BrainSettings()
    speech: SpeechSettings = SpeechSettings()
    scripts: ScriptsSettings = ScriptsSettings()
    director: DirectorSettings = DirectorSettings()
    console: ConsoleSettings = ConsoleSettings()

    _source_path: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        return self._source_path

    @source_path.setter
    def source_path(self, value: Path) -> None:
        self._source_path = value
