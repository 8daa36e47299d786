"""The avatar contract: loop frames by index, with a mouth a renderer can drive."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels


@dataclass(frozen=True, slots=True)
class MouthShape:
    """Mouth parameters in 0..1: jaw/lip opening, lip spread, lip rounding."""

    open: float = 0.0
    wide: float = 0.0
    round: float = 0.0

    @property
    def closed(self) -> bool:
        return self.open <= 0.0 and self.wide <= 0.0 and self.round <= 0.0


CLOSED = MouthShape()


@dataclass(slots=True)
class OverlayData:
    """What the backdrop shows, drawn each frame from data (never baked into the loop)."""

    shop_name: str = ""
    product_name: str = ""
    price: str = ""  # already formatted for display, e.g. "¥599"


class Avatar(ABC):
    """A presenter whose idle loop is addressed by loop index (0 .. loop_length-1).

    ``frame`` returns a fresh BGR uint8 array (height, width, 3) that the caller may modify.
    Avatars with ``draws_mouth`` draw the mouth from ``mouth`` themselves (the built-in one);
    the others return the loop frame and leave the mouth to a renderer (warp or Wav2Lip).
    """

    name: str
    fps: int
    width: int
    height: int
    loop_length: int
    draws_mouth: bool = False

    @abstractmethod
    def frame(self, loop_index: int, mouth: MouthShape | None = None) -> np.ndarray: ...

    @abstractmethod
    def face_box(self, loop_index: int) -> Box: ...

    @abstractmethod
    def mouth_box(self, loop_index: int) -> Box: ...

    def draw_overlay(self, frame: np.ndarray, overlay: OverlayData) -> None:
        """Draw shop/product/price text in place; default: nothing."""

    def close(self) -> None:
        """Release decoders and files."""
