"""``bulk_call_details`` through a real in-process MCP client session, in both protocol modes, against the emulator
served over loopback HTTP."""

from __future__ import annotations

import pytest

from server_support import (
    connect,
    error_text,
    seeded_calls,
    structured,
)
from voicing_mcp.emulator.runner import RunningEmulator


# ----- bulk_call_details --------------------------------------------------------------------
async def test_bulk_keeps_request_order_reports_missing_and_removes_duplicates(emu: RunningEmulator, mode: str) -> None:
    ids = [c["call_id"] for c in seeded_calls(emu, 30)]
    asked = [*ids[:10], "missing-1", ids[3], *ids[10:30], "missing-2", ids[0]]
    async with connect(emu, mode) as client:
        data = structured(await client.call_tool("bulk_call_details", {"call_ids": asked}))
    assert [c["call_id"] for c in data["calls"]] == ids
    assert data["missing"] == ["missing-1", "missing-2"] and data["missing_count"] == 2
    assert (data["requested"], data["unique"], data["duplicates_removed"], data["found"]) == (34, 32, 2, 30)
    assert data["covered"] == 32 and data["truncated"] is False and data["next"] is None
    assert sum(data["by_status"].values()) == 30


async def test_bulk_of_250_ids_reports_progress_per_chunk(emu: RunningEmulator, mode: str) -> None:
    ids = [c["call_id"] for c in seeded_calls(emu, 100)]
    ids += [f"unknown-{i}" for i in range(150)]
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect(emu, mode) as client:
        result = await client.call_tool("bulk_call_details", {"call_ids": ids}, progress_callback=on_progress)
    data = structured(result)
    assert data["found"] == 100 and data["missing_count"] == 150
    assert len(seen) == 3  # one per API request of at most 100 ids
    assert [p[1] for p in seen] == [250, 250, 250]
    assert [p[0] for p in seen] == sorted(p[0] for p in seen) and seen[-1][0] == 250
    assert all(p[2] and "of 250" in p[2] for p in seen)


@pytest.mark.parametrize("count", [0, 10_001])
async def test_bulk_with_no_ids_or_too_many_is_refused_naming_the_field(
    emu: RunningEmulator, mode: str, count: int
) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("bulk_call_details", {"call_ids": [f"id-{i}" for i in range(count)]})
    assert "call_ids" in error_text(result)


async def test_bulk_refuses_an_empty_id_naming_it(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("bulk_call_details", {"call_ids": ["abc", ""]})
    assert "call_ids[1]: must not be empty" in error_text(result)
