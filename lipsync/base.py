"""The renderer contract: speech audio in, avatar frames out for the loop frames that will be on air."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from avatars.base import Avatar


@dataclass(frozen=True, slots=True)
class Timing:
    """A phoneme or word with its start and end in seconds from the start of the audio."""

    start: float
    end: float
    text: str
    kind: str = "phoneme"  # "phoneme" | "word"


@dataclass(slots=True)
class RenderJob:
    """One utterance to render: frame k of the output goes over ``loop_indices[k]``."""

    audio: np.ndarray  # int16 (samples, channels) at ``sample_rate``
    sample_rate: int
    fps: int
    loop_indices: Sequence[int]
    avatar: Avatar
    timings: Sequence[Timing] = field(default_factory=tuple)


class Renderer(ABC):
    """Produces one frame per video frame of the job, in order; runs in a worker thread."""

    name: str = "base"

    @abstractmethod
    def render(self, job: RenderJob) -> Iterator[np.ndarray]: ...

    def clear(self) -> None:
        """Drop any state kept for the current utterance (called on interruption)."""


class IdleRenderer(Renderer):
    """No lip motion: the loop frames themselves (used when no lip-sync renderer is configured)."""

    name = "none"

    def render(self, job: RenderJob) -> Iterator[np.ndarray]:
        for idx in job.loop_indices:
            yield job.avatar.frame(idx)


_REGISTRY: dict[str, type[Renderer]] = {"none": IdleRenderer}


def register(cls: type[Renderer]) -> type[Renderer]:
    _REGISTRY[cls.name] = cls
    return cls


def renderer_names() -> list[str]:
    return sorted(_REGISTRY)


def get_renderer_class(name: str) -> type[Renderer]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown renderer '{name}' (known: {', '.join(renderer_names())})") from None
