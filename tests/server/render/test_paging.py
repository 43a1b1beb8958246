"""``server/render/paging.py``: what fits of a bulk lookup or a row, and how to get the rest — from real API records
(the emulator over loopback HTTP, read by the tools' plain functions): every result within the budget, a row too
large for one item loses its largest fields and names them, the bulk's counts cover every id whatever the page."""

from __future__ import annotations

from server_support import seeded_calls
from voicing_mcp.api.client import VoicingClient
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.render.paging import ITEM_LIMIT, bulk_result, small_row
from voicing_mcp.server.render.results import RESULT_BUDGET, item_cost, result_size
from voicing_mcp.server.tools.bulk_call_details import fetch_bulk


def test_a_row_within_the_item_limit_is_kept_whole() -> None:
    row = {"call_id": "c1", "status": "completed"}
    assert small_row(row) is row


def test_a_row_over_the_item_limit_loses_its_largest_fields_and_names_them() -> None:
    row = {"call_id": "c1", "status": "completed", "notes": "x" * (ITEM_LIMIT * 2), "summary": "y" * 100}
    small = small_row(row)
    assert item_cost(small) <= ITEM_LIMIT
    assert small["omitted_fields"] == ["notes"]
    assert small["call_id"] == "c1" and small["summary"] == "y" * 100


async def test_every_part_of_a_bulk_lookup_fits_and_the_counts_cover_every_id(emu: RunningEmulator) -> None:
    ids = [c["call_id"] for c in seeded_calls(emu, 100)]
    async with VoicingClient(base_url=emu.base_url, api_key=emu.api_key) as client:
        lookup = await fetch_bulk(client, [*ids, "missing-1", ids[0]])
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        result = bulk_result(lookup, ["all"], offset)
        assert result_size(result) <= RESULT_BUDGET
        data = result.structured_content
        assert data is not None
        assert sum(data["by_status"].values()) == 100 and data["requested"] == 102
        seen += [row["call_id"] for row in data["calls"]] + list(data["missing"])
        following = data.get("next")
        offset = following["offset"] if following else None
    assert seen == [*ids, "missing-1"]
