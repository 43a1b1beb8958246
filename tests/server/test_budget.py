"""Every tool result within RESULT_BUDGET at the largest inputs its schema accepts, and the rest reachable by
following what the result says — through real MCP sessions against an emulator holding 10,050 calls.

The largest lookups (10,000 ids, every page of 10,000 calls) run in one protocol mode (each reads 100 API
pages); the follow-the-`next` tests and the single-call ones run in both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent, TextResourceContents

from server_support import ASSISTANT, connect, helper, structured, text_of
from voicing_mcp.config import load_settings
from voicing_mcp.emulator.runner import RunningEmulator
from voicing_mcp.emulator.state import EmulatorConfig
from voicing_mcp.server.app import create_server
from voicing_mcp.server.render.results import RESULT_BUDGET, as_tool_result, result_size

SEEDED = 10_050
LONG_LINE = "a line said on the call, long enough to matter: " + "word " * 60  # ~350 characters
ESCAPE_HEAVY = '"\\' * 1_000  # 2,000 characters that JSON escapes, and escapes again inside the JSON text block


@pytest.fixture(scope="module")
def emu_config() -> EmulatorConfig:
    return EmulatorConfig(seed_calls=SEEDED)


def within_budget(result: CallToolResult) -> CallToolResult:
    assert not result.is_error, text_of(result)
    size = result_size(result)
    assert size <= RESULT_BUDGET, f"{size} characters"
    return result


def all_ids(emu: RunningEmulator) -> list[str]:
    """Every call id the emulator holds, newest first, from its own state."""
    return [c.call_id for c in reversed(emu.state.order)]


def seed(emu: RunningEmulator, record: dict[str, Any]) -> str:
    return str(helper(emu, "POST", "/_emulator/calls", record)["call_id"])


def long_transcript_call(emu: RunningEmulator, lines: int = 500) -> str:
    transcript = [
        {"role": "assistant" if i % 2 else "user", "text": f"{i}: {LONG_LINE}", "t": i * 2.5} for i in range(lines)
    ]
    return seed(emu, {"call_id": "long-talk", "status": "completed", "duration": 1250, "transcript": transcript})


def huge_fields_call(emu: RunningEmulator) -> str:
    """A call whose custom fields are far larger than any result: 40 strings of 4,000+ characters (escape-heavy),
    a list of 5,000 numbers, a deep object, and a transcript line of 4,000 control characters."""
    record: dict[str, Any] = {f"custom_{i:02d}": ESCAPE_HEAVY * 3 for i in range(40)}
    record.update(
        call_id="huge-fields",
        status="completed",
        ended_reason="customer-ended-call",
        metrics=list(range(5_000)),
        tree={"a": [{"b": "\u202e" * 3_000}] * 20},
        input_variables={f"v{i}": "x" * 2_000 for i in range(50)},
        transcript=[{"role": "user", "text": "\x1b" * 4_000}, {"role": "assistant", "text": "short"}],
    )
    return seed(emu, record)


# ----- the measure itself ------------------------------------------------------------------------
def test_the_measure_counts_every_block_and_the_structured_content_as_compact_json() -> None:
    data = {"calls": [{"call_id": 'a"b'}], "note": "Grüß"}
    result = as_tool_result(data, "summary")
    assert [type(b) for b in result.content] == [TextContent, TextContent]
    blocks = [b.text for b in result.content if isinstance(b, TextContent)]
    assert blocks[1] == '{"calls":[{"call_id":"a\\"b"}],"note":"Grüß"}'  # compact: no spaces after separators
    wire = {"content": [{"type": "text", "text": t} for t in blocks], "structuredContent": data}
    assert result_size(result) == len(json.dumps(wire, ensure_ascii=False, separators=(",", ":")))


# ----- the largest inputs --------------------------------------------------------------------------
async def test_bulk_of_10000_ids_fits_and_counts_every_id(emu: RunningEmulator) -> None:
    ids = [*all_ids(emu)[:9_990], *(f"unknown-{i}" for i in range(10))]
    async with connect(emu, "legacy") as client:
        result = within_budget(await client.call_tool("bulk_call_details", {"call_ids": ids}))
    data, text = structured(result), text_of(result)
    assert (data["unique"], data["found"], data["missing_count"]) == (10_000, 9_990, 10)
    assert sum(data["by_status"].values()) == 9_990
    assert data["truncated"] is True and data["next"] == {"offset": data["covered"]} and data["covered"] > 20
    assert f"More: call bulk_call_details again with offset={data['covered']}" in text and "reconcile_calls" in text


async def test_bulk_of_10000_ids_with_every_field_fits(emu: RunningEmulator) -> None:
    ids = all_ids(emu)[:10_000]
    async with connect(emu, "legacy") as client:
        result = within_budget(await client.call_tool("bulk_call_details", {"call_ids": ids, "fields": ["all"]}))
    data = structured(result)
    assert data["found"] == 10_000 and data["calls"] and "input_variables" in data["calls"][0]
    assert "reconcile_calls" in text_of(result)


async def test_every_page_of_10000_calls_fits_and_counts_them_all(emu: RunningEmulator) -> None:
    async with connect(emu, "legacy") as client:
        args = {"all_pages": True, "max_records": 10_000, "fields": ["all"]}
        data = structured(within_budget(await client.call_tool("list_calls", args)))
        default = structured(within_budget(await client.call_tool("list_calls", {"all_pages": True})))
    assert data["counted"] == 10_000 and sum(data["by_status"].values()) == 10_000
    assert data["pages_fetched"] == 100 and data["max_records_reached"] is True and data["total"] == SEEDED
    assert default["counted"] == 1_000 and default["max_records_reached"] is True  # the default bound of the read
    assert data["next"] == {"page": 1, "limit": 100, "offset": data["returned"], "all_pages": False}


async def test_a_page_of_100_calls_with_every_field_fits(emu: RunningEmulator, mode: str) -> None:
    async with connect(emu, mode) as client:
        data = structured(within_budget(await client.call_tool("list_calls", {"limit": 100, "fields": ["all"]})))
    assert 0 < data["returned"] < 100 and data["truncated"] is True
    assert data["next"] == {"page": 1, "limit": 100, "offset": data["returned"]}


async def test_a_500_line_transcript_of_long_lines_fits_and_says_where_it_goes_on(
    emu: RunningEmulator, mode: str
) -> None:
    call_id = long_transcript_call(emu)
    async with connect(emu, mode) as client:
        result = within_budget(await client.call_tool("get_call_details", {"call_id": call_id}))
    data = structured(result)
    shown = len(data["transcript"]["lines"])
    assert 0 < shown < 500 and data["transcript"]["total_lines"] == 500 and data["transcript"]["truncated"]
    assert data["next"] == {"transcript_offset": shown} == {"transcript_offset": data["transcript"]["next_offset"]}
    assert f"transcript_offset={shown}" in text_of(result) and "Transcript: lines 1-" in text_of(result)


async def test_huge_custom_fields_fit_everywhere_and_are_named_when_left_out(emu: RunningEmulator, mode: str) -> None:
    call_id = huge_fields_call(emu)
    async with connect(emu, mode) as client:
        one = within_budget(await client.call_tool("get_call_details", {"call_id": call_id}))
        listed = within_budget(await client.call_tool("list_calls", {"limit": 100, "fields": ["all"]}))
        bulk = within_budget(await client.call_tool("bulk_call_details", {"call_ids": [call_id], "fields": ["all"]}))
        resource = await client.read_resource(f"voicing://calls/{call_id}")
    details = structured(one)
    assert details["omitted_fields"] and "voicing://calls/huge-fields" in text_of(one)
    assert details["status"] == "completed" and details["ended_reason"] == "customer-ended-call"
    content = resource.contents[0]
    assert isinstance(content, TextResourceContents)
    everything = json.loads(content.text)
    assert all(name in everything for name in details["omitted_fields"])  # the resource has what was left out
    row = structured(listed)["calls"][0]
    assert row["call_id"] == call_id and row["omitted_fields"] and structured(listed)["returned"] >= 1
    assert structured(bulk)["calls"][0]["omitted_fields"] == row["omitted_fields"]


async def test_a_chat_reply_of_4000_escaped_characters_fits(emu: RunningEmulator, mode: str) -> None:
    """The emulator echoes the message in its reply: the longest message, all characters JSON escapes."""
    async with connect(emu, mode) as client:
        for message in ("\x1b" * 4_000, ESCAPE_HEAVY * 2):
            result = within_budget(
                await client.call_tool("chat_with_assistant", {"assistant_id": ASSISTANT, "message": message})
            )
            data = structured(result)
            assert data["truncated"] is True and data["reply"]
            assert "cut to" in text_of(result)


async def test_a_dial_with_50_variables_of_2000_characters_fits(emu: RunningEmulator, tmp_path: Path) -> None:
    settings = load_settings(
        base_url=emu.base_url,
        api_key=emu.api_key,
        env="development",
        quiet_hours="off",
        confirmation="token",
        ledger=tmp_path / "ledger.sqlite3",
    )
    variables = {"name": ESCAPE_HEAVY, "plan_type": ESCAPE_HEAVY} | {f"extra_{i:02d}": ESCAPE_HEAVY for i in range(48)}
    args = {"assistant_id": ASSISTANT, "phone_number": "+17018112582", "input_variables": variables}
    async with Client(create_server(settings), mode="legacy") as client:
        asked = structured(within_budget(await client.call_tool("initiate_outbound_call", args)))
        token = asked["confirmation_token"]
        started = within_budget(await client.call_tool("initiate_outbound_call", args | {"confirmation_token": token}))
    assert asked["status"] == "confirmation_required" and structured(started)["status"] == "started"
    assert any("the call sends every value in full" in w for w in asked["warnings"])
    sent = helper(emu, "GET", "/_emulator/requests")["requests"]
    dial = next(r for r in sent if r["path"].endswith("publish-outbound-call"))
    assert dial["json"]["input_variables"] == variables  # only the result was cut, never the request


# ----- the rest is reachable by following `next` ----------------------------------------------------
async def follow(client: Client, tool: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Call ``tool``, then again with each result's ``next`` merged into the arguments, until ``next`` is null."""
    results: list[dict[str, Any]] = []
    while True:
        data = structured(within_budget(await client.call_tool(tool, args)))
        results.append(data)
        if data["next"] is None:
            return results
        args = args | data["next"]
        assert len(results) < 500, "next does not move on"


