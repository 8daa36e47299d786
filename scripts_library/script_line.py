"""What scripts_library hands the director: one line of text, filled at speaking time."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Literal


@dataclass(frozen=True)
class ScriptLine:
    """One segment ready to speak. ``kind``: a product script segment, an idle line, or an LLM-written idle line."""

    text: str
    kind: Literal["script", "idle", "generated"]
    script_id: str | None
    segment_index: int  # 0-based; for idle lines the segment's position in its pool
    segment_count: int
    product_id: str | None
    run_id: int = 0  # which run of the script (a script played again later gets a new run id)
    source: str = ""  # "file:line" of the segment, for logs
    key: Hashable = field(default=None, compare=False)  # identity of the line for "never repeat" rules

    @property
    def is_last(self) -> bool:
        return self.segment_index + 1 >= self.segment_count
