"""``list_calls`` through a real in-process MCP client session, in both protocol modes, against the emulator
served over loopback HTTP."""

from __future__ import annotations

import pytest

from server_support import (
    ASSISTANT,
    connect,
    error_text,
    helper,
    structured,
    text_of,
)
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.server.render.shaping import ROW_FIELDS


# ----- list_calls ---------------------------------------------------------------------------
async def test_list_calls_pages_follow_each_other_with_totals(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        first = structured(await client.call_tool("list_calls", {"limit": 5}))
        second = structured(await client.call_tool("list_calls", {"page": first["next_page"], "limit": 5}))
    assert first["page"] == 1 and first["returned"] == 5 and first["next_page"] == 2 and first["has_next"] is True
    assert second["page"] == 2 and second["next_page"] == 3
    assert first["total"] == 300 and first["total_pages"] == 60
    assert not {c["call_id"] for c in first["calls"]} & {c["call_id"] for c in second["calls"]}
    assert first["transcripts_omitted"] is True and all(
        "transcript" not in c or c["transcript"] is None for c in first["calls"]
    )


async def test_list_calls_sends_status_assistant_and_free_form_filters(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool(
            "list_calls",
            {"status": "completed", "assistant_id": ASSISTANT, "filters": {"campaign": "spring", "urgent": True}},
        )
    data = structured(result)
    assert data["calls"] and all(c["status"] == "completed" and c["assistant_id"] == ASSISTANT for c in data["calls"])
    assert data["filters"] == {"status": "completed", "assistant_id": ASSISTANT, "campaign": "spring", "urgent": "true"}
    query = helper(emu, "GET", "/_emulator/requests")["requests"][-1]["query"]
    assert query["campaign"] == "spring" and query["urgent"] == "true" and query["status"] == "completed"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"page": 0}, "page"), ({"max_records": 0}, "max_records")],
)
async def test_list_calls_out_of_range_arguments_are_refused_naming_the_field(
    emu: RunningEmulator, mode: str, arguments: dict[str, int], field: str
) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("list_calls", arguments)
    assert field in error_text(result)


async def test_list_calls_refuses_a_filter_that_shadows_an_argument(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        result = await client.call_tool("list_calls", {"filters": {"limit": 500}})
    assert "filters.limit" in error_text(result)


async def test_list_calls_all_pages_counts_every_call_and_shows_the_rows_that_fit(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        data = structured(await client.call_tool("list_calls", {"all_pages": True}))
    assert data["counted"] == 300 and sum(data["by_status"].values()) == 300 and data["pages_fetched"] == 3
    assert data["max_records_reached"] is False
    assert 0 < data["returned"] < 300 and data["truncated"] is True  # the rest would not fit one result
    assert data["next"] == {"page": 1, "limit": 100, "offset": data["returned"], "all_pages": False}


async def test_list_calls_all_pages_stops_at_max_records_and_says_where_to_go_on(
    emu: RunningEmulator, mode: str
) -> None:
    async with connect(emu, mode) as client:
        data = structured(await client.call_tool("list_calls", {"all_pages": True, "max_records": 30}))
        text = text_of(await client.call_tool("list_calls", {"all_pages": True, "max_records": 30}))
    assert data["returned"] == 30 and data["counted"] == 30 and data["max_records_reached"] is True
    assert data["pages_fetched"] == 1 and data["truncated"] is False
    assert data["next"] == {"page": 1, "limit": 100, "offset": 30, "all_pages": False} and data["next_page"] == 1
    assert "stopped at max_records" in text and "offset=30" in text


async def test_list_calls_rows_are_compact_unless_fields_ask_for_more(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        compact = structured(await client.call_tool("list_calls", {"limit": 5}))
        more = structured(await client.call_tool("list_calls", {"limit": 5, "fields": ["input_variables"]}))
        every = structured(await client.call_tool("list_calls", {"limit": 5, "fields": ["all"]}))
    allowed = set(ROW_FIELDS)
    assert all(set(c) <= allowed and {"call_id", "status", "phone_number"} <= set(c) for c in compact["calls"])
    assert all(set(c) <= allowed | {"input_variables"} and "input_variables" in c for c in more["calls"])
    assert all({"created_at", "telephony_provider", "input_variables"} <= set(c) for c in every["calls"])
    assert every["fields"] == ["all"] and "input_variables" in more["fields"]


async def test_list_calls_offset_continues_inside_a_page(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        whole = structured(await client.call_tool("list_calls", {"limit": 10}))
        rest = structured(await client.call_tool("list_calls", {"limit": 10, "offset": 4}))
    assert [c["call_id"] for c in rest["calls"]] == [c["call_id"] for c in whole["calls"]][4:]
    assert rest["next"] == {"page": 2, "limit": 10, "offset": 0}


async def test_list_calls_offset_past_a_short_last_page_ends_without_a_loop(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        last = structured(await client.call_tool("list_calls", {"page": 3, "limit": 100, "offset": 99}))
        past = structured(await client.call_tool("list_calls", {"page": 4, "limit": 100, "offset": 50}))
    assert last["returned"] == 1 and last["next"] is None  # 300 calls: the page's last call, nothing after it
    assert past["returned"] == 0 and past["next"] is None


async def test_an_api_server_error_keeps_the_status_and_the_api_detail(emu: RunningEmulator, mode: str) -> None:
    helper(
        emu, "POST", "/_emulator/faults", {"fault": "500", "path": "/api/v1/campaigns/get-call-details", "times": 10}
    )
    async with connect(emu, mode) as client:
        result = await client.call_tool("list_calls", {})
    text = error_text(result)
    assert "HTTP 500" in text and "try again later" in text
    served = [r for r in helper(emu, "GET", "/_emulator/requests")["requests"] if r.get("fault") == "500"]
    assert served  # the fault really came from the API over HTTP