async def test_following_next_through_a_bulk_lookup_sees_every_id_once_in_order(
    emu: RunningEmulator, mode: str
) -> None:
    known = all_ids(emu)[:280]
    ids = [*known[:100], "nope-1", *known[100:], known[5], "nope-2", known[0]]
    async with connect(emu, mode) as client:
        pages = await follow(client, "bulk_call_details", {"call_ids": ids})
    seen: list[str] = []
    for page in pages:
        found = [c["call_id"] for c in page["calls"]]
        window = list(dict.fromkeys(ids))[page["offset"] : page["offset"] + page["covered"]]
        assert [i for i in window if i in found] == found and [i for i in window if i not in found] == page["missing"]
        seen += window
    assert seen == list(dict.fromkeys(ids)) and len(pages) > 1
    assert sum(len(p["calls"]) for p in pages) == 280
    assert [m for p in pages for m in p["missing"]] == ["nope-1", "nope-2"]


async def test_following_next_through_every_page_sees_every_call_once(emu: RunningEmulator, mode: str) -> None:
    status = "busy"
    expected = [c["call_id"] for c in helper_page_all(emu, status)]
    async with connect(emu, mode) as client:
        pages = await follow(client, "list_calls", {"all_pages": True, "status": status})
    seen = [c["call_id"] for p in pages for c in p["calls"]]
    assert seen == expected and len(set(seen)) == len(seen) and len(pages) > 1
    assert pages[0]["counted"] == len(expected) and pages[0]["by_status"] == {status: len(expected)}


def helper_page_all(emu: RunningEmulator, status: str) -> list[dict[str, Any]]:
    """Every call with ``status``, newest first, straight from the emulator's state (the truth to compare to)."""
    now = emu.state.clock.now()
    return [{"call_id": c.call_id} for c in reversed(emu.state.order) if c.status_at(now) == status]


async def test_following_next_through_a_transcript_reads_every_line_once(emu: RunningEmulator, mode: str) -> None:
    call_id = long_transcript_call(emu, lines=700)  # past one window of 500 lines too
    async with connect(emu, mode) as client:
        parts = await follow(client, "get_call_details", {"call_id": call_id})
    lines = [ln["text"] for p in parts for ln in p["transcript"]["lines"]]
    assert lines == [f"{i}: {LONG_LINE}" for i in range(700)]
    offsets = [p["transcript"]["offset"] for p in parts]
    assert offsets == sorted(set(offsets)) and offsets[0] == 0 and parts[-1]["transcript"]["truncated"] is False
