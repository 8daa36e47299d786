"""Flood: 10,000 events through source -> moderation -> triage with bounded memory and queue."""
from __future__ import annotations

import pytest

from benchmarks.chat_flood import run_flood

pytestmark = pytest.mark.timeout(240)


async def test_flood_of_10000_events_stays_bounded() -> None:
    result = await run_flood(10_000, "replay", capacity=100)
    assert result["events"] == 10_000
    assert result["triage_peak"] <= 100 and result["triage"]["size"] <= 100
    assert result["source_dropped_overflow"] == 0  # the consumer kept up: nothing lost before triage
    pipeline = result["pipeline"]
    handled = sum(v for k, v in pipeline.items() if k != "events")
    assert handled == 10_000  # every event has an outcome
    assert pipeline["skipped:contact:solicitation"] > 0 and pipeline["skipped:banned:insult"] > 0
    assert result["triage"]["coalesced"] > 0
    # The Python heap does not grow with the number of events (only bounded per-user state and the queue).
    assert result["rss_growth_mb"] < 200
